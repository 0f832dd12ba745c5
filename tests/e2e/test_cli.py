"""The `ordermill` command: seeding, bulk processing, showing orders, and clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import uvicorn
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect
from typer.testing import CliRunner

from ordermill.cli import app
from ordermill.config import get_settings
from ordermill.db import Database
from ordermill.migrate import alembic_config
from ordermill.services import catalog, order_views
from ordermill.services import orders as order_service
from tests import factories


def order_status(database: Database, order_id: int) -> str:
    with database.read() as session:
        return order_views.get_order(session, order_id).status


def test_seed_adds_customers_products_and_pending_orders(
    cli: CliRunner, database: Database
) -> None:
    result = cli.invoke(
        app, ["seed", "--customers", "5", "--products", "8", "--orders", "30", "--random-seed", "1"]
    )

    assert result.exit_code == 0, result.output
    assert "Seeded 5 customers, 8 products and 30 orders." in result.output
    with database.read() as session:
        assert order_service.count_orders(session, "pending") == 30
        page = order_views.list_orders(session, order_views.OrderFilters(), limit=100)
    numbers = sorted(view.number for view in page.items)
    year = page.items[0].created.year
    assert numbers[0] == f"{year}-00001"
    assert len(set(numbers)) == 30
    assert all(view.lines for view in page.items)


def test_seeded_products_include_some_with_a_description_for_the_storefront(
    cli: CliRunner, database: Database
) -> None:
    result = cli.invoke(
        app,
        ["seed", "--customers", "0", "--products", "60", "--orders", "0", "--random-seed", "2026"],
    )

    assert result.exit_code == 0, result.output
    with database.read() as session:
        seeded = catalog.list_products(session, limit=100).items
        described = [p.description for p in seeded if p.description]
    assert 0 < len(described) < len(seeded)
    assert any("\n" in text for text in described)


def test_seed_if_empty_leaves_a_store_with_data_alone(cli: CliRunner, database: Database) -> None:
    factories.customer(database)

    result = cli.invoke(app, ["seed", "--if-empty", "--orders", "10"])

    assert result.exit_code == 0, result.output
    assert "nothing seeded" in result.output
    with database.read() as session:
        assert order_service.count_orders(session) == 0


def test_process_all_pending_summarises_successes_and_failures_by_reason(
    cli: CliRunner, database: Database
) -> None:
    rich = factories.customer(database, balance=100_00)
    broke = factories.customer(database, balance=0)
    cake = factories.product(database, price=5_00, stock=10)
    paid_ids = [factories.order(database, rich, (cake, 2)) for _ in range(3)]
    unpaid = factories.order(database, broke, (cake, 1))

    result = cli.invoke(app, ["orders", "process", "--all-pending", "--batch-size", "2"])

    assert result.exit_code == 3, result.output
    assert "processed" in result.output
    assert "insufficient_balance" in result.output
    assert all(order_status(database, order_id) == "processed" for order_id in paid_ids)
    assert order_status(database, unpaid) == "pending"
    assert factories.stock_of(database, cake) == 4
    assert factories.balance_of(database, rich) == 70_00


def test_process_named_orders_by_id_and_number_with_a_strategy(
    cli: CliRunner, database: Database
) -> None:
    customer = factories.customer(database)
    scarce = factories.product(database, price=1_00, stock=1)
    first = factories.order(database, customer, (scarce, 3))
    second = factories.order(database, customer, (scarce, 1))
    with database.read() as session:
        second_number = order_views.get_order(session, second).number

    result = cli.invoke(
        app, ["orders", "process", str(first), second_number, "--strategy", "ignore"]
    )

    assert result.exit_code == 0, result.output
    with database.read() as session:
        ignored = order_views.get_order(session, first)
        sold = order_views.get_order(session, second)
    assert ignored.lines[0].quantity == 0
    assert sold.lines[0].quantity == 1
    assert factories.stock_of(database, scarce) == 0


def summary_row(output: str, label: str) -> list[str]:
    """The cells of the summary or failure table row that starts with ``label``."""
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if cells and cells[0] == label:
            return cells
    raise AssertionError(f"no row {label!r} in:\n{output}")


def test_process_summary_counts_each_outcome_and_lists_the_failed_orders(
    cli: CliRunner, database: Database
) -> None:
    rich = factories.customer(database, balance=100_00)
    broke = factories.customer(database, balance=0)
    cake = factories.product(database, price=5_00, stock=10)
    for _ in range(2):
        factories.order(database, rich, (cake, 1))
    unpaid = factories.order(database, broke, (cake, 1))
    with database.read() as session:
        unpaid_number = order_views.get_order(session, unpaid).number

    result = cli.invoke(app, ["orders", "process", "--all-pending"])

    assert result.exit_code == 3, result.output
    assert summary_row(result.output, "processed") == ["processed", "2"]
    assert summary_row(result.output, "failed: insufficient_balance")[1] == "1"
    assert summary_row(result.output, "total") == ["total", "3"]
    assert "Failed orders" in result.output
    assert summary_row(result.output, unpaid_number)[1] == "insufficient_balance"
    assert "Can't process order" in summary_row(result.output, unpaid_number)[2]


def test_process_with_flow_advance_reports_orders_awaiting_payment_not_processed(
    cli: CliRunner, database: Database
) -> None:
    customer = factories.customer(database, balance=0)
    cake = factories.product(database, price=5_00, stock=10)
    for _ in range(3):
        factories.order(database, customer, (cake, 1))

    result = cli.invoke(app, ["orders", "process", "--all-pending", "--flow", "advance"])

    assert result.exit_code == 0, result.output
    assert summary_row(result.output, "awaiting_payment") == ["awaiting_payment", "3"]
    assert all(not line.lstrip("│ ").startswith("processed") for line in result.output.splitlines())
    assert "Failed orders" not in result.output


def test_process_lists_twenty_failed_orders_and_counts_the_rest(
    cli: CliRunner, database: Database
) -> None:
    broke = factories.customer(database, balance=0)
    cake = factories.product(database, stock=100)
    for _ in range(23):
        factories.order(database, broke, (cake, 1))

    result = cli.invoke(app, ["orders", "process", "--all-pending", "--batch-size", "10"])

    assert result.exit_code == 3, result.output
    assert summary_row(result.output, "failed: insufficient_balance")[1] == "23"
    listed = [line for line in result.output.splitlines() if "│ insufficient_balance" in line]
    assert len(listed) == 20
    assert "… and 3 more failed order(s)" in result.output


@pytest.mark.parametrize("ref", ["99999", "2026-99999"])
def test_processing_an_order_that_does_not_exist_is_a_failed_order_by_id_or_number(
    cli: CliRunner, database: Database, ref: str
) -> None:
    customer = factories.customer(database)
    real = factories.order(database, customer, (factories.product(database), 1))

    result = cli.invoke(app, ["orders", "process", str(real), ref])

    assert result.exit_code == 3, result.output
    assert summary_row(result.output, "processed") == ["processed", "1"]
    assert summary_row(result.output, "failed: order_not_found") == [
        "failed: order_not_found",
        "1",
    ]
    assert summary_row(result.output, ref) == [
        ref,
        "order_not_found",
        f"Order {ref} does not exist.",
    ]
    assert order_status(database, real) == "processed"


def test_a_ref_that_is_neither_id_nor_number_processes_nothing(
    cli: CliRunner, database: Database
) -> None:
    customer = factories.customer(database)
    pending = factories.order(database, customer, (factories.product(database), 1))

    result = cli.invoke(app, ["orders", "process", str(pending), "pending"])

    assert result.exit_code == 2
    assert "'pending' is neither an order id" in result.output
    assert order_status(database, pending) == "pending"


def test_show_prints_an_order_by_number_and_as_json(cli: CliRunner, database: Database) -> None:
    customer = factories.customer(database)
    product = factories.product(database, price=12_50, name="Lemon cake")
    order_id = factories.order(database, customer, (product, 2))
    with database.read() as session:
        number = order_views.get_order(session, order_id).number

    table = cli.invoke(app, ["orders", "show", number])
    as_json = cli.invoke(app, ["orders", "show", str(order_id), "--json"])

    assert table.exit_code == 0, table.output
    assert number in table.output
    assert "Lemon cake" in table.output
    assert "25.00" in table.output
    assert json.loads(as_json.output)["total"] == "25.00"


@pytest.mark.parametrize(
    ("args", "exit_code", "message"),
    [
        (["orders", "show", "999"], 3, "error[order_not_found]: Order 999 does not exist"),
        (["orders", "show", "2026-0001x"], 2, "'2026-0001x' is neither an order id"),
        (["orders", "process"], 2, "error[validation_error]: give order ids/numbers"),
        (["orders", "process", "1", "--all-pending"], 2, "not both"),
        (["orders", "process", "abc"], 2, "'abc' is neither an order id"),
        (["orders", "process", "1", "2026-1x"], 2, "'2026-1x' is neither an order id"),
        (["orders", "process", "--all-pending", "--strategy", "maybe"], 2, "maybe"),
        (["seed", "--orders", "-1"], 2, "greater than or equal to 0"),
        (["db", "reset"], 2, "error[validation_error]: refusing to reset without confirmation"),
    ],
)
def test_bad_input_gets_a_message_and_a_non_zero_exit_without_a_traceback(
    cli: CliRunner, args: list[str], exit_code: int, message: str
) -> None:
    result = cli.invoke(app, args)

    assert result.exit_code == exit_code
    assert message in result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


def test_seeding_orders_without_customers_is_refused_clearly(cli: CliRunner) -> None:
    result = cli.invoke(app, ["seed", "--customers", "0", "--products", "0", "--orders", "5"])

    assert result.exit_code == 2
    assert "error[validation_error]: seeding orders needs at least one customer" in result.output


def test_db_reset_with_yes_empties_the_store(cli: CliRunner, database: Database) -> None:
    factories.customer(database)
    database.dispose()

    result = cli.invoke(app, ["db", "reset", "--yes"])

    assert result.exit_code == 0, result.output
    assert factories.customer(database) == 1  # ids restart: the tables were recreated


def test_db_upgrade_creates_the_schema_of_an_empty_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("ORDERMILL_DATABASE_URL", url)
    get_settings.cache_clear()

    result = CliRunner().invoke(app, ["db", "upgrade"])

    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    assert f"Created the schema at revision {head}" in result.output
    tables = set(inspect(create_engine(url)).get_table_names())
    assert {"customers", "products", "orders", "order_lines", "alembic_version"} <= tables


def test_serve_migrates_the_database_before_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'served.db'}"
    monkeypatch.setenv("ORDERMILL_DATABASE_URL", url)
    monkeypatch.setenv("ORDERMILL_FORWARDED_ALLOW_IPS", "10.0.0.5")
    get_settings.cache_clear()
    served: dict[str, object] = {}

    def fake_run(app_path: str, **options: object) -> None:
        served["tables"] = set(inspect(create_engine(url)).get_table_names())
        served.update(options, app=app_path)

    monkeypatch.setattr(uvicorn, "run", fake_run)

    result = CliRunner().invoke(app, ["serve", "--port", "8123"])

    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "orders" in served["tables"]  # type: ignore[operator]
    assert served["app"] == "ordermill.web.app:serve_app"
    assert served["port"] == 8123
    assert served["forwarded_allow_ips"] == "10.0.0.5"
    assert "back office: http://127.0.0.1:8123/admin" in result.output
    assert "storefront:  http://127.0.0.1:8123/ " in result.output


def test_a_served_app_sets_what_it_built_aside_from_the_garbage_collector(tmp_path: Path) -> None:
    # In a process of its own: freezing is for a server's lifetime, not a test run's.
    script = (
        "import gc\n"
        "from ordermill.web.app import serve_app\n"
        "app = serve_app()\n"
        "print(gc.get_freeze_count(), len(gc.get_objects(generation=2)))\n"
    )
    env = {**os.environ, "ORDERMILL_DATABASE_URL": f"sqlite:///{tmp_path / 'gc.db'}"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stderr
    frozen, walked = map(int, done.stdout.split())
    assert frozen > 50_000  # the app, its routes, models and tables
    assert walked < 1_000  # what a full collection walks now
