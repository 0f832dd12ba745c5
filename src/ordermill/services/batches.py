"""Batch use cases: process pending orders, expire orders left unpaid.

The CLI, a worker or a back-office bulk button call these with a ``Database``
rather than a session, because each batch is its own transaction: that is this
module's documented exception to "services never commit". Processing 100,000
orders in one transaction would hold their locks to the end and lose everything
to one late error; a batch at a time keeps locks short and work done.

A batch that fails at the database level for an unexpected reason is retried one
order per transaction, so one bad order fails alone instead of taking the others
of its batch with it. Each function returns a result that counts how every order
ended and names the orders that failed, and why.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from ordermill.db import Database
from ordermill.domain.orders import (
    OrderStatus,
    Strategy,
    format_order_number,
    parse_order_number,
)
from ordermill.domain.workflow import PaymentFlow
from ordermill.errors import Code, InvalidInput, OrdermillError, order_not_found
from ordermill.models import utcnow
from ordermill.services.audit import Actor
from ordermill.services.orders import count_orders, pending_order_ids
from ordermill.services.pagination import MAX_ID
from ordermill.services.processing import process_orders
from ordermill.services.tables import orders
from ordermill.services.workflow import Expired, expirable, expire

Progress = Callable[[int, int | None], None]
"""Called after each batch with the orders done so far and the expected total (if known)."""

# How an order ended besides a status of its own.
WOULD_CANCEL = "would_cancel"  # a dry run's expiry
NO_LONGER_AWAITING_PAYMENT = "no_longer_awaiting_payment"  # paid or cancelled meanwhile


@dataclass(frozen=True, slots=True)
class BatchFailure:
    """One order a batch could not do: by id, number or both, and why."""

    order_id: int | None
    number: str | None
    code: str  # a Code, or a code a plugin made up
    message: str

    @property
    def ref(self) -> str:
        """How to name the order to a person: its number, else its id."""
        return self.number or str(self.order_id)


@dataclass(kw_only=True, slots=True)
class BatchResult:
    """How each order of a batch run ended.

    ``outcomes`` counts the orders by how they ended: the status a done order is
    left in (``processed``, ``awaiting_payment``, ``cancelled``, …), or the error
    code of a failed one; ``failures`` names the failed orders.
    """

    outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[BatchFailure] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())

    @property
    def failed(self) -> int:
        return len(self.failures)

    def add_failure(self, failure: BatchFailure) -> None:
        self.outcomes[failure.code] += 1
        self.failures.append(failure)

    def merge(self, other: BatchResult) -> None:
        self.outcomes.update(other.outcomes)
        self.failures.extend(other.failures)


@dataclass(kw_only=True, slots=True)
class ExpiryResult(BatchResult):
    """Orders expired (or, in a dry run, that would be) and how the others ended."""

    cutoff: datetime
    dry_run: bool
    expired: list[Expired] = field(default_factory=list)

    @property
    def units_released(self) -> int:
        return sum(item.units for item in self.expired)

    def merge(self, other: BatchResult) -> None:
        BatchResult.merge(self, other)
        if isinstance(other, ExpiryResult):
            self.expired.extend(other.expired)


def _batch_size(value: int) -> int:
    if value < 1:
        raise InvalidInput("batch_size must be at least 1", field="batch_size")
    return value


def _chunks(ids: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _database_failure(order_id: int, number: str | None, exc: SQLAlchemyError) -> BatchFailure:
    cause = str(getattr(exc, "orig", None) or exc).strip()
    message = cause.splitlines()[0] if cause else type(exc).__name__
    return BatchFailure(order_id, number, Code.INTERNAL_ERROR, f"database error: {message}")


def _one_by_one(
    ids: Sequence[int], attempt: Callable[[int], None]
) -> list[tuple[int, SQLAlchemyError]]:
    """Run ``attempt`` (a transaction of its own) on each order; the database errors by order.

    When the database itself is gone (its connection invalidated), or every order
    fails at the database level, the fault is not the orders': the error is raised
    rather than recorded against each of them.
    """
    errors: list[tuple[int, SQLAlchemyError]] = []
    for order_id in ids:
        try:
            attempt(order_id)
        except SQLAlchemyError as exc:
            if isinstance(exc, DBAPIError) and exc.connection_invalidated:
                raise
            errors.append((order_id, exc))
    if errors and len(errors) == len(ids):
        raise errors[-1][1]
    return errors


def _numbers_of(session: Session, ids: Sequence[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(select(orders.c.id, orders.c.number).where(orders.c.id.in_(ids)))
    return {int(row.id): row.number for row in rows}


def _ids_by_number(session: Session, numbers: Sequence[str]) -> dict[str, int]:
    if not numbers:
        return {}
    rows = session.execute(select(orders.c.number, orders.c.id).where(orders.c.number.in_(numbers)))
    return {row.number: int(row.id) for row in rows}


def _not_found(order_id: int | None, number: str | None) -> BatchFailure:
    ref: int | str | None = number if number is not None else order_id
    assert ref is not None
    exc = order_not_found(ref)
    return BatchFailure(order_id, number, exc.code, exc.message)


# ---------------------------------------------------------------- process


def process_pending(
    database: Database,
    *,
    strategy: Strategy,
    flow: PaymentFlow,
    actor: Actor,
    order_ids: Sequence[int] | None = None,
    order_numbers: Sequence[str] = (),
    batch_size: int = 500,
    progress: Progress | None = None,
) -> BatchResult:
    """Process orders in batches of ``batch_size``, one transaction per batch.

    The orders are those named by id and by number (``2026-00001``), or, when
    neither is given, every pending order, oldest id first (orders placed while it
    runs are included). An order that does not exist fails with ``order_not_found``
    whether it was named by id or by number; one that can't be processed fails with
    the reason (``insufficient_balance``, ``already_processed``, …) and writes nothing.
    Done orders count by the status they are left in: ``processed``, or with flow
    ``advance`` usually ``awaiting_payment``.
    """
    batch_size = _batch_size(batch_size)
    numbers = list(
        dict.fromkeys(format_order_number(*parse_order_number(n)) for n in order_numbers)
    )
    result = BatchResult()

    def attempt(ids: list[int]) -> None:
        part = BatchResult()
        with database.write() as session:
            outcome = process_orders(session, ids, strategy, flow=flow, actor=actor)
            refused = {
                oid: exc for oid, exc in sorted(outcome.items()) if isinstance(exc, OrdermillError)
            }
            known = _numbers_of(session, list(refused))
        for view in outcome.values():
            if not isinstance(view, OrdermillError):
                part.outcomes[view.status] += 1
        for order_id, exc in refused.items():
            part.add_failure(BatchFailure(order_id, known.get(order_id), exc.code, exc.message))
        result.merge(part)  # only once the batch is committed

    if order_ids is None and not numbers:
        with database.lookup() as session:
            total = count_orders(session, OrderStatus.PENDING.value)
        batches: Iterable[list[int]] = _pending_batches(database, batch_size)
    else:
        targets: list[int] = []
        for order_id in dict.fromkeys(order_ids or ()):
            if 0 < order_id <= MAX_ID:  # no order can have another id
                targets.append(order_id)
            else:
                result.add_failure(_not_found(order_id, None))
        with database.lookup() as session:
            found = _ids_by_number(session, numbers)
        for number in numbers:
            if number in found:
                targets.append(found[number])
            else:
                result.add_failure(_not_found(None, number))
        targets = list(dict.fromkeys(targets))
        total = len(targets) + result.failed
        batches = _chunks(targets, batch_size)

    for batch in batches:
        try:
            # Set-based: the whole batch in one transaction, a few statements per table.
            attempt(batch)
        except SQLAlchemyError:
            for order_id, exc in _one_by_one(batch, lambda oid: attempt([oid])):
                with database.lookup() as session:
                    known = _numbers_of(session, [order_id])
                result.add_failure(_database_failure(order_id, known.get(order_id), exc))
        if progress is not None:
            progress(result.total, max(total, result.total))
    return result


def _pending_batches(database: Database, batch_size: int) -> Iterator[list[int]]:
    after = 0
    while True:
        with database.lookup() as session:
            ids = pending_order_ids(session, after_id=after, limit=batch_size)
        if not ids:
            return
        after = ids[-1]
        yield ids


# ---------------------------------------------------------------- expire


def expire_overdue(
    database: Database,
    *,
    older_than: timedelta,
    actor: Actor,
    now: datetime | None = None,
    reason: str | None = None,
    batch_size: int = 200,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ExpiryResult:
    """Cancel the orders awaiting payment for longer than ``older_than``, releasing their
    stock, in batches of ``batch_size``, one transaction per batch.

    ``reason`` is the cancel reason (by default ``expired: not paid within 3d``). An
    order paid or cancelled meanwhile stays as it is and counts as
    ``no_longer_awaiting_payment``. With ``dry_run`` nothing changes: the result lists
    the orders that would be cancelled.
    """
    batch_size = _batch_size(batch_size)
    if older_than <= timedelta(0):
        raise InvalidInput("older_than must be positive", field="older_than")
    if reason is None:
        reason = f"expired: not paid within {_describe(older_than)}"
    reason = reason.strip()
    if not reason:
        raise InvalidInput("a reason is required", field="reason")
    cutoff = (now or utcnow()) - older_than
    result = ExpiryResult(cutoff=cutoff, dry_run=dry_run)
    with database.lookup() as session:
        total = _count_overdue(session, cutoff)

    after = 0
    while True:
        with database.read() as session:
            batch = expirable(session, cutoff, after_id=after, limit=batch_size)
        if not batch:
            break
        after = batch[-1].order_id
        if dry_run:
            result.expired.extend(batch)
            result.outcomes[WOULD_CANCEL] += len(batch)
        else:
            _expire_batch(database, batch, reason, actor, result)
        if progress is not None:
            progress(result.total, max(total, result.total))
    return result


def _expire_batch(
    database: Database, batch: list[Expired], reason: str, actor: Actor, result: ExpiryResult
) -> None:
    by_id = {item.order_id: item for item in batch}

    def attempt(ids: list[int]) -> None:
        part = ExpiryResult(cutoff=result.cutoff, dry_run=False)
        with database.write() as session:
            for order_id in ids:
                item = by_id[order_id]
                try:
                    # A refusal or a plugin's veto raises before its writes (or inside a
                    # savepoint), so the batch's transaction goes on with the others.
                    view = expire(session, order_id, reason=reason, actor=actor)
                except OrdermillError as exc:
                    part.add_failure(BatchFailure(order_id, item.number, exc.code, exc.message))
                    continue
                if view is None:
                    part.outcomes[NO_LONGER_AWAITING_PAYMENT] += 1
                else:
                    part.expired.append(item)
                    part.outcomes[OrderStatus.CANCELLED.value] += 1
        result.merge(part)  # only once the batch is committed

    try:
        attempt(list(by_id))
    except SQLAlchemyError:
        for order_id, exc in _one_by_one(list(by_id), lambda oid: attempt([oid])):
            result.add_failure(_database_failure(order_id, by_id[order_id].number, exc))


def _describe(age: timedelta) -> str:
    """The age in its largest exact unit: ``3d`` for 72 hours, ``90m`` for 90 minutes."""
    minutes = int(age.total_seconds()) // 60
    for unit, size in (("w", 7 * 24 * 60), ("d", 24 * 60), ("h", 60)):
        if minutes and minutes % size == 0:
            return f"{minutes // size}{unit}"
    return f"{minutes}m"


def _count_overdue(session: Session, cutoff: datetime) -> int:
    """How many orders ``expirable`` would list for ``cutoff`` (the progress bar's total)."""
    return int(
        session.execute(
            select(func.count())
            .select_from(orders)
            .where(
                orders.c.status == OrderStatus.AWAITING_PAYMENT.value,
                orders.c.processed < cutoff,
            )
        ).scalar_one()
    )
