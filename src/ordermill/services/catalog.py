"""Customers: the store's people. Products have their own module, ``services.products``.

The product functions are still importable from here (``catalog.get_product``), as
the API, the pages and the tests have always called them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ordermill import token_cache
from ordermill.domain.phones import normalize_phone
from ordermill.errors import Code, Conflict, customer_not_found
from ordermill.models import Customer, LedgerEntry, Order, User
from ordermill.services import audit, ledger
from ordermill.services.audit import SYSTEM, Actor
from ordermill.services.ledger import EntryKind
from ordermill.services.pagination import Page, page_by_id
from ordermill.services.products import MAX_DESCRIPTION_LENGTH as MAX_DESCRIPTION_LENGTH
from ordermill.services.products import MAX_REASON_LENGTH as MAX_REASON_LENGTH
from ordermill.services.products import MAX_STOCK as MAX_STOCK
from ordermill.services.products import ProductChanges as ProductChanges
from ordermill.services.products import adjust_stock as adjust_stock
from ordermill.services.products import create_product as create_product
from ordermill.services.products import delete_product as delete_product
from ordermill.services.products import get_product as get_product
from ordermill.services.products import get_product_on_sale as get_product_on_sale
from ordermill.services.products import list_products as list_products
from ordermill.services.products import update_product as update_product
from ordermill.services.search import contains, search_text
from ordermill.services.tables import flush_unique

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
    flush_unique(session, Code.EMAIL_TAKEN, taken)
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
    page: Page[Customer] = page_by_id(session, stmt, Customer, limit, cursor)
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
    flush_unique(session, Code.EMAIL_TAKEN, f"The email {customer.email} is already in use.")
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
