"""`ordermill orders export`: orders with their lines as CSV or JSON Lines."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ordermill.cli import app
from ordermill.db import Database
from ordermill.services import orders as order_service
from tests import factories


def place(database: Database, customer_id: int, *items: tuple[int, int], at: datetime) -> int:
    with database.write() as session:
        return order_service.place_order(
            session,
            customer_id=customer_id,
            items=[order_service.ItemRequest(pid, qty) for pid, qty in items],
            currency="USD",
            now=at,
        ).id


@pytest.fixture
def two_orders(database: Database) -> tuple[int, int]:
    buyer = factories.customer(database)
    jam = factories.product(database, price=4_50, sku="JAM-1", stock=50)
    tea = factories.product(database, price=12_05, sku="TEA-1", stock=50)
    first = place(database, buyer, (jam, 2), (tea, 1), at=datetime(2026, 3, 1, tzinfo=UTC))
    second = place(database, buyer, (tea, 3), at=datetime(2026, 4, 1, tzinfo=UTC))
    return first, second


def test_csv_goes_to_standard_output_one_row_per_order_line(
    cli: CliRunner, two_orders: tuple[int, int]
) -> None:
    first, second = two_orders

    result = cli.invoke(app, ["orders", "export", "--format", "csv"])

    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["order_id"], r["sku"], r["unit_price"], r["line_total"]) for r in rows] == [
        (str(first), "JAM-1", "4.50", "9.00"),
        (str(first), "TEA-1", "12.05", "12.05"),
        (str(second), "TEA-1", "12.05", "36.15"),
    ]
    assert rows[0]["created"] == "2026-03-01T00:00:00Z"
    assert "Exported 2 orders." in result.stderr


def test_jsonl_to_a_file_holds_one_parsable_object_per_order(
    cli: CliRunner, two_orders: tuple[int, int], tmp_path: Path
) -> None:
    target = tmp_path / "orders.jsonl"

    result = cli.invoke(app, ["orders", "export", "--format", "jsonl", "-o", str(target)])

    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    records = [json.loads(line) for line in target.read_text().splitlines()]
    assert [record["id"] for record in records] == list(two_orders)
    assert [record["total"] for record in records] == ["21.05", "36.15"]
    assert [len(record["lines"]) for record in records] == [2, 1]
    assert records[1]["lines"][0]["unit_price"] == "12.05"
    assert f"Exported 2 orders to {target}." in result.stderr
    assert not (tmp_path / "orders.jsonl.partial").exists()


def test_filters_narrow_the_export(cli: CliRunner, two_orders: tuple[int, int]) -> None:
    _first, second = two_orders

    result = cli.invoke(
        app,
        ["orders", "export", "-f", "jsonl", "--status", "pending", "--created-from", "2026-03-15"],
    )

    assert result.exit_code == 0, result.output
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == [second]


def test_an_empty_store_gives_just_the_header(cli: CliRunner) -> None:
    result = cli.invoke(app, ["orders", "export"])

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "order_id,order_number,customer_id,status,strategy,created,processed,currency,"
        "order_total,payment_flow,paid,refunded,balance_due,fulfilled,carrier,"
        "tracking_number,delivered,cancelled,cancel_reason,shipping_address,note,line_id,"
        "product_id,sku,product_name,unit_price,quantity_ordered,quantity,"
        "quantity_returned,line_total"
    ]
    assert "Exported 0 orders." in result.stderr


def test_an_unknown_format_is_refused_clearly(cli: CliRunner) -> None:
    result = cli.invoke(app, ["orders", "export", "--format", "xml"])

    assert result.exit_code == 2
    message = " ".join(result.output.replace("│", " ").split())  # unwrap the error box
    assert "'xml' is not one of 'csv', 'jsonl'" in message
    assert result.stdout == ""


def test_an_empty_time_window_is_refused(cli: CliRunner) -> None:
    result = cli.invoke(
        app,
        ["orders", "export", "--created-from", "2026-05-01", "--created-to", "2026-04-01"],
    )

    assert result.exit_code == 2
    assert "--created-from must be before --created-to" in result.output
