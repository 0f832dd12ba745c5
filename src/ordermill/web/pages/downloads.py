"""The dashboard's figures as CSV files, safe to open in a spreadsheet.

A cell of text that a spreadsheet would take for a formula (it starts with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return: a product named ``=HYPERLINK(…)``)
is written with a ``'`` in front, so it stays text. Amounts are decimal strings in
major units (``12.50``) with the currency in its own column.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from fastapi.responses import Response

from ordermill.domain.money import format_amount
from ordermill.services.reports import CurrencySales, ProductSales

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
SALES_COLUMNS = ("day", "currency", "orders", "revenue")
TOP_COLUMNS = ("rank", "product_id", "sku", "product", "currency", "units", "revenue")


def csv_safe(text: str) -> str:
    """Text a spreadsheet shows as text, never runs as a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def sales_rows(sales: Iterable[CurrencySales]) -> Iterable[Sequence[object]]:
    yield SALES_COLUMNS
    for currency in sales:
        for day in currency.days:
            yield (day.day.isoformat(), currency.currency, day.orders, format_amount(day.revenue))


def top_product_rows(top: Iterable[ProductSales]) -> Iterable[Sequence[object]]:
    yield TOP_COLUMNS
    for product in top:
        yield (
            product.rank,
            "" if product.product_id is None else product.product_id,
            csv_safe(product.sku),
            csv_safe(product.name),
            product.currency,
            product.units,
            format_amount(product.revenue),
        )


def csv_response(filename: str, rows: Iterable[Sequence[object]]) -> Response:
    """A CSV download named ``filename`` (ASCII: it is built from dates)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows(rows)
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
