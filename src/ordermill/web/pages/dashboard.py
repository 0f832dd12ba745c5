"""/admin: the dashboard. Work waiting, low stock, and sales for a chosen period as charts,
tables and CSV downloads (``/admin/sales.csv``, ``/admin/top-products.csv``).

Every figure comes from ``services.reports`` (one statement per chart); what counts
as a sale is written there and said on the page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from ordermill.display import money
from ordermill.domain.access import Permission
from ordermill.domain.orders import OrderStatus
from ordermill.errors import InvalidInput
from ordermill.services import reports
from ordermill.services.accounts import Principal
from ordermill.services.reports import CurrencySales, Period, ProductSales
from ordermill.web.deps import DatabaseDep, SettingsDep
from ordermill.web.pages import charts
from ordermill.web.pages.downloads import csv_response, sales_rows, top_product_rows
from ordermill.web.pages.periods import CHOICES, CUSTOM, PeriodChoice, choose_period
from ordermill.web.pages.render import render
from ordermill.web.pages.sessions import page_requires

router = APIRouter(prefix="/admin", include_in_schema=False, default_response_class=HTMLResponse)
Reader = Annotated[Principal, page_requires(Permission.ORDERS_READ)]
PeriodQuery = Annotated[str | None, Query(description="7, 30, 90 or custom")]
FromQuery = Annotated[str | None, Query(alias="from", description="YYYY-MM-DD")]
ToQuery = Annotated[str | None, Query(alias="to", description="YYYY-MM-DD")]


def orders_link(*statuses: OrderStatus) -> str:
    """The orders table, filtered to ``statuses``."""
    return "/admin/orders?" + urlencode([("status", s.value) for s in sorted(statuses)])


def long_day(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b %Y}"


def short_day(day: date) -> str:
    return f"{day.day} {day:%b}"


def period_words(period: Period) -> str:
    return f"{long_day(period.first)} to {long_day(period.last)}"


@dataclass(frozen=True, slots=True)
class CurrencyReport:
    """One currency's sales on the page: totals, two column charts, the top products."""

    currency: str
    sales: CurrencySales
    orders_chart: charts.ColumnChart
    revenue_chart: charts.ColumnChart
    top: list[ProductSales]
    top_chart: charts.BarChart


def currency_report(
    sales: CurrencySales, top: list[ProductSales], period: Period
) -> CurrencyReport:
    currency = sales.currency
    span = period_words(period)

    def orders_words(n: int) -> str:
        return f"{n} order" if n == 1 else f"{n} orders"

    def per_day(
        key: str,
        title: str,
        value: Callable[[Any], int],
        words: Callable[[int], str],
        axis: Callable[[int], str],
    ) -> charts.ColumnChart:
        """One column a day: ``value`` of the day, said with ``words``, the axis in ``axis``."""
        points = [
            charts.Point(
                d.day.isoformat(),
                short_day(d.day),
                f"{long_day(d.day)}: {words(value(d))}",
                value(d),
            )
            for d in sales.days
        ]
        total = words(sum(value(d) for d in sales.days))
        label = f"{title} ({currency}), {span}: {total} in all"
        return charts.column_chart(f"{key}-{currency}", title, label, points, axis)

    def in_money(minor: int) -> str:
        return money(minor, currency)

    orders_chart = per_day("orders", "Orders per day", lambda d: d.orders, orders_words, str)
    revenue_chart = per_day("revenue", "Revenue per day", lambda d: d.revenue, in_money, in_money)
    top_chart = charts.bar_chart(
        f"top-{currency}",
        "Units sold and revenue",
        f"Top products by units sold ({currency}), {span}",
        [
            charts.Item(
                str(p.product_id) if p.product_id is not None else f"sku:{p.sku}",
                p.name,
                p.units,
                f"{p.units} · {money(p.revenue, currency)}",
                f"{p.rank}. {p.name} ({p.sku}): {p.units} units, {money(p.revenue, currency)}",
            )
            for p in top
        ],
    )
    return CurrencyReport(currency, sales, orders_chart, revenue_chart, top, top_chart)


def _choice(
    settings_zone: str, period: str | None, first: str | None, last: str | None
) -> PeriodChoice:
    zone = ZoneInfo(settings_zone)
    return choose_period(period, first, last, zone, reports.today_in(zone))


@router.get("")
def dashboard(
    request: Request,
    database: DatabaseDep,
    settings: SettingsDep,
    _reader: Reader,
    period: PeriodQuery = None,
    first: FromQuery = None,
    last: ToQuery = None,
) -> Response:
    choice = _choice(settings.timezone, period, first, last)
    chosen = choice.period
    currencies: list[CurrencyReport] = []
    with database.read() as session:
        counts = reports.work_counts(session)
        low = reports.low_stock(session, settings.low_stock_default)
        if chosen is not None:
            sales = reports.sales_per_day(session, chosen, currency=settings.currency)
            top = reports.top_products(session, chosen)
    if chosen is not None:
        currencies = [
            currency_report(s, [p for p in top if p.currency == s.currency], chosen) for s in sales
        ]
    return render(
        request,
        "admin/dashboard.html",
        status_code=400 if choice.error else 200,
        counts=counts,
        links={
            "to_process": orders_link(OrderStatus.PENDING),
            "awaiting_payment": orders_link(OrderStatus.AWAITING_PAYMENT),
            "to_fulfil": orders_link(*reports.TO_FULFIL),
        },
        low=low,
        choice=choice,
        choices=[(value, _choice_label(value)) for value in CHOICES],
        span=period_words(chosen) if chosen else "",
        currencies=currencies,
        timezone=settings.timezone,
        day_words=long_day,
    )


def _choice_label(value: str) -> str:
    return "Custom period" if value == CUSTOM else f"Last {value} days"


def _period_or_400(
    settings_zone: str, period: str | None, first: str | None, last: str | None
) -> Period:
    choice = _choice(settings_zone, period, first, last)
    if choice.period is None:
        raise InvalidInput(choice.error or "Choose a period.")
    return choice.period


@router.get("/sales.csv")
def sales_csv(
    database: DatabaseDep,
    settings: SettingsDep,
    _reader: Reader,
    period: PeriodQuery = None,
    first: FromQuery = None,
    last: ToQuery = None,
) -> Response:
    """Sales per day of the period, per currency, as on the dashboard."""
    chosen = _period_or_400(settings.timezone, period, first, last)
    with database.read() as session:
        sales = reports.sales_per_day(session, chosen, currency=settings.currency)
    return csv_response(f"sales-{chosen.first}-to-{chosen.last}.csv", sales_rows(sales))


@router.get("/top-products.csv")
def top_products_csv(
    database: DatabaseDep,
    settings: SettingsDep,
    _reader: Reader,
    period: PeriodQuery = None,
    first: FromQuery = None,
    last: ToQuery = None,
) -> Response:
    """The period's top products, per currency, as on the dashboard."""
    chosen = _period_or_400(settings.timezone, period, first, last)
    with database.read() as session:
        top = reports.top_products(session, chosen)
    return csv_response(f"top-products-{chosen.first}-to-{chosen.last}.csv", top_product_rows(top))
