"""Customer balances as a ledger: every change is an immutable entry with the balance after it.

A balance changes by ``post``: one conditional ``UPDATE … RETURNING`` on the
customer row (which serialises concurrent changes to one customer) followed by
the entry that records it, in the caller's transaction. Set-based processing
(``processing.process_orders``) is the one other writer: it locks the customers
first and writes each charge with its entry in the same statement, the balance
after computed from the locked balance. The balance therefore always equals the
sum of the customer's entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from ordermill.errors import customer_not_found
from ordermill.models import utcnow
from ordermill.services.audit import Actor
from ordermill.services.pagination import Page, decode_id_cursor, encode_cursor
from ordermill.services.tables import customers, ledger_entries, orders


class EntryKind(StrEnum):
    CHARGE = "charge"  # an order paid from the balance (negative)
    REFUND = "refund"  # money for a cancelled or returned order (positive)
    CREDIT = "credit"  # an overpayment kept for the customer (positive)
    ADJUSTMENT = "adjustment"  # a top-up or correction by an admin, or an opening balance


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    customer_id: int
    at: datetime
    kind: str
    amount: int
    balance_after: int
    order_id: int | None
    reason: str | None
    actor: str
    order_number: str | None = None  # of ``order_id``, for a link a customer can follow


def post(
    session: Session,
    customer_id: int,
    kind: EntryKind,
    amount: int,
    *,
    actor: Actor,
    order_id: int | None = None,
    reason: str | None = None,
    now: datetime | None = None,
    only_if_positive: bool = False,
) -> int | None:
    """Change a balance by ``amount`` and record it; returns the balance after.

    With ``only_if_positive`` the change happens only while the balance is above
    zero (the rule for charging an order), and ``None`` means it did not.
    """
    now = now or utcnow()
    stmt = (
        update(customers)
        .where(customers.c.id == customer_id)
        .values(balance=customers.c.balance + amount, updated=now)
        .returning(customers.c.balance)
    )
    if only_if_positive:
        stmt = stmt.where(customers.c.balance > 0)
    balance_after = session.execute(stmt).scalar_one_or_none()
    if balance_after is None:
        if only_if_positive:
            return None
        raise customer_not_found(customer_id)
    session.execute(
        insert(ledger_entries).values(
            customer_id=customer_id,
            at=now,
            kind=kind.value,
            amount=amount,
            balance_after=balance_after,
            order_id=order_id,
            reason=reason,
            actor=actor.label,
        )
    )
    return int(balance_after)


def opening_entries(session: Session, balances: Sequence[tuple[int, int]], reason: str) -> None:
    """Record opening balances written with new customers (seeding, imports) in one insert."""
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {
            "customer_id": customer_id,
            "at": now,
            "kind": EntryKind.ADJUSTMENT.value,
            "amount": balance,
            "balance_after": balance,
            "order_id": None,
            "reason": reason,
            "actor": "system",
        }
        for customer_id, balance in balances
        if balance
    ]
    if rows:
        session.execute(insert(ledger_entries), rows)


def list_entries(
    session: Session, customer_id: int, *, limit: int, cursor: str | None = None
) -> Page[Entry]:
    """A customer's entries, newest first."""
    if session.execute(select(customers.c.id).where(customers.c.id == customer_id)).first() is None:
        raise customer_not_found(customer_id)
    stmt = (
        select(ledger_entries, orders.c.number.label("order_number"))
        .outerjoin(orders, orders.c.id == ledger_entries.c.order_id)
        .where(ledger_entries.c.customer_id == customer_id)
    )
    if cursor is not None:
        stmt = stmt.where(ledger_entries.c.id < decode_id_cursor(cursor))
    rows = session.execute(stmt.order_by(ledger_entries.c.id.desc()).limit(limit + 1)).all()
    entries = [
        Entry(
            id=r.id,
            customer_id=r.customer_id,
            at=r.at,
            kind=r.kind,
            amount=r.amount,
            balance_after=r.balance_after,
            order_id=r.order_id,
            reason=r.reason,
            actor=r.actor,
            order_number=r.order_number,
        )
        for r in rows[:limit]
    ]
    next_cursor = encode_cursor(entries[-1].id) if len(rows) > limit else None
    return Page(entries, next_cursor)


def drift(session: Session) -> list[tuple[int, int, int]]:
    """Customers whose balance is not the sum of their entries: (id, balance, sum)."""
    sums = (
        select(
            ledger_entries.c.customer_id,
            func.coalesce(func.sum(ledger_entries.c.amount), 0).label("s"),
        )
        .group_by(ledger_entries.c.customer_id)
        .subquery()
    )
    rows = session.execute(
        select(customers.c.id, customers.c.balance, func.coalesce(sums.c.s, 0))
        .select_from(customers.outerjoin(sums, sums.c.customer_id == customers.c.id))
        .where(customers.c.balance != func.coalesce(sums.c.s, 0))
        .order_by(customers.c.id)
    ).all()
    return [(int(a), int(b), int(c)) for a, b, c in rows]
