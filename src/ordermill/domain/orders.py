"""Order rules: statuses, shortage strategies, processing, order numbers."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from ordermill.errors import Code, Conflict, InvalidInput


class OrderStatus(StrEnum):
    """An order's place in the workflow (``ordermill.domain.workflow`` moves it)."""

    PENDING = "pending"  # placed
    AWAITING_PAYMENT = "awaiting_payment"  # stock taken, waiting for the money
    PROCESSED = "processed"  # stock taken and paid
    FULFILLED = "fulfilled"  # shipped
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    RETURNED = "returned"  # some or all of it came back


# States in which an order holds stock taken from the shelves.
HOLDS_STOCK = frozenset(
    {
        OrderStatus.AWAITING_PAYMENT,
        OrderStatus.PROCESSED,
        OrderStatus.FULFILLED,
        OrderStatus.DELIVERED,
        OrderStatus.RETURNED,
    }
)


class Strategy(StrEnum):
    """What processing does with a line that asks for more than the stock holds."""

    ADJUST = "adjust"  # sell what is there
    REJECT = "reject"  # process nothing, change nothing
    IGNORE = "ignore"  # drop the line (quantity 0)


DEFAULT_STRATEGY = Strategy.ADJUST


@dataclass(frozen=True, slots=True)
class LineToProcess:
    """An order line as processing sees it."""

    line_id: int
    product_id: int | None  # None once the product was deleted from the catalog
    quantity_ordered: int
    unit_price: int


@dataclass(frozen=True, slots=True)
class Shortage:
    """A line whose ordered quantity exceeds the stock available to it."""

    line_id: int
    product_id: int | None
    ordered: int
    available: int


@dataclass(frozen=True, slots=True)
class SettledLine:
    line_id: int
    product_id: int | None
    quantity_ordered: int
    quantity: int
    unit_price: int

    @property
    def line_total(self) -> int:
        return self.quantity * self.unit_price

    @property
    def adjusted(self) -> bool:
        return self.quantity != self.quantity_ordered


@dataclass(frozen=True, slots=True)
class ProcessingPlan:
    """What processing an order will write: settled lines, stock to take, the charge."""

    lines: tuple[SettledLine, ...]

    @property
    def total(self) -> int:
        return sum(line.line_total for line in self.lines)

    @property
    def stock_taken(self) -> dict[int, int]:
        taken: dict[int, int] = {}
        for line in self.lines:
            if line.product_id is not None and line.quantity:
                taken[line.product_id] = taken.get(line.product_id, 0) + line.quantity
        return taken


class ProcessingFailed(Conflict):
    """Processing refused; ``code`` is the reason."""


def insufficient_stock(shortages: Iterable[Shortage]) -> ProcessingFailed:
    short = [
        {
            "line_id": s.line_id,
            "product_id": s.product_id,
            "ordered": s.ordered,
            "available": s.available,
        }
        for s in shortages
    ]
    listing = ", ".join(
        f"product {s['product_id']} ({s['ordered']} ordered, {s['available']} available)"
        for s in short
    )
    return ProcessingFailed(
        f"Not enough stock for: {listing}", code=Code.INSUFFICIENT_STOCK, short_lines=short
    )


def parse_strategy(value: object) -> Strategy:
    """Accept a strategy name; anything else is invalid input."""
    try:
        return Strategy(str(value)) if isinstance(value, str) else Strategy(value)  # type: ignore[arg-type]
    except ValueError:
        raise InvalidInput(
            f"strategy must be one of {', '.join(s.value for s in Strategy)}", field="strategy"
        ) from None


def plan_processing(
    *,
    lines: Iterable[LineToProcess],
    stock: Mapping[int, int],
    strategy: Strategy = DEFAULT_STRATEGY,
) -> ProcessingPlan:
    """Decide how an order's lines are settled against the stock, or raise why not.

    The workflow's guards (not processed yet, a positive balance) run before this.
    Lines for the same product share its stock, first line first.
    """
    remaining = dict(stock)
    settled: list[SettledLine] = []
    shortages: list[Shortage] = []
    for line in sorted(lines, key=lambda candidate: candidate.line_id):
        available = remaining.get(line.product_id, 0) if line.product_id is not None else 0
        quantity = line.quantity_ordered
        if quantity > available:
            shortages.append(Shortage(line.line_id, line.product_id, quantity, available))
            quantity = available if strategy is Strategy.ADJUST else 0
        if line.product_id is not None:
            remaining[line.product_id] = available - quantity
        settled.append(
            SettledLine(
                line.line_id, line.product_id, line.quantity_ordered, quantity, line.unit_price
            )
        )
    if shortages and strategy is Strategy.REJECT:
        raise insufficient_stock(shortages)
    return ProcessingPlan(tuple(settled))


def find_shortages(wanted: Mapping[int, int], stock: Mapping[int, int]) -> list[Shortage]:
    """Products (by id) whose wanted quantity exceeds the stock; used at checkout."""
    return [
        Shortage(line_id=0, product_id=pid, ordered=qty, available=stock.get(pid, 0))
        for pid, qty in sorted(wanted.items())
        if qty > stock.get(pid, 0)
    ]


# Order numbers: the year, a dash and a sequence that restarts every year: 2026-00001.
ORDER_NUMBER_PATTERN = r"^(\d{4})-(\d{5,})$"
_NUMBER = re.compile(ORDER_NUMBER_PATTERN)


def format_order_number(year: int, sequence: int) -> str:
    """2026, 1 -> "2026-00001" (the sequence widens past 99999)."""
    return f"{year:04d}-{sequence:05d}"


def parse_order_number(text: str) -> tuple[int, int]:
    """ "2026-00001" -> (2026, 1); anything else is invalid input."""
    match = _NUMBER.match(text.strip())
    if not match:
        raise InvalidInput(f"'{text}' is not an order number like 2026-00001", field="number")
    return int(match.group(1)), int(match.group(2))
