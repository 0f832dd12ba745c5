"""Core table handles for the lean SQL of the hot paths."""

from __future__ import annotations

from typing import cast

from sqlalchemy import ColumnElement, Integer, Table, any_, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ordermill import models
from ordermill.errors import Code, Conflict

customers = cast(Table, models.Customer.__table__)
products = cast(Table, models.Product.__table__)
carts = cast(Table, models.Cart.__table__)
cart_items = cast(Table, models.CartItem.__table__)
orders = cast(Table, models.Order.__table__)
order_lines = cast(Table, models.OrderLine.__table__)
order_counters = cast(Table, models.OrderCounter.__table__)
idempotency_keys = cast(Table, models.IdempotencyKey.__table__)
users = cast(Table, models.User.__table__)
api_tokens = cast(Table, models.ApiToken.__table__)
login_throttle = cast(Table, models.LoginThrottle.__table__)
audit_log = cast(Table, models.AuditLog.__table__)
payments = cast(Table, models.Payment.__table__)
ledger_entries = cast(Table, models.LedgerEntry.__table__)
order_events = cast(Table, models.OrderEvent.__table__)
outbox_events = cast(Table, models.OutboxEvent.__table__)
deliveries = cast(Table, models.Delivery.__table__)
webhooks = cast(Table, models.Webhook.__table__)
password_resets = cast(Table, models.PasswordReset.__table__)


def upsert(session: Session, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An ``INSERT`` that can take ``ON CONFLICT`` clauses on this session's database."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def one_of(dialect: str, column: ColumnElement[int], name: str) -> ColumnElement[bool]:
    """``column`` is one of the ids bound to ``:name`` (a list). On PostgreSQL that is
    ``column = ANY(:name)`` with one array parameter: the same text whatever the count,
    where an expanding ``IN`` is rendered again at every execution (a tenth of a page
    of 50 orders' CPU) and prepared once per count. Elsewhere, the expanding ``IN``."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=postgresql.ARRAY(Integer)))
    return column.in_(bindparam(name, expanding=True))


def flush_unique(session: Session, code: Code, message: str) -> None:
    """Flush, turning a unique-constraint race into the same 409 the pre-check gives."""
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(message, code=code) from None
