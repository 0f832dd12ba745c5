"""The orders table's query string: filters, sort and page, read from what staff typed.

Every value arrives as text and is checked here, so a wrong one is a sentence on
the page (400), never an error page: a status that doesn't exist, a customer that
is neither an id nor an email, a date that isn't one, a cursor that was changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Request
from sqlalchemy.orm import Session

from ordermill.domain.orders import OrderStatus
from ordermill.errors import InvalidInput, NotFound
from ordermill.services import order_listing, order_views
from ordermill.services.order_listing import OrderSort
from ordermill.services.order_views import OrderFilters
from ordermill.services.pagination import MAX_ID

TABLE_PATH = "/admin/orders"
MAX_TEXT = 320  # the longest value any filter takes (an email)

SORTS = {
    OrderSort.NEWEST: "Newest first",
    OrderSort.OLDEST: "Oldest first",
    OrderSort.TOTAL_HIGH: "Total, highest first",
    OrderSort.TOTAL_LOW: "Total, lowest first",
}
STATUSES = [status.value for status in OrderStatus]

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True, slots=True)
class TableQuery:
    """The table's query string as typed (text), to fill the filter form and make links."""

    status: str = ""
    customer: str = ""
    created_from: str = ""
    created_to: str = ""
    number: str = ""
    sort: str = OrderSort.NEWEST.value
    cursor: str = ""

    @classmethod
    def of(cls, request: Request) -> TableQuery:
        values = {
            f.name: request.query_params.get(f.name, "").strip()
            for f in fields(cls)
            if request.query_params.get(f.name, "").strip()
        }
        return cls(**values)

    def params(self) -> dict[str, str]:
        """The non-default values, in a stable order."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}
        if out.get("sort") == OrderSort.NEWEST.value:
            del out["sort"]
        return out

    def url(self, **changes: str) -> str:
        """This table's address, with ``changes`` (a new cursor, or none for page one)."""
        query = urlencode(replace(self, **changes).params())
        return f"{TABLE_PATH}?{query}" if query else TABLE_PATH

    @property
    def filtered(self) -> bool:
        return any(getattr(self, name) for name in ("status", "customer", "number")) or bool(
            self.created_from or self.created_to
        )


@dataclass(slots=True)
class Selection:
    """What the table shows: the service's filters and sort, or why it shows nothing."""

    filters: OrderFilters = field(default_factory=OrderFilters)
    sort: OrderSort = OrderSort.NEWEST
    cursor: str | None = None
    problems: dict[str, str] = field(default_factory=dict)  # field -> what is wrong
    notes: list[str] = field(default_factory=list)  # a valid filter that finds nobody
    empty: bool = False  # the filters match nothing: no need to ask the database


def select_orders(session: Session, query: TableQuery, timezone: str) -> Selection:
    """Check every value of ``query``; look up the customer's email and the order number."""
    chosen = Selection()
    values: dict[str, Any] = {}
    for name in ("status", "customer", "created_from", "created_to", "number", "cursor"):
        if len(getattr(query, name)) > (MAX_TEXT if name != "cursor" else 200):
            chosen.problems[name] = "This value is too long."
    if query.status and "status" not in chosen.problems:
        if query.status in STATUSES:
            values["status"] = query.status
        else:
            chosen.problems["status"] = (
                f"There is no status '{query.status}'; choose one of: {', '.join(STATUSES)}."
            )
    if query.customer and "customer" not in chosen.problems:
        _customer(session, query.customer, chosen, values)
    zone = ZoneInfo(timezone)
    start = _day(query.created_from, "created_from", zone, chosen)
    end = _day(query.created_to, "created_to", zone, chosen, next_day=True)
    if start is not None and end is not None and start >= end:
        chosen.problems["created_to"] = "The last day comes before the first day."
    values["created_from"], values["created_to"] = start, end
    if query.number and "number" not in chosen.problems:
        _number(session, query.number, chosen, values)
    try:
        chosen.sort = OrderSort(query.sort)
    except ValueError:
        chosen.problems["sort"] = "Choose a sort from the list."
    chosen.cursor = query.cursor or None
    chosen.filters = OrderFilters(**values)
    return chosen


def _customer(session: Session, text: str, chosen: Selection, values: dict[str, Any]) -> None:
    if _DIGITS.fullmatch(text):
        customer_id = int(text)
        if 0 < customer_id <= MAX_ID:
            values["customer_id"] = customer_id
        else:
            chosen.notes.append(f"No customer has the id {text}.")
            chosen.empty = True
    elif "@" in text:
        found = order_listing.customer_id_by_email(session, text)
        if found is None:
            chosen.notes.append(f"No customer has the email {text}.")
            chosen.empty = True
        else:
            values["customer_id"] = found
    else:
        chosen.problems["customer"] = (
            "Type a customer's id (digits, like 42) or their email address."
        )


def _number(session: Session, text: str, chosen: Selection, values: dict[str, Any]) -> None:
    try:
        values["order_id"] = order_views.resolve_order_id(session, text)
    except InvalidInput as exc:
        chosen.problems["number"] = f"{exc.message}."
    except NotFound:
        chosen.notes.append(f"No order has the id or number {text}.")
        chosen.empty = True


def _day(
    text: str, name: str, zone: ZoneInfo, chosen: Selection, *, next_day: bool = False
) -> datetime | None:
    """The start of the day ``text`` (or of the day after it) in the store's time zone, in UTC."""
    if not text or name in chosen.problems:
        return None
    try:
        if not _DATE.fullmatch(text):
            raise ValueError(text)
        day = date.fromisoformat(text)
    except ValueError:
        chosen.problems[name] = f"'{text}' is not a date like 2026-01-31."
        return None
    try:
        if next_day:
            if day == date.max:
                return None  # to the end of time
            day += timedelta(days=1)
        return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
    except OverflowError:
        chosen.problems[name] = f"{text} is outside the range of dates."
        return None
