"""ORM tables. Money columns hold integer minor units; timestamps are UTC."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use UTC-aware ones")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


# ``Index.info`` key: the one database an index is built on (with ``ddl_if``).
ONLY_ON = "only_on"


def built_on(dialect: str) -> Callable[..., bool]:
    """An Alembic ``include_object`` that leaves out the indexes meant for another database."""

    def include(obj: Any, _name: Any, type_: str, _reflected: bool, _compare_to: Any) -> bool:
        only = obj.info.get(ONLY_ON) if type_ == "index" else None
        return only is None or only == dialect

    return include


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (
        # The back office's search: a part of a name or an email, in any case
        # (``ILIKE '%…%'``), served by trigrams on PostgreSQL. SQLite reads the table.
        Index(
            "ix_customers_search",
            "name",
            "email",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops", "email": "gin_trgm_ops"},
            info={ONLY_ON: "postgresql"},
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    # E.164 (+ and up to 15 digits), for text messages; optional.
    phone: Mapped[str | None] = mapped_column(String(16))
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("price >= 0", name="price_not_negative"),
        CheckConstraint("stock >= 0", name="stock_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    price: Mapped[int] = mapped_column(BigInteger)
    stock: Mapped[int] = mapped_column(Integer, default=0)
    # Every unit ever put on the shelf (created, restocked by staff): `ordermill stock
    # check` reconciles it with the stock and what live orders hold.
    stock_received: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Staff hear of the product when its stock falls to this or below (none: the
    # store's ORDERMILL_LOW_STOCK_DEFAULT).
    low_stock_threshold: Mapped[int | None] = mapped_column(Integer)
    # Plain text for the storefront's product page (line breaks kept); none: no description.
    description: Mapped[str | None] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Cart(Base):
    __tablename__ = "carts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), unique=True
    )
    extra: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    updated: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    items: Mapped[list[CartItem]] = relationship(
        back_populates="cart", lazy="raise", order_by="CartItem.id", cascade="all, delete-orphan"
    )


class CartItem(Base):
    __tablename__ = "cart_items"
    __table_args__ = (
        UniqueConstraint("cart_id", "product_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cart_id: Mapped[int] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    quantity: Mapped[int] = mapped_column(Integer)
    extra: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    added: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    cart: Mapped[Cart] = relationship(back_populates="items", lazy="raise")


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("total >= 0", name="total_not_negative"),
        Index("ix_orders_created_id", "created", "id"),
        Index("ix_orders_customer_created", "customer_id", "created", "id"),
        Index("ix_orders_status_created", "status", "created", "id"),
        # The back office's order table sorted by total (keyset pages, high or low).
        Index("ix_orders_total_id", "total", "id"),
        Index("ix_orders_status_total", "status", "total", "id"),
        # The dashboard's sales: processed orders by the moment they were processed, with
        # every column its sums read, so a period is one range of this index alone.
        Index(
            "ix_orders_sales",
            "processed",
            "status",
            "currency",
            "total",
            "refunded",
            postgresql_where=text("processed IS NOT NULL"),
            sqlite_where=text("processed IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    strategy: Mapped[str | None] = mapped_column(String(10))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed: Mapped[datetime | None] = mapped_column(UTCDateTime)
    currency: Mapped[str] = mapped_column(String(3))
    shipping_address: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    payment_flow: Mapped[str | None] = mapped_column(String(10))  # set when processed
    paid: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    refunded: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    fulfilled: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled: Mapped[datetime | None] = mapped_column(UTCDateTime)
    carrier: Mapped[str | None] = mapped_column(String(100))
    tracking_number: Mapped[str | None] = mapped_column(String(100))
    cancel_reason: Mapped[str | None] = mapped_column(Text)

    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", lazy="raise", order_by="OrderLine.id", cascade="all, delete-orphan"
    )


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint("quantity_ordered > 0", name="quantity_ordered_positive"),
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
        CheckConstraint("unit_price >= 0", name="unit_price_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    # The product may leave the catalog; the snapshot below keeps the line readable.
    product_id: Mapped[int | None] = mapped_column(
        ForeignKey("products.id", ondelete="SET NULL"), index=True
    )
    product_name: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str] = mapped_column(String(64))
    unit_price: Mapped[int] = mapped_column(BigInteger)
    quantity_ordered: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(Integer)
    line_total: Mapped[int] = mapped_column(BigInteger)
    quantity_returned: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    quantity_restocked: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSONType)  # from the cart item

    order: Mapped[Order] = relationship(back_populates="lines", lazy="raise")


class Payment(Base):
    """Money received for an order. A reference is recorded once per order."""

    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("order_id", "reference"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("credited >= 0 AND credited <= amount", name="credited_in_range"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Indexed by the unique (order_id, reference) constraint.
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    amount: Mapped[int] = mapped_column(BigInteger)
    credited: Mapped[int] = mapped_column(BigInteger, default=0)  # overpayment, to the balance
    method: Mapped[str] = mapped_column(String(40))
    reference: Mapped[str | None] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(320))


class LedgerEntry(Base):
    """One change to a customer's balance. Entries are never changed or deleted
    (the database refuses it); the balance is always the sum of its entries."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("kind IN ('charge', 'refund', 'credit', 'adjustment')", name="kind_known"),
        Index("ix_ledger_entries_customer", "customer_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="RESTRICT"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(20))
    amount: Mapped[int] = mapped_column(BigInteger)  # signed: a charge is negative
    balance_after: Mapped[int] = mapped_column(BigInteger)
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("orders.id", ondelete="RESTRICT"), index=True
    )
    reason: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(320))


class OrderEvent(Base):
    """The order's timeline: what happened, when, by whom, and who may see it."""

    __tablename__ = "order_events"
    __table_args__ = (
        CheckConstraint("visibility IN ('customer', 'staff')", name="visibility_known"),
        Index("ix_order_events_order", "order_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(30))
    actor: Mapped[str] = mapped_column(String(320))
    visibility: Mapped[str] = mapped_column(String(10), default="customer")
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class OrderCounter(Base):
    """The last order number handed out in each year."""

    __tablename__ = "order_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_value: Mapped[int] = mapped_column(Integer)


class IdempotencyKey(Base):
    """A completed request, replayed when a client retries with the same key."""

    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    headers: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class User(Base):
    """A login: staff or admin, or a customer's own (then ``customer_id`` is set)."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('customer', 'staff', 'admin')", name="role_known"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), unique=True
    )
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiToken(Base):
    """A bearer token, stored only as its SHA-256 digest."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # "session" (login) or "api" (integration)
    name: Mapped[str | None] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginThrottle(Base):
    """Failed logins per account or client address, and how long each is blocked."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditLog(Base):
    """Who changed what: one row per change to an order, customer, product or balance."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(320))
    # Ids as they were, without foreign keys (see migration 0009): an entry locks nothing
    # it names, and deleting a user or token later leaves the history as it was.
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    token_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(50))
    entity: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[int] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


# ---------------------------------------------------------------- notifications


class OutboxEvent(Base):
    """Something that happened, written in the transaction that made it happen.

    The worker fans each one out into ``deliveries`` (one per recipient and channel)
    and marks it ``dispatched``; nothing else reads an event twice.
    """

    __tablename__ = "outbox_events"
    __table_args__ = (
        Index(
            "ix_outbox_events_waiting",
            "id",
            postgresql_where=text("dispatched IS NULL"),
            sqlite_where=text("dispatched IS NULL"),
        ),
        Index("ix_outbox_events_order", "order_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(40))
    order_id: Mapped[int | None] = mapped_column(Integer)  # no key: outlives a deleted order
    product_id: Mapped[int | None] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    dispatched: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Webhook(Base):
    """An endpoint that receives events, signed as Standard Webhooks describes."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(500), default="")
    events: Mapped[list[str]] = mapped_column(JSONType, default=list)  # empty: every event
    secret: Mapped[str] = mapped_column(String(100))  # whsec_…, needed to sign
    # After a rotation deliveries are signed with both until this time.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Delivery(Base):
    """One message of one event to one recipient on one channel, and how it went."""

    __tablename__ = "deliveries"
    __table_args__ = (
        CheckConstraint("channel IN ('email', 'sms', 'webhook')", name="channel_known"),
        CheckConstraint(
            "status IN ('pending', 'sent', 'failed', 'cancelled')", name="status_known"
        ),
        Index(
            "ix_deliveries_due",
            "next_attempt",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index("ix_deliveries_event", "event_id"),
        Index("ix_deliveries_webhook", "webhook_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("outbox_events.id", ondelete="CASCADE"))
    order_id: Mapped[int | None] = mapped_column(Integer, index=True)
    channel: Mapped[str] = mapped_column(String(10))
    audience: Mapped[str] = mapped_column(String(10))  # customer, staff or endpoint
    recipient: Mapped[str] = mapped_column(String(2000))  # address, number or URL
    webhook_id: Mapped[int | None] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    message: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # as rendered
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    leased_by: Mapped[str | None] = mapped_column(String(100))
    response_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PasswordReset(Base):
    """A single-use link sent by email: stored only as its SHA-256 digest."""

    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires: Mapped[datetime] = mapped_column(UTCDateTime)
    used: Mapped[datetime | None] = mapped_column(UTCDateTime)
