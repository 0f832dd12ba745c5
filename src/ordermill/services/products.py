"""Products: the store's shelves, their prices, stock and descriptions."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BigInteger, cast, exists, or_, select, update
from sqlalchemy.orm import Session

from ordermill.errors import Code, Conflict, InvalidInput, product_not_found
from ordermill.models import Product, utcnow
from ordermill.services import audit, outbox
from ordermill.services.audit import SYSTEM, Actor
from ordermill.services.pagination import Page, page_by_id
from ordermill.services.tables import flush_unique, products

MAX_DESCRIPTION_LENGTH = 5_000


def clean_description(text: str | None) -> str | None:
    """A description as stored: line breaks as ``\\n``, no blank edges; empty is none."""
    if text is None:
        return None
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(text) > MAX_DESCRIPTION_LENGTH:
        raise InvalidInput(
            f"description is longer than {MAX_DESCRIPTION_LENGTH} characters", field="description"
        )
    return text or None


def create_product(
    session: Session,
    *,
    name: str,
    sku: str,
    price: int,
    stock: int = 0,
    active: bool = True,
    low_stock_threshold: int | None = None,
    description: str | None = None,
    actor: Actor = SYSTEM,
) -> Product:
    """Add a product to the catalog (``low_stock_threshold`` None: the store's default;
    ``description`` plain text for customers, at most ``MAX_DESCRIPTION_LENGTH``)."""
    sku = sku.strip()
    description = clean_description(description)
    taken = f"A product with SKU {sku} already exists."
    if session.scalar(select(exists().where(Product.sku == sku))):
        raise Conflict(taken, code=Code.SKU_TAKEN)
    product = Product(
        name=name.strip(),
        sku=sku,
        price=price,
        stock=stock,
        stock_received=stock,
        active=active,
        low_stock_threshold=low_stock_threshold,
        description=description,
    )
    session.add(product)
    flush_unique(session, Code.SKU_TAKEN, taken)
    audit.record(
        session, actor, "product.created", "product", product.id, {"sku": sku, "stock": stock}
    )
    return product


def get_product(session: Session, product_id: int, *, for_update: bool = False) -> Product:
    stmt = select(Product).where(Product.id == product_id)
    if for_update:
        stmt = stmt.with_for_update()
    product = session.scalar(stmt)
    if product is None:
        raise product_not_found(product_id)
    return product


def get_product_on_sale(session: Session, product_id: int) -> Product:
    """A product customers may see and buy: an archived one is as unknown as a missing one."""
    product = session.scalar(select(Product).where(Product.id == product_id, Product.active))
    if product is None:
        raise product_not_found(product_id)
    return product


def list_products(
    session: Session,
    *,
    limit: int,
    cursor: str | None = None,
    active: bool | None = None,
    sku: str | None = None,
    search: str | None = None,
) -> Page[Product]:
    """Products by id; ``search`` finds a piece of the name or SKU, in any case.

    The storefront's catalogue is ``active=True``: the products on sale.
    """
    stmt = select(Product)
    if active is not None:
        stmt = stmt.where(Product.active == active)
    if sku is not None:
        stmt = stmt.where(Product.sku == sku.strip())
    if search is not None and search.strip():
        term = search.strip()
        stmt = stmt.where(
            or_(
                Product.name.icontains(term, autoescape=True),
                Product.sku.icontains(term, autoescape=True),
            )
        )
    page: Page[Product] = page_by_id(session, stmt, Product, limit, cursor)
    return page


@dataclass(frozen=True, slots=True)
class ProductChanges:
    name: str | None = None
    sku: str | None = None
    price: int | None = None
    stock: int | None = None
    active: bool | None = None
    low_stock_threshold: int | None = None
    default_threshold: bool = False  # back to the store's default threshold
    description: str | None = None
    clear_description: bool = False  # no description any more (``description`` is ignored)


def update_product(
    session: Session, product: Product, changes: ProductChanges, *, actor: Actor = SYSTEM
) -> Product:
    """Change a product; orders keep the name, SKU and price they were placed with.

    An empty ``description`` clears it, as ``clear_description`` does.
    """
    description = None if changes.clear_description else clean_description(changes.description)
    if changes.sku is not None and changes.sku.strip() != product.sku:
        sku = changes.sku.strip()
        if session.scalar(select(exists().where(Product.sku == sku, Product.id != product.id))):
            raise Conflict(f"A product with SKU {sku} already exists.", code=Code.SKU_TAKEN)
        product.sku = sku
    if changes.name is not None:
        product.name = changes.name.strip()
    if changes.price is not None:
        product.price = changes.price
    if changes.low_stock_threshold is not None or changes.default_threshold:
        product.low_stock_threshold = changes.low_stock_threshold
    if changes.clear_description or changes.description is not None:
        product.description = description
    if changes.stock is not None and changes.stock != product.stock:
        # Staff setting the stock received (or wrote off) the difference.
        product.stock_received += changes.stock - product.stock
        outbox.record(
            session,
            outbox.low_stock(
                {product.id: product.stock},
                {product.id: changes.stock},
                {product.id: product.low_stock_threshold},
                outbox.store_low_stock_default(),
            ),
            utcnow(),
        )
        product.stock = changes.stock
    if changes.active is not None:
        product.active = changes.active
    flush_unique(session, Code.SKU_TAKEN, f"A product with SKU {product.sku} already exists.")
    fields = {k: v for k, v in _changed_fields(changes).items() if v is not None}
    audit.record(session, actor, "product.updated", "product", product.id, fields)
    return product


MAX_STOCK = 2_000_000_000
MAX_REASON_LENGTH = 500


def adjust_stock(
    session: Session, product_id: int, delta: int, reason: str, *, actor: Actor = SYSTEM
) -> Product:
    """Add ``delta`` units to the stock (negative to take them away: a write-off), with
    the reason recorded in the audit log; the stock never goes below zero.

    One conditional ``UPDATE``, so two adjustments at once both count and neither
    can take the stock below zero (409 ``stock_below_zero``).
    """
    reason = reason.strip()
    if not reason:
        raise InvalidInput("a stock adjustment needs a reason", field="reason")
    if len(reason) > MAX_REASON_LENGTH:
        raise InvalidInput(f"reason is longer than {MAX_REASON_LENGTH} characters", field="reason")
    if delta == 0 or abs(delta) > MAX_STOCK:
        raise InvalidInput(
            f"delta must be a whole number from -{MAX_STOCK} to {MAX_STOCK}, not 0", field="delta"
        )
    after = cast(products.c.stock, BigInteger) + delta  # no integer overflow on the way
    row = session.execute(
        update(products)
        .where(products.c.id == product_id, after >= 0, after <= MAX_STOCK)
        .values(
            stock=products.c.stock + delta,
            stock_received=products.c.stock_received + delta,
            updated=utcnow(),
        )
        .returning(products.c.stock, products.c.low_stock_threshold)
    ).one_or_none()
    if row is None:
        current = get_product(session, product_id).stock  # 404 for an unknown product
        if current + delta < 0:
            raise Conflict(
                f"Product {product_id} has {current} in stock: taking away {-delta} "
                "would leave less than nothing.",
                code=Code.STOCK_BELOW_ZERO,
                stock=current,
            )
        raise InvalidInput(
            f"Product {product_id} can't hold more than {MAX_STOCK} units.", field="delta"
        )
    outbox.record(
        session,
        outbox.low_stock(
            {product_id: row.stock - delta},
            {product_id: row.stock},
            {product_id: row.low_stock_threshold},
            outbox.store_low_stock_default(),
        ),
        utcnow(),
    )
    audit.record(
        session,
        actor,
        "product.stock_adjusted",
        "product",
        product_id,
        {"delta": delta, "stock": row.stock, "reason": reason},
    )
    # The update went round the session: read the product afresh.
    product = session.scalar(
        select(Product).where(Product.id == product_id).execution_options(populate_existing=True)
    )
    assert product is not None
    return product


def delete_product(session: Session, product_id: int, *, actor: Actor = SYSTEM) -> None:
    """Remove a product from the catalog. Orders keep their lines' snapshot."""
    product = get_product(session, product_id, for_update=True)
    sku = product.sku
    session.delete(product)
    session.flush()
    audit.record(session, actor, "product.deleted", "product", product_id, {"sku": sku})


def _changed_fields(changes: ProductChanges) -> dict[str, object]:
    fields = {name: getattr(changes, name) for name in ProductChanges.__slots__}
    if fields.pop("default_threshold"):
        fields["low_stock_threshold"] = "default"
    if fields.pop("clear_description"):
        fields["description"] = ""
    return fields
