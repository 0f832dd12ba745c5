"""What the dashboard shows: work waiting, low stock, sales per day and top products.

**What counts as a sale.** An order is a sale once it is processed (its stock taken)
*and* paid: status ``processed``, ``fulfilled``, ``delivered`` or ``returned``.
Pending orders, orders awaiting payment and cancelled orders are not sales (an order
cancelled after it was processed stops being one). A sale falls on the day it was
processed (``orders.processed``) in the store's time zone, also when an order paid in
advance is paid later. Revenue is what the customer keeps: the processed quantities
at the unit price of the order's snapshot, less returned units (a return takes its
units and money off the day of the sale, and the order still counts as one order).
For an order that is a sale that is ``total - refunded``, so the two charts agree.
Amounts are per currency: the store stamps its currency on each order, and orders in
different currencies are never added together.

Every chart is one statement; ``ix_orders_sales`` (processed orders by ``processed``,
with the columns the sums need) serves them without reading the table.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, String, and_, case, column, func, select, values
from sqlalchemy.orm import Session

from ordermill.domain.orders import OrderStatus
from ordermill.domain.workflow import TRANSITIONS, Action
from ordermill.errors import InvalidInput
from ordermill.models import UTCDateTime
from ordermill.services.tables import order_lines, orders, products

# Statuses of orders that are sales (processed and paid, not cancelled).
SOLD = frozenset(
    {OrderStatus.PROCESSED, OrderStatus.FULFILLED, OrderStatus.DELIVERED, OrderStatus.RETURNED}
)
# Orders staff can fulfil now: the states the workflow's Fulfill starts from.
TO_FULFIL = TRANSITIONS[Action.FULFILL].sources
MAX_DAYS = 366
TOP_PRODUCTS = 10
LOW_STOCK_SHOWN = 20

_SOLD_VALUES = sorted(status.value for status in SOLD)


def _sold(session: Session) -> ColumnElement[bool]:
    """``orders.status`` is a sale's, as a filter on ``ix_orders_sales``' rows.

    SQLite without statistics (it has none unless someone runs ``ANALYZE``) prefers an
    equality on ``ix_orders_status_created`` to a range of ``ix_orders_sales`` and would
    read every sale of all time for each day; ``status || ''`` can't use an index, so
    there the range is taken. PostgreSQL plans from its statistics and gets the column.
    """
    status: ColumnElement[str] = orders.c.status
    if session.get_bind().dialect.name == "sqlite":
        status = status.concat("")
    return status.in_(_SOLD_VALUES)


# ---------------------------------------------------------------- periods


@dataclass(frozen=True, slots=True)
class Period:
    """Whole days ``first`` to ``last`` (both included) in the store's time zone."""

    first: date
    last: date
    zone: ZoneInfo

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise InvalidInput("the period ends before it starts", field="to")
        if self.length > MAX_DAYS:
            raise InvalidInput(f"a period is at most {MAX_DAYS} days long", field="to")

    @property
    def length(self) -> int:
        return (self.last - self.first).days + 1

    def days(self) -> Iterator[date]:
        for n in range(self.length):
            yield self.first + timedelta(days=n)

    def midnight(self, day: date) -> datetime:
        """When ``day`` starts in the store's time zone, as a UTC moment (DST included)."""
        return datetime.combine(day, time(0), tzinfo=self.zone).astimezone(UTC)

    @property
    def start(self) -> datetime:
        return self.midnight(self.first)

    @property
    def end(self) -> datetime:
        """The first moment after the period."""
        return self.midnight(self.last + timedelta(days=1))


def last_days(count: int, today: date, zone: ZoneInfo) -> Period:
    """The ``count`` days up to and including ``today``."""
    return Period(today - timedelta(days=count - 1), today, zone)


def today_in(zone: ZoneInfo, now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(zone).date()


# ---------------------------------------------------------------- work waiting


@dataclass(frozen=True, slots=True)
class WorkCounts:
    to_process: int  # pending
    awaiting_payment: int
    to_fulfil: int  # in a state the workflow's Fulfill starts from


def work_counts(session: Session) -> WorkCounts:
    """Orders waiting for staff, counted per status in one statement."""
    wanted = {OrderStatus.PENDING, OrderStatus.AWAITING_PAYMENT, *TO_FULFIL}
    rows = session.execute(
        select(orders.c.status, func.count())
        .where(orders.c.status.in_(sorted(status.value for status in wanted)))
        .group_by(orders.c.status)
    ).all()
    counts = {status: int(count) for status, count in rows}
    return WorkCounts(
        to_process=counts.get(OrderStatus.PENDING.value, 0),
        awaiting_payment=counts.get(OrderStatus.AWAITING_PAYMENT.value, 0),
        to_fulfil=sum(counts.get(status.value, 0) for status in TO_FULFIL),
    )


@dataclass(frozen=True, slots=True)
class LowStockProduct:
    id: int
    name: str
    sku: str
    stock: int
    threshold: int  # the product's own, or the store's default


@dataclass(frozen=True, slots=True)
class LowStock:
    products: list[LowStockProduct]  # the lowest first, at most ``limit``
    total: int  # how many products are low


def low_stock(session: Session, default: int, *, limit: int = LOW_STOCK_SHOWN) -> LowStock:
    """Products on sale whose stock is at or below their threshold (their own, or
    ``default``: ``ORDERMILL_LOW_STOCK_DEFAULT``), the emptiest first."""
    threshold = func.coalesce(products.c.low_stock_threshold, default)
    rows = session.execute(
        select(
            products.c.id,
            products.c.name,
            products.c.sku,
            products.c.stock,
            threshold,
            func.count().over(),
        )
        .where(products.c.active.is_(True), products.c.stock <= threshold)
        .order_by(products.c.stock, products.c.name, products.c.id)
        .limit(limit)
    ).all()
    items = [LowStockProduct(r[0], r[1], r[2], int(r[3]), int(r[4])) for r in rows]
    return LowStock(items, int(rows[0][5]) if rows else 0)


# ---------------------------------------------------------------- sales


@dataclass(frozen=True, slots=True)
class DaySales:
    day: date
    orders: int
    revenue: int  # minor units


@dataclass(frozen=True, slots=True)
class CurrencySales:
    currency: str
    days: list[DaySales]  # every day of the period, in order, days without sales too

    @property
    def orders(self) -> int:
        return sum(day.orders for day in self.days)

    @property
    def revenue(self) -> int:
        return sum(day.revenue for day in self.days)


def sales_per_day(
    session: Session, period: Period, *, currency: str | None = None
) -> list[CurrencySales]:
    """Sales (count and revenue) per day of ``period``, per currency, in one statement.

    No sales at all in the period: ``currency`` (the store's) with a zero for every day,
    or an empty list without it.

    The days' bounds are computed here (the store's midnights in UTC, DST included)
    and joined as a ``VALUES`` list (in a CTE: SQLite names its columns only there), so
    both databases group by the same days and each day is one range of the index.
    """
    bounds = (
        values(
            column("day", String(10)),
            column("start", UTCDateTime()),
            column("stop", UTCDateTime()),
            name="days",
        )
        .data(
            [
                (day.isoformat(), period.midnight(day), period.midnight(day + timedelta(days=1)))
                for day in period.days()
            ]
        )
        .cte("days")
    )
    rows = session.execute(
        select(
            bounds.c.day,
            orders.c.currency,
            func.count(),
            func.sum(orders.c.total - orders.c.refunded),
        )
        .select_from(
            bounds.join(
                orders,
                and_(orders.c.processed >= bounds.c.start, orders.c.processed < bounds.c.stop),
            )
        )
        .where(_sold(session))
        .group_by(bounds.c.day, orders.c.currency)
    ).all()
    found: dict[str, dict[date, DaySales]] = {}
    for day_text, code, count, revenue in rows:
        day = date.fromisoformat(day_text)
        found.setdefault(code, {})[day] = DaySales(day, int(count), int(revenue or 0))
    if not found and currency is not None:
        found[currency] = {}
    return [
        CurrencySales(code, [by_day.get(day, DaySales(day, 0, 0)) for day in period.days()])
        for code, by_day in sorted(found.items())
    ]


@dataclass(frozen=True, slots=True)
class ProductSales:
    rank: int
    product_id: int | None  # None: the product has left the catalog
    name: str  # the catalog's name now, or the order lines' snapshot
    sku: str
    currency: str
    units: int
    revenue: int  # minor units


GONE = "Products no longer in the catalog"  # several deleted products, counted as one


def top_products(
    session: Session, period: Period, *, limit: int = TOP_PRODUCTS
) -> list[ProductSales]:
    """The products sold most in ``period`` (units kept, then revenue), at most ``limit``
    per currency, in one statement.

    Lines are grouped by product id alone (PostgreSQL then aggregates in a hash table
    rather than sorting every line), so lines of products deleted since count as one
    entry: under their snapshot's name and SKU if they were one product, as ``GONE``
    if several.
    """
    kept = order_lines.c.quantity - order_lines.c.quantity_returned
    units = func.sum(kept)
    gone = order_lines.c.product_id.is_(None)
    grouped = (
        select(
            order_lines.c.product_id,
            orders.c.currency,
            units.label("units"),
            func.sum(kept * order_lines.c.unit_price).label("revenue"),
            # Snapshots are carried for deleted products only: narrower rows to group.
            func.max(case((gone, order_lines.c.product_name))).label("snapshot_name"),
            func.min(case((gone, order_lines.c.sku))).label("first_sku"),
            func.max(case((gone, order_lines.c.sku))).label("last_sku"),
        )
        .select_from(orders.join(order_lines, order_lines.c.order_id == orders.c.id))
        .where(
            orders.c.processed >= period.start,
            orders.c.processed < period.end,
            _sold(session),
        )
        .group_by(order_lines.c.product_id, orders.c.currency)
        .having(units > 0)
        .subquery("sold")
    )
    rank = func.row_number().over(
        partition_by=grouped.c.currency,
        order_by=(
            grouped.c.units.desc(),
            grouped.c.revenue.desc(),
            grouped.c.product_id.nulls_last(),
        ),
    )
    ranked = select(grouped, rank.label("rank")).subquery("ranked")
    rows = session.execute(
        select(
            ranked.c.rank,
            ranked.c.product_id,
            products.c.name,
            products.c.sku,
            ranked.c.snapshot_name,
            ranked.c.first_sku,
            ranked.c.last_sku,
            ranked.c.currency,
            ranked.c.units,
            ranked.c.revenue,
        )
        .select_from(ranked.outerjoin(products, products.c.id == ranked.c.product_id))
        .where(ranked.c.rank <= limit)
        .order_by(ranked.c.currency, ranked.c.rank)
    ).all()
    found = []
    for rank_, product_id, name, sku, snapshot, first_sku, last_sku, currency, n, revenue in rows:
        if product_id is None:  # deleted since the sale
            one = first_sku == last_sku
            name, sku = (snapshot, first_sku) if one else (GONE, "")
        found.append(
            ProductSales(int(rank_), product_id, name, sku, currency, int(n), int(revenue or 0))
        )
    return found
