"""Every change writes its events to the outbox in its own transaction, and only then."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from ordermill.db import Database
from ordermill.domain.orders import Strategy
from ordermill.domain.workflow import PaymentFlow
from ordermill.errors import OrdermillError
from ordermill.services import catalog, processing, workflow
from ordermill.services.tables import outbox_events
from tests import factories


def events(database: Database) -> list[dict[str, Any]]:
    with database.read() as session:
        rows = session.execute(select(outbox_events).order_by(outbox_events.c.id)).all()
    return [dict(row._mapping) for row in rows]


def types(database: Database) -> list[str]:
    return [event["type"] for event in events(database)]


def test_placing_writes_order_created_with_the_customer_and_total(database: Database) -> None:
    customer = factories.customer(database)
    pen = factories.product(database, price=2_50)
    order_id = factories.order(database, customer, (pen, 2))

    [created] = events(database)
    assert created["type"] == "order.created"
    assert created["order_id"] == order_id
    assert created["data"] == {"customer_id": customer, "total": 5_00}
    assert created["dispatched"] is None


def test_each_transition_writes_its_event_with_the_details_of_the_change(
    database: Database,
) -> None:
    customer = factories.customer(database, balance=100_00)
    pen = factories.product(database, price=2_50, stock=50)
    order_id = factories.order(database, customer, (pen, 2))
    with database.write() as session:
        processing.process_order(session, order_id)
        workflow.fulfill(session, order_id, carrier="DHL", tracking_number="T-1")
        workflow.deliver(session, order_id)

    assert types(database) == [
        "order.created",
        "order.processed",
        "order.fulfilled",
        "order.delivered",
    ]
    processed, fulfilled = events(database)[1:3]
    assert processed["data"]["total"] == 5_00
    assert processed["data"]["strategy"] == "adjust"
    assert fulfilled["data"]["carrier"] == "DHL"
    assert fulfilled["data"]["tracking_number"] == "T-1"


def test_processing_in_advance_says_the_order_awaits_its_payment(database: Database) -> None:
    customer = factories.customer(database, balance=0)
    pen = factories.product(database, price=2_50)
    order_id = factories.order(database, customer, (pen, 1))
    with database.write() as session:
        processing.process_order(session, order_id, flow=PaymentFlow.ADVANCE)
        workflow.pay(session, order_id, amount=2_50, method="card")

    assert types(database)[1:] == ["order.awaiting_payment", "order.paid"]


def test_a_refused_action_writes_no_event(database: Database) -> None:
    customer = factories.customer(database)
    nib = factories.product(database, stock=0)
    order_id = factories.order(database, customer, (nib, 1))
    before = types(database)

    with pytest.raises(OrdermillError), database.write() as session:
        processing.process_order(session, order_id, Strategy.REJECT)
    with pytest.raises(OrdermillError), database.write() as session:
        workflow.deliver(session, order_id)

    assert types(database) == before


def test_a_rolled_back_change_leaves_no_event(database: Database) -> None:
    customer = factories.customer(database)
    pen = factories.product(database, stock=50)
    order_id = factories.order(database, customer, (pen, 1))

    class Abandon(Exception):
        pass

    def process_then_fail() -> None:
        with database.write() as session:
            processing.process_order(session, order_id)
            raise Abandon  # the unit of work fails after the change: everything goes

    with pytest.raises(Abandon):
        process_then_fail()

    assert types(database) == ["order.created"]


def test_a_failed_member_of_a_batch_leaves_no_event_and_the_others_keep_theirs(
    database: Database,
) -> None:
    customer = factories.customer(database, balance=100_00)
    pen = factories.product(database, stock=1)
    first = factories.order(database, customer, (pen, 1))
    second = factories.order(database, customer, (pen, 1))  # no stock left for it

    with database.write() as session:
        results = processing.process_orders(session, [first, second], Strategy.REJECT)

    assert isinstance(results[second], OrdermillError)
    processed = [e for e in events(database) if e["type"] == "order.processed"]
    assert [e["order_id"] for e in processed] == [first]


def test_a_batch_writes_one_event_per_order(database: Database) -> None:
    customer = factories.customer(database, balance=1_000_00)
    pen = factories.product(database, price=1_00, stock=1_000)
    ids = [factories.order(database, customer, (pen, 1)) for _ in range(30)]

    with database.write() as session:
        processing.process_orders(session, ids)

    processed = [e["order_id"] for e in events(database) if e["type"] == "order.processed"]
    assert processed == ids


def test_stock_falling_to_the_threshold_raises_low_stock_once(database: Database) -> None:
    customer = factories.customer(database, balance=1_000_00)
    pen = factories.product(database, price=1_00, stock=8)
    with database.write() as session:
        catalog.update_product(
            session,
            catalog.get_product(session, pen),
            catalog.ProductChanges(low_stock_threshold=5),
        )
    orders = [factories.order(database, customer, (pen, 2)) for _ in range(3)]

    for order_id in orders:  # 8 -> 6 -> 4 (crosses 5) -> 2 (already low)
        with database.write() as session:
            processing.process_order(session, order_id)

    low = [e for e in events(database) if e["type"] == "product.low_stock"]
    assert len(low) == 1
    assert low[0]["product_id"] == pen
    assert low[0]["data"] == {"stock": 4, "threshold": 5}


def test_without_a_threshold_of_its_own_a_product_uses_the_store_default(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ordermill.services.outbox.store_low_stock_default", lambda: 3)
    customer = factories.customer(database, balance=1_000_00)
    pen = factories.product(database, price=1_00, stock=4)
    order_id = factories.order(database, customer, (pen, 1))

    with database.write() as session:
        processing.process_order(session, order_id)

    [low] = [e for e in events(database) if e["type"] == "product.low_stock"]
    assert low["data"] == {"stock": 3, "threshold": 3}


def test_staff_lowering_the_stock_past_the_threshold_raises_low_stock(
    database: Database,
) -> None:
    pen = factories.product(database, stock=20)
    with database.write() as session:
        product = catalog.get_product(session, pen)
        catalog.update_product(session, product, catalog.ProductChanges(low_stock_threshold=10))
        catalog.update_product(session, product, catalog.ProductChanges(stock=12))
        catalog.update_product(session, product, catalog.ProductChanges(stock=9))
        catalog.update_product(session, product, catalog.ProductChanges(stock=30))

    low = [e for e in events(database) if e["type"] == "product.low_stock"]
    assert [(e["product_id"], e["data"]["stock"]) for e in low] == [(pen, 9)]


def test_staff_see_each_message_on_the_orders_timeline_and_customers_do_not(
    database: Database, client: Any
) -> None:
    from ordermill.config import Settings
    from ordermill.notify.channels import Failed, Retry
    from ordermill.notify.worker import Worker
    from tests.notify.recorder import Recorder

    customer = factories.customer(database)
    pen = factories.product(database)
    order_id = factories.order(database, customer, (pen, 1))
    with database.write() as session:
        processing.process_order(session, order_id)
    settings = Settings(database_url=database.url, delivery_retry_schedule=[60.0])
    outcomes = [Failed("550 mailbox unavailable", 550), Retry("451 try again later")]
    Worker(database, settings, [Recorder(outcomes)], concurrency=1).run_once()

    timeline = client.get(f"/api/orders/{order_id}/events").json()

    kinds = [entry["kind"] for entry in timeline]
    assert kinds == ["created", "processed", "payment", "notification", "notification"]
    created_mail, processed_mail = timeline[3:]
    assert created_mail["visibility"] == "staff"
    assert created_mail["detail"] == {
        "event": "order.created",
        "channel": "email",
        "audience": "customer",
        "recipient": created_mail["detail"]["recipient"],
        "status": "failed",
        "attempts": 1,
        "error": "550 mailbox unavailable",
    }
    assert processed_mail["detail"]["event"] == "order.processed"
    assert processed_mail["detail"]["status"] == "retrying"
    assert processed_mail["detail"]["error"] == "451 try again later"
    next_attempt = datetime.fromisoformat(processed_mail["detail"]["next_attempt"])
    assert next_attempt > datetime.fromisoformat(processed_mail["at"])
    with database.read() as session:
        from ordermill.services import timeline as timeline_service

        seen_by_customer = timeline_service.list_events(session, order_id, customer_id=customer)
    assert "notification" not in [event.kind for event in seen_by_customer]
