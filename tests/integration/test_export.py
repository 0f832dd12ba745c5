"""Exporting orders: CSV rows per line, JSON Lines per order, read in keyset pages."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, update

from ordermill.db import Database
from ordermill.domain.workflow import PaymentFlow
from ordermill.services import export, order_views, processing, workflow
from ordermill.services import orders as order_service
from ordermill.services.tables import orders
from tests import factories

MARCH = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
APRIL = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def place(database: Database, customer_id: int, *items: tuple[int, int], at: datetime) -> int:
    with database.write() as session:
        return order_service.place_order(
            session,
            customer_id=customer_id,
            items=[order_service.ItemRequest(pid, qty) for pid, qty in items],
            currency="USD",
            now=at,
        ).id


def mark_processed(database: Database, order_id: int, at: datetime) -> None:
    with database.write() as session:
        session.execute(
            update(orders)
            .where(orders.c.id == order_id)
            .values(status="processed", processed=at, strategy="adjust")
        )


def run_export(
    database: Database, fmt: export.ExportFormat, filters: export.ExportFilters | None = None
) -> tuple[int, str]:
    out = io.StringIO()
    with database.read() as session:
        count = export.export_orders(session, out, fmt, filters, page_size=2)
    return count, out.getvalue()


def jsonl_records(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


@contextmanager
def statements(database: Database) -> Iterator[list[str]]:
    """Every query the database runs inside the block (transaction control left out)."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        if args[2].lstrip().upper().startswith("SELECT"):
            seen.append(args[2])

    event.listen(database.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(database.engine, "before_cursor_execute", record)


def test_jsonl_writes_one_object_per_order_with_its_lines_and_money_as_strings(
    database: Database,
) -> None:
    buyer = factories.customer(database)
    jam = factories.product(database, price=4_50, sku="JAM-1", name="Jam")
    tea = factories.product(database, price=12_05, sku="TEA-1", name="Tea")
    order_id = place(database, buyer, (jam, 2), (tea, 1), at=MARCH)

    count, text = run_export(database, export.ExportFormat.JSONL)

    assert count == 1
    [record] = jsonl_records(text)
    assert record["id"] == order_id
    assert record["customer_id"] == buyer
    assert record["status"] == "pending"
    assert record["total"] == "21.05"
    assert record["currency"] == "USD"
    assert record["created"] == "2026-03-01T12:30:00Z"
    assert record["processed"] is None
    assert [
        (line["sku"], line["name"], line["unit_price"], line["quantity"], line["line_total"])
        for line in record["lines"]
    ] == [("JAM-1", "Jam", "4.50", 2, "9.00"), ("TEA-1", "Tea", "12.05", 1, "12.05")]
    assert all(line["product_id"] in (jam, tea) for line in record["lines"])


def test_csv_has_a_header_then_one_row_per_line_repeating_the_order(database: Database) -> None:
    buyer = factories.customer(database)
    jam = factories.product(database, price=4_50, sku="JAM-1")
    tea = factories.product(database, price=12_05, sku="TEA-1")
    first = place(database, buyer, (jam, 2), (tea, 1), at=MARCH)
    second = place(database, buyer, (tea, 3), at=APRIL)

    count, text = run_export(database, export.ExportFormat.CSV)

    assert count == 2
    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == export.CSV_COLUMNS
    body = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert [(r["order_id"], r["sku"], r["quantity"], r["line_total"]) for r in body] == [
        (str(first), "JAM-1", "2", "9.00"),
        (str(first), "TEA-1", "1", "12.05"),
        (str(second), "TEA-1", "3", "36.15"),
    ]
    assert [r["order_total"] for r in body] == ["21.05", "21.05", "36.15"]
    assert {r["created"] for r in body[:2]} == {"2026-03-01T12:30:00Z"}
    assert body[2]["created"] == "2026-04-01T09:00:00Z"
    assert {r["status"] for r in body} == {"pending"}
    assert body[0]["processed"] == ""


def test_processed_orders_carry_their_processing_time_in_utc(database: Database) -> None:
    buyer = factories.customer(database)
    jam = factories.product(database)
    order_id = place(database, buyer, (jam, 1), at=MARCH)
    mark_processed(database, order_id, datetime(2026, 3, 2, 8, 0, tzinfo=UTC))

    _count, text = run_export(database, export.ExportFormat.JSONL)

    [record] = jsonl_records(text)
    assert record["status"] == "processed"
    assert record["processed"] == "2026-03-02T08:00:00Z"
    assert record["strategy"] == "adjust"


def test_an_empty_store_exports_a_header_only_csv_and_an_empty_jsonl(database: Database) -> None:
    csv_count, csv_text = run_export(database, export.ExportFormat.CSV)
    jsonl_count, jsonl_text = run_export(database, export.ExportFormat.JSONL)

    assert (csv_count, jsonl_count) == (0, 0)
    assert list(csv.reader(io.StringIO(csv_text))) == [list(export.CSV_COLUMNS)]
    assert jsonl_text == ""


def test_filters_pick_orders_by_status_customer_and_creation_time(database: Database) -> None:
    ann, bob = factories.customer(database), factories.customer(database)
    jam = factories.product(database, stock=100)
    early = place(database, ann, (jam, 1), at=MARCH)
    late = place(database, ann, (jam, 1), at=APRIL)
    bobs = place(database, bob, (jam, 1), at=APRIL)
    mark_processed(database, late, APRIL)

    def exported(filters: export.ExportFilters) -> list[int]:
        _count, text = run_export(database, export.ExportFormat.JSONL, filters)
        return [record["id"] for record in jsonl_records(text)]

    assert exported(export.ExportFilters()) == [early, late, bobs]
    assert exported(export.ExportFilters(status="pending")) == [early, bobs]
    assert exported(export.ExportFilters(customer_id=ann)) == [early, late]
    assert exported(export.ExportFilters(created_from=APRIL)) == [late, bobs]
    assert exported(export.ExportFilters(created_to=APRIL)) == [early]
    assert exported(export.ExportFilters(status="processed", customer_id=bob)) == []


def test_orders_are_read_in_bounded_keyset_pages_only_as_they_are_consumed(
    database: Database,
) -> None:
    buyer = factories.customer(database)
    jam = factories.product(database, stock=100)
    ids = [place(database, buyer, (jam, 1), at=MARCH) for _ in range(5)]

    with database.read() as session, statements(database) as seen:
        pages = export.iter_order_pages(session, export.ExportFilters(), page_size=2)
        assert seen == []  # nothing is read before the first page is asked for
        first = next(pages)
        after_first_page = len(seen)
        rest = list(pages)

    assert [order.id for order in first] == ids[:2]
    assert [[order.id for order in page] for page in rest] == [ids[2:4], ids[4:]]
    assert after_first_page == 2  # the page's orders, then its lines
    assert len(seen) == 6  # two statements per page, however many orders there are
    order_reads = [sql for sql in seen if "FROM orders" in sql]
    assert len(order_reads) == 3
    assert all("LIMIT" in sql.upper() for sql in order_reads)
    assert all(order.lines for page in [first, *rest] for order in page)


def test_a_page_size_below_one_is_refused(database: Database) -> None:
    with database.read() as session, pytest.raises(ValueError, match="page_size"):
        next(export.iter_order_pages(session, export.ExportFilters(), page_size=0))


def test_an_export_carries_the_money_and_the_workflow_of_each_order(database: Database) -> None:
    # Given an order paid in advance in part, and a delivered order with a returned unit
    buyer = factories.customer(database, balance=100_00)
    pen = factories.product(database, price=5_00, stock=10)
    waiting = place(database, buyer, (pen, 4), at=MARCH)
    shipped = place(database, buyer, (pen, 2), at=APRIL)
    with database.write() as session:
        processing.process_order(session, waiting, flow=PaymentFlow.ADVANCE)
        workflow.pay(session, waiting, amount=15_00, method="bank_transfer", reference="T-1")
        processing.process_order(session, shipped)
        workflow.fulfill(session, shipped, carrier="DHL", tracking_number="JD1")
        workflow.deliver(session, shipped)
        line_id = order_views.get_order(session, shipped).lines[0].id
        workflow.return_order(session, shipped, lines=[workflow.ReturnLine(line_id, 1)])

    _, jsonl = run_export(database, export.ExportFormat.JSONL)
    _, csv_text = run_export(database, export.ExportFormat.CSV)

    first, second = jsonl_records(jsonl)
    assert (first["status"], first["payment_flow"]) == ("awaiting_payment", "advance")
    assert (first["paid"], first["balance_due"]) == ("15.00", "5.00")
    assert (second["status"], second["refunded"], second["tracking_number"]) == (
        "returned",
        "5.00",
        "JD1",
    )
    assert second["delivered"] is not None
    assert second["lines"][0]["quantity_returned"] == 1
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert [(r["paid"], r["balance_due"], r["quantity_returned"]) for r in rows] == [
        ("15.00", "5.00", "0"),
        ("10.00", "0.00", "1"),
    ]
