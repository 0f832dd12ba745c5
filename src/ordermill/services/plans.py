"""What a change will write, decided before anything is written.

The services decide under their locks, in Python, and describe the writes as a
plan; ``writers`` applies a plan with the statements of the session's database
(one statement of data-modifying CTEs on PostgreSQL, Core ``executemany`` on
SQLite). A plan holds final values: statuses, kinds and methods are the enums'
values, and every row's time is the plan's one ``now``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ordermill.domain.orders import OrderStatus, Strategy
from ordermill.domain.workflow import PaymentFlow
from ordermill.services.audit import Actor
from ordermill.services.ledger import EntryKind
from ordermill.services.order_views import LineView, OrderView

# ---------------------------------------------------------------- the journal


@dataclass(frozen=True, slots=True)
class EventRow:
    """A customer-visible event on an order's timeline."""

    order_id: int
    kind: str
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AuditRow:
    order_id: int
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """An event for the outbox: the worker tells people and systems about it."""

    type: str  # an ``EventType`` value
    order_id: int | None
    data: dict[str, Any]
    product_id: int | None = None


@dataclass(frozen=True, slots=True)
class Journal:
    """What a set of transitions records besides its effects (``transitions.journal``)."""

    action: str  # the audit log's name for it: ``order.processed``
    events: tuple[EventRow, ...]
    audits: tuple[AuditRow, ...]
    outbox: tuple[OutboxRow, ...] = ()


# ---------------------------------------------------------------- processing


@dataclass(frozen=True, slots=True)
class StockTake:
    product_id: int
    quantity: int  # taken only while the stock holds it


@dataclass(frozen=True, slots=True)
class LineAdjustment:
    """A line settled at another quantity than ordered."""

    line_id: int
    quantity: int
    line_total: int


@dataclass(frozen=True, slots=True)
class OrderProcessed:
    order_id: int
    status: OrderStatus
    total: int
    paid: int


@dataclass(frozen=True, slots=True)
class BalanceCharge:
    customer_id: int
    amount: int  # taken off the balance


@dataclass(frozen=True, slots=True)
class LedgerRow:
    customer_id: int
    kind: EntryKind
    amount: int  # signed: a charge is negative
    balance_after: int
    order_id: int | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class PaymentRow:
    order_id: int
    amount: int
    credited: int
    method: str
    reference: str | None


# How an order charged to the balance appears among its payments.
BALANCE_METHOD = PaymentFlow.BALANCE.value


@dataclass(frozen=True, slots=True)
class ProcessPlan:
    """Every write of a set of processed orders; tuples keyed by id are in id order."""

    now: datetime
    actor: Actor
    strategy: Strategy
    flow: PaymentFlow
    stock_takes: tuple[StockTake, ...]
    line_adjustments: tuple[LineAdjustment, ...]
    orders: tuple[OrderProcessed, ...]
    charges: tuple[BalanceCharge, ...]
    ledger: tuple[LedgerRow, ...]
    payments: tuple[PaymentRow, ...]
    journal: Journal


# ---------------------------------------------------------------- placing


@dataclass(frozen=True, slots=True)
class ProductSnapshot:
    """What an order line copies from its product when the order is placed."""

    name: str
    sku: str
    price: int


@dataclass(frozen=True, slots=True)
class PlaceLine:
    product_id: int
    quantity: int
    extra: dict[str, Any] | None = None


# The order's audit action and first timeline event.
ORDER_CREATED = "order.created"
CREATED = "created"


@dataclass(frozen=True, slots=True)
class PlacePlan:
    """A new pending order, before its number (a placeholder until ``assign_number``).

    ``snapshot`` is the catalog as the caller read it; on PostgreSQL the one statement
    that places the order reads it itself, and writes nothing when a product is gone.
    """

    now: datetime
    actor: Actor
    customer_id: int
    currency: str
    shipping_address: str | None
    note: str | None
    extra: dict[str, Any]
    placeholder: str
    lines: tuple[PlaceLine, ...]
    snapshot: Mapping[int, ProductSnapshot] | None = None

    def placed(self, order_id: int, number: str, total: int, lines: list[LineView]) -> OrderView:
        """The order as written: what either writer answers after placing it."""
        return OrderView(
            id=order_id,
            number=number,
            customer_id=self.customer_id,
            status=OrderStatus.PENDING.value,
            strategy=None,
            created=self.now,
            processed=None,
            currency=self.currency,
            shipping_address=self.shipping_address,
            note=self.note,
            extra=self.extra,
            total=total,
            lines=lines,
        )


@dataclass(frozen=True, slots=True)
class PlacedToProcess:
    """An order just placed, to be processed in the same transaction: its customer and
    products locked in the writers' lock order (the order is new, so none can see it),
    and what processing reads of them: the balance, each product's stock and low-stock
    threshold."""

    order: OrderView
    balance: int
    stock: Mapping[int, int]
    thresholds: Mapping[int, int | None]
