"""Exporting orders with their lines as CSV or JSON Lines, in bounded memory.

Orders are read in keyset pages (``id > last id ORDER BY id LIMIT n``), each
page's lines in one more statement, and written out before the next page is
read: memory depends on the page size, not on how many orders the store holds.
On PostgreSQL the whole export reads one snapshot (``REPEATABLE READ``).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from ordermill.domain.money import format_amount
from ordermill.services.order_views import (
    OrderFilters,
    OrderView,
    filter_orders,
    line_columns,
    line_view,
    order_columns,
    order_view,
)
from ordermill.services.tables import order_lines, orders

DEFAULT_PAGE_SIZE = 1000


class ExportFormat(StrEnum):
    CSV = "csv"  # one row per order line, the order's fields repeated on each
    JSONL = "jsonl"  # one JSON object per order, its lines in a "lines" array


# An export narrows orders as a list does.
ExportFilters = OrderFilters


# An exported order is the service's own view of it, lines included.
ExportOrder = OrderView


CSV_COLUMNS = (
    "order_id", "order_number", "customer_id", "status", "strategy", "created", "processed",
    "currency", "order_total", "payment_flow", "paid", "refunded", "balance_due",
    "fulfilled", "carrier", "tracking_number", "delivered", "cancelled", "cancel_reason",
    "shipping_address", "note",
    "line_id", "product_id", "sku", "product_name", "unit_price", "quantity_ordered",
    "quantity", "quantity_returned", "line_total",
)  # fmt: skip


def iso_utc(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, as the API writes timestamps."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def use_snapshot(session: Session) -> None:
    """Make every page of an export read the same snapshot (call before the first read)."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def iter_order_pages(
    session: Session, filters: ExportFilters, *, page_size: int = DEFAULT_PAGE_SIZE
) -> Iterator[list[ExportOrder]]:
    """Orders oldest id first, with their lines, one keyset page at a time.

    Each page costs two statements and is read only when the caller asks for it.
    """
    if page_size < 1:
        raise ValueError("page_size must be at least 1")
    base = filter_orders(select(*order_columns()), filters)
    after = 0
    while True:
        rows = session.execute(
            base.where(orders.c.id > after).order_by(orders.c.id).limit(page_size)
        ).all()
        if not rows:
            return
        page = [order_view(row) for row in rows]
        by_id = {order.id: order for order in page}
        # Unfiltered, a page is a dense id range: one range scan of the lines' order_id index.
        in_page = (
            order_lines.c.order_id.between(page[0].id, page[-1].id)
            if filters == ExportFilters()
            else order_lines.c.order_id.in_(list(by_id))
        )
        line_rows = session.execute(
            select(*line_columns())
            .where(in_page)
            .order_by(order_lines.c.order_id, order_lines.c.id)
        )
        for line in line_rows:
            owner = by_id.get(line.order_id)
            if owner is not None:
                owner.lines.append(line_view(line))
        yield page
        if len(rows) < page_size:
            return
        after = page[-1].id


def iter_orders(
    session: Session, filters: ExportFilters, *, page_size: int = DEFAULT_PAGE_SIZE
) -> Iterator[ExportOrder]:
    """Every matching order with its lines, read lazily page by page."""
    for page in iter_order_pages(session, filters, page_size=page_size):
        yield from page


def order_json(order: ExportOrder) -> dict[str, Any]:
    """An order as one JSON Lines record: money as decimal strings, times in UTC."""
    return {
        "id": order.id,
        "number": order.number,
        "customer_id": order.customer_id,
        "status": order.status,
        "strategy": order.strategy,
        "created": iso_utc(order.created),
        "processed": iso_utc(order.processed),
        "currency": order.currency,
        "shipping_address": order.shipping_address,
        "note": order.note,
        "extra": order.extra,
        "total": format_amount(order.total),
        "payment_flow": order.payment_flow,
        "paid": format_amount(order.paid),
        "refunded": format_amount(order.refunded),
        "balance_due": format_amount(order.balance_due),
        "fulfilled": iso_utc(order.fulfilled),
        "carrier": order.carrier,
        "tracking_number": order.tracking_number,
        "delivered": iso_utc(order.delivered),
        "cancelled": iso_utc(order.cancelled),
        "cancel_reason": order.cancel_reason,
        "lines": [
            {
                "id": line.id,
                "product_id": line.product_id,
                "name": line.name,
                "sku": line.sku,
                "unit_price": format_amount(line.unit_price),
                "quantity_ordered": line.quantity_ordered,
                "quantity": line.quantity,
                "quantity_returned": line.quantity_returned,
                "line_total": format_amount(line.line_total),
            }
            for line in order.lines
        ],
    }


def write_jsonl(ordered: Iterable[ExportOrder], out: TextIO) -> int:
    """One compact JSON object per line; returns the number of orders written."""
    count = 0
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    for order in ordered:
        out.write(dumps(order_json(order)))
        out.write("\n")
        count += 1
    return count


def write_csv(ordered: Iterable[ExportOrder], out: TextIO) -> int:
    """A header, then one row per order line (an order without lines gets one row).

    Returns the number of orders written.
    """
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    count = 0
    no_line = ("",) * 9
    for order in ordered:
        head = (
            order.id,
            order.number,
            order.customer_id,
            order.status,
            order.strategy or "",
            iso_utc(order.created),
            iso_utc(order.processed) or "",
            order.currency,
            format_amount(order.total),
            order.payment_flow or "",
            format_amount(order.paid),
            format_amount(order.refunded),
            format_amount(order.balance_due),
            iso_utc(order.fulfilled) or "",
            order.carrier or "",
            order.tracking_number or "",
            iso_utc(order.delivered) or "",
            iso_utc(order.cancelled) or "",
            order.cancel_reason or "",
            order.shipping_address or "",
            order.note or "",
        )
        if not order.lines:
            writer.writerow(head + no_line)
        else:
            writer.writerows(
                (
                    *head,
                    line.id,
                    "" if line.product_id is None else line.product_id,
                    line.sku,
                    line.name,
                    format_amount(line.unit_price),
                    line.quantity_ordered,
                    line.quantity,
                    line.quantity_returned,
                    format_amount(line.line_total),
                )
                for line in order.lines
            )
        count += 1
    return count


def export_orders(
    session: Session,
    out: TextIO,
    export_format: ExportFormat,
    filters: ExportFilters | None = None,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> int:
    """Write every matching order to ``out``; returns how many orders were written."""
    use_snapshot(session)
    ordered = iter_orders(session, filters or ExportFilters(), page_size=page_size)
    if export_format is ExportFormat.CSV:
        return write_csv(ordered, out)
    return write_jsonl(ordered, out)
