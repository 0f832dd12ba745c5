"""What an order asks for, checked against the catalog before it is placed: the items
merged per product and bounded, and the products and customer as placing reads them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ordermill.errors import Code, Conflict, InvalidInput, NotFound, customer_not_found
from ordermill.services.tables import customers, products

MAX_LINES = 500
MAX_QUANTITY = 1_000_000


@dataclass(frozen=True, slots=True)
class ItemRequest:
    product_id: int
    quantity: int


def merge_items(items: Iterable[ItemRequest]) -> dict[int, int]:
    """Sum the quantities asked for each product, validating them."""
    merged: dict[int, int] = {}
    for item in items:
        if item.quantity <= 0:
            raise InvalidInput("quantity must be at least 1", field="quantity")
        merged[item.product_id] = merged.get(item.product_id, 0) + item.quantity
        if merged[item.product_id] > MAX_QUANTITY:
            raise InvalidInput(f"quantity may not exceed {MAX_QUANTITY}", field="quantity")
    if not merged:
        raise InvalidInput("an order needs at least one item", field="items")
    if len(merged) > MAX_LINES:
        raise InvalidInput(f"an order may have at most {MAX_LINES} lines", field="items")
    return merged


_READ_CATALOG = (  # built once: building it per order cost more than running it
    select(
        customers.c.id.label("customer_id"),
        customers.c.balance,
        products.c.id,
        products.c.name,
        products.c.sku,
        products.c.price,
        products.c.stock,
        products.c.low_stock_threshold,
        products.c.active,
    )
    .select_from(
        customers.outerjoin(products, products.c.id.in_(bindparam("product_ids", expanding=True)))
    )
    .where(customers.c.id == bindparam("customer_id"))
)


def read_catalog(session: Session, customer_id: int, product_ids: Sequence[int]) -> dict[int, Any]:
    """The products' snapshot (name, SKU, price, stock, low-stock threshold, whether
    sold) by id with the customer's balance, checking that the customer exists, in one
    round trip."""
    rows = session.execute(
        _READ_CATALOG, {"customer_id": customer_id, "product_ids": list(product_ids)}
    ).all()
    if not rows:
        raise customer_not_found(customer_id)
    return {row.id: row for row in rows if row.id is not None}


def check_catalog(wanted: Mapping[int, int], catalog: Mapping[int, Any]) -> None:
    """Refuse products that don't exist (404) or are no longer sold (409)."""
    missing = sorted(pid for pid in wanted if pid not in catalog)
    if missing:
        raise NotFound(
            f"Product(s) {', '.join(map(str, missing))} do not exist.",
            code=Code.PRODUCT_NOT_FOUND,
            product_ids=missing,
        )
    inactive = sorted(pid for pid in wanted if not catalog[pid].active)
    if inactive:
        raise Conflict(
            f"Product(s) no longer sold: {', '.join(map(str, inactive))}",
            code=Code.PRODUCT_INACTIVE,
            product_ids=inactive,
        )
