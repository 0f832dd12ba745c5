"""Customers and products: the store's people and shelves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, cast, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ordermill import token_cache
from ordermill.domain.phones import normalize_phone
from ordermill.errors import (
    Code,
    Conflict,
    InvalidInput,
    customer_not_found,
    product_not_found,
)
from ordermill.models import Customer, LedgerEntry, Order, Product, User, utcnow
from ordermill.services import audit, ledger, outbox
from ordermill.services.audit import SYSTEM, Actor
from ordermill.services.ledger import EntryKind
from ordermill.services.pagination import Page, decode_id_cursor, encode_cursor
from ordermill.services.search import contains, search_text
from ordermill.services.tables import products


def _page_by_id(session: Session, stmt: Any, model: Any, limit: int, cursor: str | None) -> Any:
    if cursor is not None:
        stmt = stmt.where(model.id > decode_id_cursor(cursor))
    rows = list(session.scalars(stmt.order_by(model.id).limit(limit + 1)))
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return Page(rows[:limit], next_cursor)


def _flush_unique(session: Session, code: Code, message: str) -> None:
    """Flush, turning a unique-constraint race into the same 409 the pre-check gives."""
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(message, code=code) from None


# ---------------------------------------------------------------- customers


def normalize_email(email: str) -> str:
    return email.strip().lower()


def create_customer(
    session: Session,
    *,
    name: str,
    email: str,
    phone: str | None = None,
    balance: int = 0,
    actor: Actor = SYSTEM,
) -> Customer:
    """Register a customer (an opening balance is for seeding; the API adjusts it later).

    ``phone`` is optional, for text messages; it is stored in E.164 (``+15550102030``).
    """
    email = normalize_email(email)
    phone = normalize_phone(phone) if phone is not None else None
    taken = f"A customer with email {email} already exists."
    if session.scalar(select(exists().where(Customer.email == email))):
        raise Conflict(taken, code=Code.EMAIL_TAKEN)
    customer = Customer(name=name.strip(), email=email, phone=phone, balance=balance)
    session.add(customer)
    _flush_unique(session, Code.EMAIL_TAKEN, taken)
    ledger.opening_entries(session, [(customer.id, balance)], "opening balance")
    audit.record(session, actor, "customer.created", "customer", customer.id, {"email": email})
    return customer


def get_customer(session: Session, customer_id: int, *, for_update: bool = False) -> Customer:
    stmt = select(Customer).where(Customer.id == customer_id)
    if for_update:
        stmt = stmt.with_for_update()
    customer = session.scalar(stmt)
    if customer is None:
        raise customer_not_found(customer_id)
    return customer


def list_customers(
    session: Session,
    *,
    limit: int,
    cursor: str | None = None,
    email: str | None = None,
    search: str | None = None,
) -> Page[Customer]:
    """Customers by id; ``email`` is one address, ``search`` a part of a name or an
    email in any case (``services.search``)."""
    stmt = select(Customer)
    if email is not None:
        stmt = stmt.where(Customer.email == normalize_email(email))
    text = search_text(search)
    if text is not None:
        stmt = stmt.where(contains([Customer.name, Customer.email], text))
    page: Page[Customer] = _page_by_id(session, stmt, Customer, limit, cursor)
    return page


@dataclass(frozen=True, slots=True)
class CustomerChanges:
    name: str | None = None
    email: str | None = None
    phone: str | None = None  # a new number
    clear_phone: bool = False  # forget the number (``phone`` is then ignored)


def update_customer(
    session: Session, customer: Customer, changes: CustomerChanges, *, actor: Actor = SYSTEM
) -> Customer:
    """Change a customer's name, email or phone."""
    phone: str | None = None
    if changes.phone is not None and not changes.clear_phone:
        phone = normalize_phone(changes.phone)
    if changes.name is not None:
        customer.name = changes.name.strip()
    if changes.email is not None and normalize_email(changes.email) != customer.email:
        email = normalize_email(changes.email)
        taken = f"The email {email} is already in use."
        clash = select(exists().where(Customer.email == email, Customer.id != customer.id))
        login_clash = select(
            exists().where(
                User.email == email,
                or_(User.customer_id.is_(None), User.customer_id != customer.id),
            )
        )
        if session.scalar(clash) or session.scalar(login_clash):
            raise Conflict(taken, code=Code.EMAIL_TAKEN)
        customer.email = email
        # A customer's login is their email: it moves with the profile.
        session.execute(update(User).where(User.customer_id == customer.id).values(email=email))
        token_cache.changed(session, token_cache.customer_key(customer.id))
    if changes.clear_phone or phone is not None:
        customer.phone = phone
    _flush_unique(session, Code.EMAIL_TAKEN, f"The email {customer.email} is already in use.")
    fields: dict[str, str | None] = {
        k: v for k, v in (("name", changes.name), ("email", changes.email)) if v is not None
    }
    if changes.clear_phone or phone is not None:
        fields["phone"] = phone
    audit.record(session, actor, "customer.updated", "customer", customer.id, fields)
    return customer


def delete_customer(session: Session, customer_id: int, *, actor: Actor = SYSTEM) -> None:
    """Delete a customer who never ordered; one with orders is kept (409)."""
    customer = get_customer(session, customer_id, for_update=True)
    order_count = session.scalar(
        select(func.count()).select_from(Order).where(Order.customer_id == customer_id)
    )
    if order_count:
        raise Conflict(
            f"Customer {customer_id} has {order_count} order(s) and can't be deleted.",
            code=Code.CUSTOMER_HAS_ORDERS,
            orders=order_count,
        )
    if session.scalar(select(exists().where(LedgerEntry.customer_id == customer_id))):
        raise Conflict(
            f"Customer {customer_id} has balance history in the ledger and can't be deleted.",
            code=Code.CUSTOMER_HAS_LEDGER,
        )
    session.delete(customer)
    token_cache.changed(session, token_cache.customer_key(customer_id))  # its login goes too
    try:
        session.flush()
    except IntegrityError:  # an order arrived between the count and the delete
        raise Conflict(
            f"Customer {customer_id} has orders and can't be deleted.",
            code=Code.CUSTOMER_HAS_ORDERS,
        ) from None
    audit.record(session, actor, "customer.deleted", "customer", customer_id)


def adjust_balance(
    session: Session, customer_id: int, amount: int, *, reason: str, actor: Actor = SYSTEM
) -> int:
    """Add ``amount`` (negative to take away) to a balance, as a ledger adjustment with
    its reason; returns the new balance."""
    balance = ledger.post(
        session, customer_id, EntryKind.ADJUSTMENT, amount, actor=actor, reason=reason
    )
    assert balance is not None
    audit.record(
        session,
        actor,
        "balance.adjusted",
        "customer",
        customer_id,
        {"amount": amount, "balance": balance, "reason": reason},
    )
    return balance


# ---------------------------------------------------------------- products


def create_product(
    session: Session,
    *,
    name: str,
    sku: str,
    price: int,
    stock: int = 0,
    active: bool = True,
    low_stock_threshold: int | None = None,
    actor: Actor = SYSTEM,
) -> Product:
    """Add a product to the catalog (``low_stock_threshold`` None: the store's default)."""
    sku = sku.strip()
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
    )
    session.add(product)
    _flush_unique(session, Code.SKU_TAKEN, taken)
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


def list_products(
    session: Session,
    *,
    limit: int,
    cursor: str | None = None,
    active: bool | None = None,
    sku: str | None = None,
    search: str | None = None,
) -> Page[Product]:
    """Products by id; ``search`` finds a piece of the name or SKU, in any case."""
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
    page: Page[Product] = _page_by_id(session, stmt, Product, limit, cursor)
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


def update_product(
    session: Session, product: Product, changes: ProductChanges, *, actor: Actor = SYSTEM
) -> Product:
    """Change a product; orders keep the name, SKU and price they were placed with."""
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
    _flush_unique(session, Code.SKU_TAKEN, f"A product with SKU {product.sku} already exists.")
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
    return fields
