"""Store plugins: hooks around every transition (which may veto it) and hooks that fill an
order's ``extra`` data from the cart at checkout; plugins load from the ``ordermill``
entry-point group."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from ordermill import plugins
from ordermill.db import Database
from ordermill.domain.orders import Strategy
from ordermill.domain.workflow import PaymentFlow
from ordermill.errors import Conflict, OrdermillError
from ordermill.services import carts, processing, workflow
from ordermill.services.audit import Actor
from ordermill.services.order_views import OrderView, get_order
from ordermill.services.tables import (
    cart_items,
    ledger_entries,
    order_events,
    outbox_events,
    payments,
)
from ordermill.services.tables import carts as carts_table
from tests.factories import balance_of, customer, order, product, stock_of

STAFF = Actor("staff@example.com")
PYTHON = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "python"


class Veto(Exception):
    """What a store plugin raises to say no."""


@dataclass
class RecordingPlugin:
    """Records every hook call; vetoes the actions (and orders) it is told to."""

    veto_pre: set[str] = field(default_factory=set)  # actions
    veto_post: set[str] = field(default_factory=set)
    veto_orders: set[int] | None = None  # None: every order
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def _vetoes(self, actions: set[str], action: str, order: OrderView) -> bool:
        return action in actions and (self.veto_orders is None or order.id in self.veto_orders)

    @plugins.hookimpl
    def pre_transition(
        self, order: OrderView, action: str, payload: dict[str, Any], actor: str
    ) -> None:
        self.calls.append(
            ("pre", action, {"order": order.id, "status": order.status, "payload": payload})
        )
        if self._vetoes(self.veto_pre, action, order):
            raise Veto(f"no {action} today")

    @plugins.hookimpl
    def post_transition(
        self, order: OrderView, action: str, previous_status: str, actor: str
    ) -> None:
        self.calls.append(
            (
                "post",
                action,
                {
                    "order": order.id,
                    "status": order.status,
                    "previous": previous_status,
                    "actor": actor,
                },
            )
        )
        if self._vetoes(self.veto_post, action, order):
            raise Veto(f"{action} undone")


@dataclass(frozen=True)
class State:
    status: str
    paid: int
    stock: int
    balance: int
    ledger: int
    events: int
    payments: int


def state(database: Database, order_id: int, product_id: int) -> State:
    with database.read() as session:
        view = get_order(session, order_id)

        def count(table: Any) -> int:
            return int(session.execute(select(func.count()).select_from(table)).scalar_one())

        ledger, events, paid_rows = count(ledger_entries), count(order_events), count(payments)
    return State(
        view.status,
        view.paid,
        stock_of(database, product_id),
        balance_of(database, view.customer_id),
        ledger,
        events,
        paid_rows,
    )


def process(database: Database, order_id: int, flow: PaymentFlow = PaymentFlow.BALANCE) -> None:
    with database.write() as session:
        processing.process_order(session, order_id, Strategy.ADJUST, flow=flow, actor=STAFF)


def new_order(database: Database) -> tuple[int, int]:
    """A pending order for 2 pens (10.00) by a customer with 50.00: (order_id, pen)."""
    buyer = customer(database, balance=50_00)
    pen = product(database, price=5_00, stock=10)
    return order(database, buyer, (pen, 2)), pen


def test_no_plugin_is_installed_in_the_test_environment() -> None:
    # The other tests rely on their own plugin being the only one.
    assert not plugins.has("pre_transition")
    assert not plugins.has("post_transition")


# ---------------------------------------------------------------- transition hooks


def test_hooks_see_every_transition_before_and_after_with_its_payload(database: Database) -> None:
    order_id, _ = new_order(database)
    recorder = RecordingPlugin()

    with plugins.registered(recorder):
        process(database, order_id)
        with database.write() as session:
            workflow.fulfill(session, order_id, carrier="DHL", tracking_number="T1", actor=STAFF)

    assert recorder.calls == [
        (
            "pre",
            "process",
            {
                "order": order_id,
                "status": "pending",
                "payload": {"strategy": "adjust", "flow": "balance"},
            },
        ),
        (
            "post",
            "process",
            {
                "order": order_id,
                "status": "processed",
                "previous": "pending",
                "actor": STAFF.label,
            },
        ),
        (
            "pre",
            "fulfill",
            {
                "order": order_id,
                "status": "processed",
                "payload": {"carrier": "DHL", "tracking_number": "T1"},
            },
        ),
        (
            "post",
            "fulfill",
            {
                "order": order_id,
                "status": "fulfilled",
                "previous": "processed",
                "actor": STAFF.label,
            },
        ),
    ]


def test_a_plugin_is_called_only_while_registered(database: Database) -> None:
    order_id, _ = new_order(database)
    recorder = RecordingPlugin()
    with plugins.registered(recorder):
        assert plugins.has("post_transition")

    process(database, order_id)

    assert recorder.calls == []
    assert not plugins.has("post_transition")


def test_a_refused_transition_reaches_no_hook(database: Database) -> None:
    order_id, _ = new_order(database)
    recorder = RecordingPlugin()

    with plugins.registered(recorder), pytest.raises(Conflict) as exc, database.write() as s:
        workflow.deliver(s, order_id)
    assert exc.value.code == "not_processed"
    assert recorder.calls == []


def test_repeating_a_transition_that_changes_nothing_reaches_no_hook(database: Database) -> None:
    order_id, _ = new_order(database)
    process(database, order_id)
    with database.write() as session:
        workflow.fulfill(session, order_id)
    recorder = RecordingPlugin()

    with plugins.registered(recorder), database.write() as session:
        workflow.fulfill(session, order_id)

    assert recorder.calls == []


@pytest.mark.parametrize("hook", ["pre", "post"])
def test_a_plugin_veto_on_process_is_a_409_and_changes_nothing(
    database: Database, hook: str
) -> None:
    order_id, pen = new_order(database)
    before = state(database, order_id, pen)
    vetoer = RecordingPlugin(
        veto_pre={"process"} if hook == "pre" else set(),
        veto_post={"process"} if hook == "post" else set(),
    )

    with plugins.registered(vetoer), pytest.raises(Conflict) as exc:
        process(database, order_id)

    assert exc.value.code == "vetoed"
    assert exc.value.detail == {"hook": f"{hook}_transition"}
    assert ("no process today" if hook == "pre" else "process undone") in exc.value.message
    assert state(database, order_id, pen) == before
    assert [(kind, action) for kind, action, _ in vetoer.calls][-1] == (hook, "process")


@pytest.mark.parametrize("hook", ["pre", "post"])
def test_a_plugin_veto_on_cancel_keeps_the_order_its_stock_and_the_money(
    database: Database, hook: str
) -> None:
    order_id, pen = new_order(database)
    process(database, order_id)
    before = state(database, order_id, pen)
    vetoer = RecordingPlugin(
        veto_pre={"cancel"} if hook == "pre" else set(),
        veto_post={"cancel"} if hook == "post" else set(),
    )

    with plugins.registered(vetoer), pytest.raises(Conflict) as exc, database.write() as s:
        workflow.cancel(s, order_id, reason="customer asked")

    assert exc.value.code == "vetoed"
    assert state(database, order_id, pen) == before
    assert before.status == "processed"


@pytest.mark.parametrize("hook", ["pre", "post"])
def test_a_plugin_veto_on_pay_records_no_payment(database: Database, hook: str) -> None:
    order_id, pen = new_order(database)
    process(database, order_id, PaymentFlow.ADVANCE)
    before = state(database, order_id, pen)
    vetoer = RecordingPlugin(
        veto_pre={"pay"} if hook == "pre" else set(),
        veto_post={"pay"} if hook == "post" else set(),
    )

    with plugins.registered(vetoer), pytest.raises(Conflict) as exc, database.write() as s:
        workflow.pay(s, order_id, amount=25_00, method="card", reference="R1")

    assert exc.value.code == "vetoed"
    assert state(database, order_id, pen) == before
    # And the reference was not used up: the same payment goes through without the plugin
    with database.write() as session:
        view = workflow.pay(session, order_id, amount=25_00, method="card", reference="R1")
    assert (view.status, view.paid) == ("processed", 10_00)


def test_a_plugins_own_domain_error_is_passed_on_as_it_is(database: Database) -> None:
    order_id, pen = new_order(database)
    before = state(database, order_id, pen)

    class StoreClosed:
        @plugins.hookimpl
        def pre_transition(self, action: str) -> None:
            raise Conflict("The store is closed for inventory.", code="store_closed")

    with plugins.registered(StoreClosed()), pytest.raises(OrdermillError) as exc:
        process(database, order_id)

    assert exc.value.code == "store_closed"
    assert state(database, order_id, pen) == before


# ---------------------------------------------------------------- a veto inside a batch


@pytest.mark.parametrize("hook", ["pre", "post"])
def test_a_veto_in_a_shared_batch_transaction_undoes_only_that_order(
    database: Database, hook: str
) -> None:
    # Given two orders processed in one transaction, the way the CLI's bulk processing does
    vetoed, pen = new_order(database)
    kept, ink = new_order(database)
    vetoed_before = state(database, vetoed, pen)
    vetoer = RecordingPlugin(
        veto_pre={"process"} if hook == "pre" else set(),
        veto_post={"process"} if hook == "post" else set(),
        veto_orders={vetoed},
    )
    outcome: dict[int, str] = {}

    # When a plugin vetoes the first one
    with plugins.registered(vetoer), database.write() as session:
        for order_id in (vetoed, kept):
            try:
                processing.process_order(session, order_id, actor=STAFF)
                outcome[order_id] = "processed"
            except OrdermillError as exc:
                outcome[order_id] = exc.code

    # Then the vetoed order left no writes and the other one committed
    assert outcome == {vetoed: "vetoed", kept: "processed"}
    after = state(database, vetoed, pen)
    assert (after.status, after.paid, after.stock, after.balance) == (
        vetoed_before.status,
        vetoed_before.paid,
        vetoed_before.stock,
        vetoed_before.balance,
    )
    with database.read() as session:
        vetoed_events = session.execute(
            select(order_events.c.kind).where(order_events.c.order_id == vetoed)
        ).all()
        vetoed_charges = session.execute(
            select(func.count())
            .select_from(ledger_entries)
            .where(ledger_entries.c.order_id == vetoed)
        ).scalar_one()
    assert [kind for (kind,) in vetoed_events] == ["created"]
    assert vetoed_charges == 0
    kept_after = state(database, kept, ink)
    assert (kept_after.status, kept_after.stock, kept_after.balance) == ("processed", 8, 40_00)


def test_a_post_veto_in_a_batch_of_process_orders_keeps_the_others(database: Database) -> None:
    vetoed, pen = new_order(database)
    kept, _ = new_order(database)
    vetoer = RecordingPlugin(veto_post={"process"}, veto_orders={vetoed})

    with plugins.registered(vetoer), database.write() as session:
        results = processing.process_orders(session, [vetoed, kept], actor=STAFF)

    assert isinstance(results[vetoed], OrdermillError)
    assert results[vetoed].code == "vetoed"  # type: ignore[union-attr]
    with database.read() as session:
        assert get_order(session, vetoed).status == "pending"
        assert get_order(session, kept).status == "processed"
        # the veto took the vetoed order's notification with it; the kept one has its own
        announced = session.execute(
            select(outbox_events.c.order_id).where(outbox_events.c.type == "order.processed")
        ).scalars()
        assert list(announced) == [kept]
    assert stock_of(database, pen) == 10


# ---------------------------------------------------------------- checkout hooks


class StoreData:
    """Copies what the store front put on the cart into the order it becomes."""

    @plugins.hookimpl
    def populate_order_from_cart(self, cart: dict[str, Any], extra: dict[str, Any]) -> None:
        extra["gift_message"] = cart["extra"].get("gift", "").upper()
        extra["items"] = len(cart["items"])
        extra.pop("session_token", None)  # not something to keep on an order

    @plugins.hookimpl
    def populate_line_from_cart_item(self, item: dict[str, Any], extra: dict[str, Any]) -> None:
        if "engraving" in item["extra"]:
            extra["engraving"] = f"{item['sku']}: {item['extra']['engraving']}"


def fill_cart(database: Database, buyer: int, pen: int, ink: int) -> None:
    """A cart with extra data set straight in the database (the API has no field for it)."""
    with database.write() as session:
        carts.set_cart_item(session, buyer, pen, 2)
        carts.set_cart_item(session, buyer, ink, 1)
        session.execute(
            update(carts_table)
            .where(carts_table.c.customer_id == buyer)
            .values(extra={"gift": "happy birthday", "session_token": "s3cr3t"})
        )
        session.execute(
            update(cart_items)
            .where(cart_items.c.product_id == pen)
            .values(extra={"engraving": "ANN", "colour": "blue"})
        )


def checkout(database: Database, buyer: int) -> OrderView:
    with database.write() as session:
        view = carts.checkout(session, buyer, currency="EUR")
    with database.read() as session:
        stored = get_order(session, view.id)
    assert stored.extra == view.extra
    return stored


def test_checkout_hooks_fill_the_order_and_its_lines_from_the_cart(database: Database) -> None:
    buyer = customer(database)
    pen = product(database, sku="PEN-X")
    ink = product(database, sku="INK-X")
    fill_cart(database, buyer, pen, ink)

    with plugins.registered(StoreData()):
        stored = checkout(database, buyer)

    assert stored.extra == {"gift": "happy birthday", "gift_message": "HAPPY BIRTHDAY", "items": 2}
    lines = {ln.product_id: ln.extra for ln in stored.lines}
    assert lines[pen] == {"engraving": "PEN-X: ANN", "colour": "blue"}
    assert lines[ink] is None


def test_without_a_plugin_checkout_copies_the_cart_data_as_it_is(database: Database) -> None:
    buyer = customer(database)
    pen = product(database)
    ink = product(database)
    fill_cart(database, buyer, pen, ink)

    stored = checkout(database, buyer)

    assert stored.extra == {"gift": "happy birthday", "session_token": "s3cr3t"}
    lines = {ln.product_id: ln.extra for ln in stored.lines}
    assert lines[pen] == {"engraving": "ANN", "colour": "blue"}
    assert lines[ink] is None


def test_a_checkout_hook_that_fails_stops_the_checkout(database: Database) -> None:
    buyer = customer(database)
    pen = product(database)
    ink = product(database)
    fill_cart(database, buyer, pen, ink)

    class Broken:
        @plugins.hookimpl
        def populate_order_from_cart(self, cart: dict[str, Any], extra: dict[str, Any]) -> None:
            raise Veto("no gift wrap left")

    with plugins.registered(Broken()), pytest.raises(Conflict) as exc, database.write() as s:
        carts.checkout(s, buyer, currency="EUR")

    assert exc.value.code == "vetoed"
    with database.read() as session:
        assert len(carts.get_cart(session, buyer).items) == 2  # the cart is still there


# ---------------------------------------------------------------- entry points


PLUGIN_MODULE = """
from ordermill.plugins import hookimpl

CALLS = []


@hookimpl
def post_transition(order, action, previous_status, actor):
    CALLS.append(action)
"""

ENTRY_POINTS = """
[ordermill]
audit_trail = storeplugin_audit
"""

METADATA = """Metadata-Version: 2.1
Name: storeplugin-audit
Version: 1.0
"""

PROBE = """
import json
from ordermill import plugins

pm = plugins.manager()
print(json.dumps({
    "names": sorted(name for name, _ in pm.list_name_plugin()),
    "post_transition": [impl.plugin_name for impl in pm.hook.post_transition.get_hookimpls()],
    "distributions": [dist.project_name for _, dist in pm.list_plugin_distinfo()],
}))
"""


def test_a_plugin_installed_under_the_ordermill_entry_point_group_is_loaded(
    tmp_path: Path,
) -> None:
    # A tiny installed package: its module and its metadata with the entry point
    (tmp_path / "storeplugin_audit.py").write_text(textwrap.dedent(PLUGIN_MODULE))
    dist_info = tmp_path / "storeplugin_audit-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(METADATA)
    (dist_info / "entry_points.txt").write_text(ENTRY_POINTS.lstrip())
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}

    result = subprocess.run(
        [str(PYTHON), "-c", PROBE],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert "audit_trail" in loaded["names"]
    assert loaded["post_transition"] == ["audit_trail"]
    assert loaded["distributions"] == ["storeplugin-audit"]


def test_without_the_package_on_the_path_no_plugin_is_loaded(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    result = subprocess.run(
        [str(PYTHON), "-c", PROBE],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["post_transition"] == []
