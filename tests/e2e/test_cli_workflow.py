"""The workflow's commands: drawing it, listing an order's actions, expiring unpaid
orders, and reconciling the stock."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text, update
from typer.testing import CliRunner

from ordermill import plugins
from ordermill.cli import app
from ordermill.db import Database
from ordermill.domain.workflow import PaymentFlow, to_dot
from ordermill.models import utcnow
from ordermill.services import batches, catalog, order_views, processing, workflow
from ordermill.services.inventory import check_stock
from ordermill.services.order_views import OrderView
from ordermill.services.tables import orders
from tests import factories

DOCS = Path(__file__).resolve().parents[2] / "docs"


def awaiting_payment(database: Database, *, age: timedelta, quantity: int = 2) -> tuple[int, int]:
    """An order processed with flow advance ``age`` ago: (order id, product id)."""
    customer = factories.customer(database)
    product = factories.product(database, stock=10)
    order_id = factories.order(database, customer, (product, quantity))
    with database.write() as session:
        processing.process_order(session, order_id, flow=PaymentFlow.ADVANCE, now=utcnow() - age)
    return order_id, product


def status_of(database: Database, order_id: int) -> str:
    with database.read() as session:
        return order_views.get_order(session, order_id).status


# ---------------------------------------------------------------- workflow graph


def test_the_committed_diagram_source_matches_the_workflow_table() -> None:
    assert (DOCS / "workflow.dot").read_text() == to_dot(), (
        "redraw it: ordermill workflow graph --format dot -o docs/workflow.dot "
        "(and --format svg -o docs/workflow.svg)"
    )


def test_graph_dot_writes_the_workflow_in_graphviz_language(tmp_path: Path) -> None:
    target = tmp_path / "workflow.dot"

    result = CliRunner().invoke(app, ["workflow", "graph", "--format", "dot", "-o", str(target)])

    assert result.exit_code == 0, result.output
    source = target.read_text()
    assert source.startswith("digraph ordermill_workflow {")
    for word in ("pending", "awaiting_payment", "fulfilled", "returned", "cancel", "pay"):
        assert word in source


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_graph_svg_draws_the_workflow_with_graphviz(tmp_path: Path) -> None:
    target = tmp_path / "workflow.svg"

    result = CliRunner().invoke(app, ["workflow", "graph", "--format", "svg", "-o", str(target)])

    assert result.exit_code == 0, result.output
    svg = target.read_text()
    assert "<svg" in svg
    assert "awaiting_payment" in svg


def test_graph_svg_without_graphviz_says_how_to_get_it(tmp_path: Path) -> None:
    # Only the Python interpreter's directory on PATH: no `dot` to be found.
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": str(bin_dir), "COLUMNS": "200"}
    result = subprocess.run(
        [str(bin_dir / "ordermill"), "workflow", "graph", "-o", str(tmp_path / "w.svg")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )

    assert result.returncode == 7
    assert "apt install graphviz" in result.stderr
    assert "--format dot" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "w.svg").exists()


def test_graph_to_an_unwritable_place_is_a_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "missing-dir" / "w.dot"

    result = CliRunner().invoke(app, ["workflow", "graph", "--format", "dot", "-o", str(target)])

    assert result.exit_code == 2
    assert "can't write" in result.output


# ---------------------------------------------------------------- orders actions


def test_orders_actions_shows_what_is_allowed_and_why_not(
    cli: CliRunner, database: Database
) -> None:
    order_id, _ = awaiting_payment(database, age=timedelta(0))

    result = cli.invoke(app, ["orders", "actions", str(order_id)])

    assert result.exit_code == 0, result.output
    assert "awaiting_payment" in result.output
    fulfill_row = next(line for line in result.output.splitlines() if "fulfill" in line)
    assert "no" in fulfill_row
    assert "not_paid" in fulfill_row
    pay_row = next(line for line in result.output.splitlines() if " pay " in line)
    assert "yes" in pay_row


def test_orders_actions_of_an_unknown_order_is_a_clear_error(cli: CliRunner) -> None:
    result = cli.invoke(app, ["orders", "actions", "2026-99999"])

    assert result.exit_code == 3
    assert "does not exist" in result.output


# ---------------------------------------------------------------- orders expire


def test_expire_cancels_orders_unpaid_for_longer_and_releases_their_stock(
    cli: CliRunner, database: Database
) -> None:
    old, old_product = awaiting_payment(database, age=timedelta(hours=80), quantity=3)
    recent, recent_product = awaiting_payment(database, age=timedelta(hours=10))

    result = cli.invoke(app, ["orders", "expire", "--older-than", "72h"])

    assert result.exit_code == 0, result.output
    assert "Cancelled 1 order(s)" in result.output
    assert "releasing 3 unit(s)" in result.output
    assert status_of(database, old) == "cancelled"
    assert status_of(database, recent) == "awaiting_payment"
    assert factories.stock_of(database, old_product) == 10
    assert factories.stock_of(database, recent_product) == 8
    with database.read() as session:
        assert "expired" in (order_views.get_order(session, old).cancel_reason or "")


def test_expire_dry_run_lists_the_orders_and_changes_nothing(
    cli: CliRunner, database: Database
) -> None:
    old, product = awaiting_payment(database, age=timedelta(days=4))
    number = order_service_number(database, old)

    result = cli.invoke(app, ["orders", "expire", "--older-than", "3d", "--dry-run"])

    assert result.exit_code == 0, result.output
    assert "Would cancel 1 order(s)" in result.output
    assert number in result.output
    assert status_of(database, old) == "awaiting_payment"
    assert factories.stock_of(database, product) == 8


def test_expire_leaves_paid_processed_and_pending_orders_alone(
    cli: CliRunner, database: Database
) -> None:
    customer = factories.customer(database)
    product = factories.product(database, stock=10)
    pending = factories.order(database, customer, (product, 1))
    processed = factories.order(database, customer, (product, 1))
    long_ago = utcnow() - timedelta(days=30)
    with database.write() as session:
        processing.process_order(session, processed, now=long_ago)
        session.execute(update(orders).where(orders.c.id == pending).values(created=long_ago))

    result = cli.invoke(app, ["orders", "expire", "--older-than", "1h"])

    assert result.exit_code == 0, result.output
    assert "Cancelled 0 order(s)" in result.output
    assert status_of(database, pending) == "pending"
    assert status_of(database, processed) == "processed"


class VetoCancel:
    """A store plugin that refuses to cancel one order."""

    def __init__(self, order_id: int) -> None:
        self.order_id = order_id

    @plugins.hookimpl
    def pre_transition(self, order: OrderView, action: str, payload: Any, actor: str) -> None:
        if action == "cancel" and order.id == self.order_id:
            raise RuntimeError("held for a phone payment")


def test_expire_lists_the_orders_it_could_not_cancel_and_exits_3(
    cli: CliRunner, database: Database
) -> None:
    expired, _ = awaiting_payment(database, age=timedelta(days=5))
    kept, _ = awaiting_payment(database, age=timedelta(days=5))
    kept_number = order_service_number(database, kept)

    with plugins.registered(VetoCancel(kept)):
        result = cli.invoke(app, ["orders", "expire", "--older-than", "3d"])

    assert result.exit_code == 3, result.output
    assert "Cancelled 1 order(s)" in result.output
    assert "Failed orders" in result.output
    row = next(line for line in result.output.splitlines() if kept_number in line)
    assert "vetoed" in row
    assert status_of(database, expired) == "cancelled"
    assert status_of(database, kept) == "awaiting_payment"


def test_expire_says_which_orders_were_paid_meanwhile(
    cli: CliRunner, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    paid, _ = awaiting_payment(database, age=timedelta(days=5))
    listed = batches.expirable

    def expirable_then_paid(*args: Any, **kwargs: Any) -> list[workflow.Expired]:
        candidates = listed(*args, **kwargs)
        if candidates:
            with database.write() as session:
                workflow.pay(session, paid, amount=20_00, method="card")
        return candidates

    monkeypatch.setattr(batches, "expirable", expirable_then_paid)

    result = cli.invoke(app, ["orders", "expire", "--older-than", "3d"])

    assert result.exit_code == 0, result.output
    assert "Cancelled 0 order(s)" in result.output
    assert "1 order(s) were paid or cancelled meanwhile and stay as they are." in result.output
    assert status_of(database, paid) == "processed"


@pytest.mark.parametrize("bad", ["72", "0h", "-3h", "3 days", "h", "1y"])
def test_expire_refuses_a_duration_it_cannot_read(cli: CliRunner, bad: str) -> None:
    result = cli.invoke(app, ["orders", "expire", "--older-than", bad])

    assert result.exit_code == 2
    assert "is not a duration like 90m, 72h, 3d or 2w" in result.output


def order_service_number(database: Database, order_id: int) -> str:
    with database.read() as session:
        return order_views.get_order(session, order_id).number


# ---------------------------------------------------------------- stock check


def test_stock_check_passes_when_every_unit_is_accounted_for(
    cli: CliRunner, database: Database
) -> None:
    customer = factories.customer(database, balance=1_000_00)
    product = factories.product(database, stock=10)
    shipped = factories.order(database, customer, (product, 3))
    cancelled = factories.order(database, customer, (product, 2))
    returned = factories.order(database, customer, (product, 4))
    with database.write() as session:
        for order_id in (shipped, cancelled, returned):
            processing.process_order(session, order_id)
        workflow.fulfill(session, shipped)
        workflow.cancel(session, cancelled, reason="test")
        workflow.fulfill(session, returned)
        view = order_views.get_order(session, returned)
        workflow.return_order(
            session, returned, lines=[workflow.ReturnLine(view.lines[0].id, 2, restock=True)]
        )
    factories.product(database, stock=0)

    result = cli.invoke(app, ["stock", "check"])

    assert result.exit_code == 0, result.output
    assert "Stock reconciles for all 2 products." in result.output


def test_stock_check_reports_stock_changed_behind_its_back_and_exits_1(
    cli: CliRunner, database: Database
) -> None:
    customer = factories.customer(database)
    product = factories.product(database, stock=10, sku="DRIFT-1")
    order_id = factories.order(database, customer, (product, 3))
    with database.write() as session:
        processing.process_order(session, order_id)
        session.execute(
            text("UPDATE products SET stock = stock - 2 WHERE id = :id"), {"id": product}
        )

    result = cli.invoke(app, ["stock", "check"])

    assert result.exit_code == 1
    row = next(line for line in result.output.splitlines() if "DRIFT-1" in line)
    # received 10 = on shelf 5 + held by the order 3 + 2 unaccounted for
    assert row.replace("│", " ").split()[-4:] == ["10", "5", "3", "2"]
    assert "1 of 1 products drift" in result.output


def test_staff_changing_the_stock_counts_as_received(database: Database) -> None:
    product = factories.product(database, stock=4)
    with database.write() as session:
        row = catalog.get_product(session, product, for_update=True)
        catalog.update_product(session, row, catalog.ProductChanges(stock=9))
        assert check_stock(session).ok
        assert row.stock_received == 9
