"""Random, realistic store data for demos, development and benchmarks.

Rows go in with batched Core inserts (one statement per batch), so 100,000
orders take seconds, not minutes.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from faker import Faker
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from ordermill.domain.orders import OrderStatus, format_order_number
from ordermill.models import utcnow
from ordermill.services.orders import allocate_order_numbers
from ordermill.services.tables import customers, order_lines, orders, products

_ADJECTIVES = (
    "Classic", "Organic", "Handmade", "Rustic", "Smoked", "Spiced", "Wild", "Golden",
    "Vintage", "Artisan", "Small-batch", "Heritage", "Zesty", "Velvet", "Honeyed",
)  # fmt: skip
_GOODS = (
    "Sourdough Loaf", "Olive Oil", "Coffee Beans", "Honey Jar", "Tea Blend", "Chocolate Bar",
    "Hot Sauce", "Granola", "Candle", "Soap Bar", "Notebook", "Ceramic Mug", "Tote Bag",
    "Jam", "Pasta", "Wool Socks", "Hand Cream", "Sea Salt", "Maple Syrup", "Spice Rub",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SeedPlan:
    customers: int
    products: int
    orders: int
    seed: int | None = None
    days: int = 60


def _rng(seed: int | None) -> tuple[random.Random, Faker]:
    fake = Faker()
    if seed is not None:
        Faker.seed(seed)
    return random.Random(seed), fake


def store_is_empty(session: Session) -> bool:
    return session.execute(select(func.count()).select_from(customers)).scalar_one() == 0


def _next_id(session: Session, column: Any) -> int:
    return int(session.execute(select(func.coalesce(func.max(column), 0))).scalar_one()) + 1


def add_customers(session: Session, count: int, *, seed: int | None = None) -> int:
    """Insert ``count`` customers with opening balances; returns how many."""
    rng, fake = _rng(seed)
    start = _next_id(session, customers.c.id)
    now = utcnow()
    rows = []
    for n in range(start, start + count):
        first, last = fake.first_name(), fake.last_name()
        rows.append(
            {
                "name": f"{first} {last}",
                "email": f"{first}.{last}.{n}@example.com".lower().replace(" ", ""),
                "balance": rng.randrange(0, 2_000_00, 5) if rng.random() > 0.05 else 0,
                "created": now - timedelta(days=rng.uniform(30, 400)),
                "updated": now,
            }
        )
    if rows:
        session.execute(insert(customers), rows)
    return count


def add_products(session: Session, count: int, *, seed: int | None = None) -> int:
    """Insert ``count`` products with prices and stock; returns how many."""
    rng, _fake = _rng(seed)
    start = _next_id(session, products.c.id)
    now = utcnow()
    rows = [
        {
            "name": f"{rng.choice(_ADJECTIVES)} {rng.choice(_GOODS)}",
            "sku": f"SKU-{n:07d}",
            "price": rng.randrange(1_00, 150_00, 5),
            "stock": rng.choice((0, 3, 10, 25, 50, 100, 250, 500)),
            "active": rng.random() > 0.03,
            "created": now - timedelta(days=rng.uniform(30, 400)),
            "updated": now,
        }
        for n in range(start, start + count)
    ]
    if rows:
        session.execute(insert(products), rows)
    return count


def add_orders(
    session: Session,
    count: int,
    *,
    currency: str,
    seed: int | None = None,
    days: int = 60,
    now: datetime | None = None,
) -> int:
    """Insert ``count`` pending orders (1 to 4 lines each) spread over the last ``days``."""
    if count <= 0:
        return 0
    rng, fake = _rng(seed)
    customer_ids = list(session.execute(select(customers.c.id)).scalars())
    catalog = list(
        session.execute(
            select(products.c.id, products.c.name, products.c.sku, products.c.price).where(
                products.c.active.is_(True)
            )
        )
    )
    if not customer_ids or not catalog:
        raise ValueError("seeding orders needs at least one customer and one active product")
    now = now or utcnow()
    created = sorted(now - timedelta(seconds=rng.uniform(0, days * 86_400)) for _ in range(count))
    # Numbers follow creation time within each year, as live orders' do.
    first_by_year: dict[int, int] = {}
    for year in sorted({moment.year for moment in created}):
        in_year = sum(1 for moment in created if moment.year == year)
        first_by_year[year] = allocate_order_numbers(session, year, in_year)
    # Faker's addresses are slow to make; a pool per batch keeps seeding fast and varied.
    addresses = [fake.address().replace("\n", ", ") for _ in range(min(count, 300))]
    order_rows = []
    line_sets = []
    for moment in created:
        picks = rng.sample(catalog, k=min(len(catalog), rng.choice((1, 1, 2, 2, 3, 4))))
        lines = [
            {
                "product_id": p.id,
                "product_name": p.name,
                "sku": p.sku,
                "unit_price": p.price,
                "quantity_ordered": (qty := rng.choice((1, 1, 1, 2, 2, 3, 5))),
                "quantity": qty,
                "line_total": qty * p.price,
            }
            for p in picks
        ]
        sequence = first_by_year[moment.year]
        first_by_year[moment.year] += 1
        order_rows.append(
            {
                "number": format_order_number(moment.year, sequence),
                "customer_id": rng.choice(customer_ids),
                "status": OrderStatus.PENDING.value,
                "created": moment,
                "currency": currency,
                "shipping_address": rng.choice(addresses) if rng.random() > 0.2 else None,
                "note": None,
                "extra": {},
                "total": sum(line["line_total"] for line in lines),
            }
        )
        line_sets.append(lines)
    order_ids = session.execute(
        insert(orders).returning(orders.c.id, sort_by_parameter_order=True), order_rows
    ).scalars()
    all_lines = []
    for order_id, lines in zip(order_ids, line_sets, strict=True):
        for line in lines:
            line["order_id"] = order_id
            all_lines.append(line)
    session.execute(insert(order_lines), all_lines)
    return count


def batches(total: int, size: int) -> Iterator[int]:
    """Split ``total`` into batch sizes of at most ``size``."""
    while total > 0:
        step = min(size, total)
        yield step
        total -= step
