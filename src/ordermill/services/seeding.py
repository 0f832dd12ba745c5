"""Random, realistic store data for demos, development and benchmarks.

Rows are built as plain tuples and written in bulk: with PostgreSQL's ``COPY``
through the session's own connection (same transaction), elsewhere with one
batched Core insert per table. Ids are reserved up front, so lines can point at
their orders without a ``RETURNING`` round trip; a million orders take well
under a minute on PostgreSQL.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from faker import Faker
from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.orm import Session

from ordermill.domain.orders import OrderStatus, format_order_number
from ordermill.errors import InvalidInput
from ordermill.models import utcnow
from ordermill.services import ledger
from ordermill.services.numbering import allocate_order_numbers
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
# What the storefront says of some goods (the others have no description).
_DESCRIPTIONS = {
    "Sourdough Loaf": "Baked the morning it ships, with a crackling crust.\n"
    "Keeps three days in a paper bag; slice and freeze the rest.",
    "Olive Oil": "Cold-pressed from a single harvest.\nBest within a year of opening.",
    "Coffee Beans": "Whole beans, roasted every week.\n"
    "Grind just before brewing: 15 g for a 250 ml cup.",
    "Honey Jar": "Raw and unfiltered; it crystallises in the cold.\n"
    "Warm the jar in water to make it runny again.",
    "Candle": "Soy wax and a cotton wick, about 40 hours of burning.\n"
    "Trim the wick to 5 mm before each use.",
    "Wool Socks": "Merino wool with a reinforced heel and toe.\nWash cold, dry flat.",
}
_LINE_COUNTS = (1, 1, 2, 2, 3, 4)
_QUANTITIES = (1, 1, 1, 2, 2, 3, 5)
_STOCK_LEVELS = (0, 3, 10, 25, 50, 100, 250, 500)

_CUSTOMER_COLUMNS = ("id", "name", "email", "balance", "created", "updated")
_PRODUCT_COLUMNS = (
    "id", "name", "sku", "price", "stock", "active", "created", "updated", "stock_received",
    "description",
)  # fmt: skip
_ORDER_COLUMNS = (
    "id", "number", "customer_id", "status", "created", "currency",
    "shipping_address", "note", "extra", "total",
)  # fmt: skip
_LINE_COLUMNS = (
    "order_id", "product_id", "product_name", "sku", "unit_price",
    "quantity_ordered", "quantity", "line_total",
)  # fmt: skip

_faker: Faker | None = None


@dataclass(frozen=True, slots=True)
class SeedPlan:
    customers: int
    products: int
    orders: int
    seed: int | None = None
    days: int = 60


def _rng(seed: int | None) -> tuple[random.Random, Faker]:
    # Making a Faker is costly; one instance serves every batch (its seed is global).
    global _faker
    if _faker is None:
        _faker = Faker()
    if seed is not None:
        Faker.seed(seed)
    return random.Random(seed), _faker


def store_is_empty(session: Session) -> bool:
    return session.execute(select(func.count()).select_from(customers)).scalar_one() == 0


_NEEDS = "seeding orders needs at least one customer and one active product"


def check_plan(
    session: Session, *, customers_to_add: int, products_to_add: int, orders: int
) -> None:
    """Refuse, before anything is written, orders that would have no customer or product."""
    if orders <= 0:
        return
    has_customer = customers_to_add > 0 or session.scalar(select(customers.c.id).limit(1))
    has_product = products_to_add > 0 or session.scalar(
        select(products.c.id).where(products.c.active.is_(True)).limit(1)
    )
    if not has_customer:
        raise InvalidInput(f"{_NEEDS}: the store has no customers and --customers is 0")
    if not has_product:
        raise InvalidInput(f"{_NEEDS}: the store has no active products and --products is 0")


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _reserve_ids(session: Session, table: Table, count: int) -> list[int]:
    """``count`` fresh primary keys for ``table``, in increasing order."""
    if _is_postgres(session):
        # Taken from the column's own sequence, so later inserts never collide with them.
        rows = session.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"
            ),
            {"table": table.name, "n": count},
        ).scalars()
        return sorted(int(value) for value in rows)
    # SQLite: the write transaction holds the database lock, so max(id) + 1 is ours.
    start = int(session.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()) + 1
    return list(range(start, start + count))


def _write_rows(
    session: Session, table: Table, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> None:
    """Append ``rows`` (tuples in ``columns`` order) to ``table`` in the session's transaction.

    Columns left out take their defaults, Python-side ones included, as with an ORM insert.
    """
    if _is_postgres(session):
        defaults = _python_defaults(table, columns)
        names = [*columns, *defaults]
        extra = tuple(defaults.values())
        raw = session.connection().connection.driver_connection
        assert raw is not None
        statement = f"COPY {table.name} ({', '.join(names)}) FROM STDIN"
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row + extra if extra else row)
        return
    # Core applies Python-side defaults itself.
    dicts = [dict(zip(columns, row, strict=True)) for row in rows]
    if dicts:
        session.execute(insert(table), dicts)


def _python_defaults(table: Table, columns: Sequence[str]) -> dict[str, Any]:
    """Values for the columns COPY would otherwise leave to the database (as JSON text)."""
    values: dict[str, Any] = {}
    for column in table.columns:
        default = column.default
        if column.name in columns or default is None or column.server_default is not None:
            continue
        if default.is_scalar:
            values[column.name] = default.arg  # type: ignore[attr-defined]
        elif default.is_callable:
            values[column.name] = default.arg(None)  # type: ignore[attr-defined]
        else:
            continue
        if isinstance(values[column.name], dict | list):
            values[column.name] = json.dumps(values[column.name])
    return values


def _insert_customers(session: Session, rows: Sequence[tuple[Any, ...]]) -> None:
    """Write customer rows (``_CUSTOMER_COLUMNS`` order, ids included).

    The one place a customer comes into being while seeding, so everything that must
    accompany a new customer is here: each opening balance opens the customer's ledger.
    """
    _write_rows(session, customers, _CUSTOMER_COLUMNS, rows)
    ledger.opening_entries(session, [(row[0], row[3]) for row in rows], "opening balance")


def add_customers(session: Session, count: int, *, seed: int | None = None) -> int:
    """Insert ``count`` customers with opening balances; returns how many."""
    if count <= 0:
        return 0
    rng, fake = _rng(seed)
    now = utcnow()
    rows = []
    for n in _reserve_ids(session, customers, count):
        first, last = fake.first_name(), fake.last_name()
        rows.append(
            (
                n,
                f"{first} {last}",
                f"{first}.{last}.{n}@example.com".lower().replace(" ", ""),
                rng.randrange(0, 2_000_00, 5) if rng.random() > 0.05 else 0,
                now - timedelta(days=rng.uniform(30, 400)),
                now,
            )
        )
    _insert_customers(session, rows)
    return count


def add_products(session: Session, count: int, *, seed: int | None = None) -> int:
    """Insert ``count`` products with prices and stock; returns how many."""
    if count <= 0:
        return 0
    rng, _fake = _rng(seed)
    now = utcnow()
    rows = []
    for n in _reserve_ids(session, products, count):
        stock = rng.choice(_STOCK_LEVELS)
        adjective, goods = rng.choice(_ADJECTIVES), rng.choice(_GOODS)
        rows.append(
            (
                n,
                f"{adjective} {goods}",
                f"SKU-{n:07d}",
                rng.randrange(1_00, 150_00, 5),
                stock,
                rng.random() > 0.03,
                now - timedelta(days=rng.uniform(30, 400)),
                now,
                stock,  # received: what a new product starts with was put on the shelf
                _DESCRIPTIONS.get(goods),
            )
        )
    _write_rows(session, products, _PRODUCT_COLUMNS, rows)
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
    catalog = [
        tuple(row)
        for row in session.execute(
            select(products.c.id, products.c.name, products.c.sku, products.c.price).where(
                products.c.active.is_(True)
            )
        )
    ]
    if not customer_ids or not catalog:
        raise InvalidInput(_NEEDS)
    now = now or utcnow()
    span = days * 86_400
    uniform = rng.uniform
    created = sorted(now - timedelta(seconds=uniform(0, span)) for _ in range(count))
    # Numbers follow creation time within each year, as live orders' do.
    next_by_year: dict[int, int] = {}
    for year in sorted({moment.year for moment in created}):
        in_year = sum(1 for moment in created if moment.year == year)
        next_by_year[year] = allocate_order_numbers(session, year, in_year)
    # Faker's addresses are slow to make; a pool per batch keeps seeding fast and varied.
    addresses = [fake.address().replace("\n", ", ") for _ in range(min(count, 300))]
    order_ids = _reserve_ids(session, orders, count)

    choice, sample, random_ = rng.choice, rng.sample, rng.random
    k_max = len(catalog)
    pending = OrderStatus.PENDING.value
    no_extra: Any = "{}" if _is_postgres(session) else {}
    line_rows: list[tuple[Any, ...]] = []

    def order_rows() -> Iterator[tuple[Any, ...]]:
        # A generator: on PostgreSQL the rows are made while COPY is already storing them.
        for order_id, moment in zip(order_ids, created, strict=True):
            total = 0
            for product_id, name, sku, price in sample(catalog, min(k_max, choice(_LINE_COUNTS))):
                qty = choice(_QUANTITIES)
                line_total = qty * price
                total += line_total
                line_rows.append((order_id, product_id, name, sku, price, qty, qty, line_total))
            year = moment.year
            sequence = next_by_year[year]
            next_by_year[year] = sequence + 1
            yield (
                order_id,
                format_order_number(year, sequence),
                choice(customer_ids),
                pending,
                moment,
                currency,
                choice(addresses) if random_() > 0.2 else None,
                None,
                no_extra,
                total,
            )

    _write_rows(session, orders, _ORDER_COLUMNS, order_rows())
    _write_rows(session, order_lines, _LINE_COLUMNS, line_rows)
    return count


def batches(total: int, size: int) -> Iterator[int]:
    """Split ``total`` into batch sizes of at most ``size``."""
    while total > 0:
        step = min(size, total)
        yield step
        total -= step
