"""Webhooks delivered end to end: events from the API, the worker, and a real HTTP
receiver on loopback that verifies every request as a Standard Webhooks receiver does."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from standardwebhooks.webhooks import Webhook

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.notify.webhooks import WebhookChannel
from ordermill.notify.worker import Worker
from ordermill.web.app import create_app
from tests import factories
from tests.api.helpers import place_order, process
from tests.notify.receiver import Answer, Receiver, running_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def hook_settings(database: Database, **fields: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database.url,
        "webhook_allow_private": True,  # the receiver is on loopback
        "delivery_retry_schedule": [0.01],
        "webhook_timeout_seconds": 2.0,
    }
    return Settings(**(values | fields))


@pytest.fixture
def settings(database: Database) -> Settings:
    return hook_settings(database)


@pytest.fixture
def admin(database: Database, settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings, database)
    token = factories.token_for(database, factories.user(database, role="admin"))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        test_client.headers["Authorization"] = f"Bearer {token}"
        yield test_client


@pytest.fixture
def worker_for(database: Database) -> Iterator[Callable[[Settings], Worker]]:
    """Workers sending webhooks only, one at a time, with the settings a test gives."""
    made: list[Worker] = []

    def make(settings: Settings) -> Worker:
        made.append(Worker(database, settings, [WebhookChannel(settings)], concurrency=1))
        return made[-1]

    yield make
    for running in made:
        running.stop()
        running._pool.shutdown(wait=True)


@pytest.fixture
def worker(worker_for: Callable[[Settings], Worker], settings: Settings) -> Worker:
    return worker_for(settings)


def deliver_until_settled(worker: Worker, admin: TestClient, webhook_id: int) -> None:
    """Run the worker until the webhook has nothing pending (retries come due quickly)."""
    for _ in range(100):
        worker.run_once()
        rows = admin.get(f"/api/webhooks/{webhook_id}/deliveries").json()
        if all(row["status"] != "pending" for row in rows):
            return
        time.sleep(0.02)
    raise AssertionError(f"deliveries still pending: {rows}")


def register(admin: TestClient, url: str, events: list[str] | None = None) -> dict[str, Any]:
    response = admin.post("/api/webhooks", json={"url": url, "events": events or []})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def verified(secret: str, received: Any) -> dict[str, Any]:
    payload: dict[str, Any] = Webhook(secret).verify(received.body, received.headers)
    return payload


def shop(admin: TestClient) -> tuple[int, int]:
    customer = factories.api_customer(admin)
    product = factories.api_product(admin, price="12.50", stock=5)
    return customer["id"], product["id"]


# ---------------------------------------------------------------- what arrives


def test_each_order_event_arrives_once_signed_with_the_order_as_the_api_shows_it(
    admin: TestClient, worker: Worker, receiver: Receiver
) -> None:
    hook = register(admin, receiver.url("/all"))
    customer_id, product_id = shop(admin)

    order = place_order(admin, customer_id, (product_id, 2))
    worker.run_once()
    as_placed = admin.get(f"/api/orders/{order['id']}").json()
    assert process(admin, order["id"]).status_code == 200
    worker.run_once()
    as_processed = admin.get(f"/api/orders/{order['id']}").json()

    arrived = receiver.at("/all")
    payloads = [verified(hook["secret"], request) for request in arrived]
    assert [p["type"] for p in payloads] == ["order.created", "order.processed"]
    assert payloads[0]["data"]["order"] == as_placed
    assert payloads[1]["data"]["order"] == as_processed
    assert payloads[1]["data"]["order"]["total"] == "25.00"
    ids = [request.headers["webhook-id"] for request in arrived]
    assert len(set(ids)) == 2
    assert all(i.startswith("msg_") for i in ids)
    for request in arrived:
        assert request.headers["content-type"] == "application/json"
        assert request.headers["user-agent"].startswith("ordermill/")
        assert payloads[0]["timestamp"].endswith("Z")


def test_the_worker_keeps_its_connection_to_a_receiver_that_answers_without_a_body(
    admin: TestClient, worker: Worker, receiver: Receiver
) -> None:
    register(admin, receiver.url("/kept"))
    customer_id, product_id = shop(admin)
    for _ in range(4):
        place_order(admin, customer_id, (product_id, 1))

    worker.run_once()

    assert len(receiver.at("/kept")) == 4
    assert receiver.connections == 1  # one sending thread, one connection


def test_an_answer_with_a_body_is_left_unread_and_its_connection_closed(
    admin: TestClient, worker: Worker, receiver: Receiver
) -> None:
    register(admin, receiver.url("/talkative"))
    receiver.answer("/talkative", *[Answer(200, body=b'{"ok": true}') for _ in range(3)])
    customer_id, product_id = shop(admin)
    for _ in range(3):
        place_order(admin, customer_id, (product_id, 1))

    worker.run_once()

    assert len(receiver.at("/talkative")) == 3
    assert receiver.connections == 3


def test_an_endpoint_receives_only_the_events_it_subscribed_to(
    admin: TestClient, worker: Worker, receiver: Receiver
) -> None:
    hook = register(admin, receiver.url("/processed"), ["order.processed"])
    customer_id, product_id = shop(admin)

    order = place_order(admin, customer_id, (product_id, 1))
    process(admin, order["id"])
    worker.run_once()

    arrived = receiver.at("/processed")
    assert [verified(hook["secret"], r)["type"] for r in arrived] == ["order.processed"]


def test_a_ping_arrives_only_at_the_endpoint_pinged(
    admin: TestClient, worker: Worker, receiver: Receiver
) -> None:
    pinged = register(admin, receiver.url("/pinged"))
    register(admin, receiver.url("/other"))

    assert admin.post(f"/api/webhooks/{pinged['id']}/ping").status_code == 202
    worker.run_once()

    (request,) = receiver.at("/pinged")
    payload = verified(pinged["secret"], request)
    assert payload["type"] == "webhook.ping"
    assert payload["data"] == {"webhook_id": pinged["id"]}
    assert receiver.at("/other") == []


# ---------------------------------------------------------------- how failures go


def test_a_receiver_failing_twice_gets_the_message_again_and_then_has_it_once(
    admin: TestClient, worker: Worker, receiver: Receiver
) -> None:
    hook = register(admin, receiver.url("/flaky"))
    receiver.answer("/flaky", Answer(500), Answer(500), Answer(200))

    admin.post(f"/api/webhooks/{hook['id']}/ping")
    deliver_until_settled(worker, admin, hook["id"])

    arrived = receiver.at("/flaky")
    assert len(arrived) == 3
    assert len({r.headers["webhook-id"] for r in arrived}) == 1  # one message, three tries
    assert len({r.body for r in arrived}) == 1
    (row,) = admin.get(f"/api/webhooks/{hook['id']}/deliveries").json()
    assert row["status"] == "sent"
    assert row["attempts"] == 3
    assert row["response_code"] == 200
    assert row["sent"] is not None


def test_a_429_is_tried_again_no_sooner_than_retry_after_says(
    admin: TestClient, worker: Worker, receiver: Receiver
) -> None:
    hook = register(admin, receiver.url("/busy"))
    receiver.answer("/busy", Answer(429, {"Retry-After": "1"}))

    admin.post(f"/api/webhooks/{hook['id']}/ping")
    worker.run_once()
    worker.run_once()  # the 0.01 s schedule alone would have made it due

    assert len(receiver.at("/busy")) == 1
    (row,) = admin.get(f"/api/webhooks/{hook['id']}/deliveries").json()
    assert row["status"] == "pending"
    assert row["response_code"] == 429
    assert row["next_attempt"] is not None
    time.sleep(1.1)
    worker.run_once()
    assert len(receiver.at("/busy")) == 2
    assert admin.get(f"/api/webhooks/{hook['id']}/deliveries").json()[0]["status"] == "sent"


@pytest.mark.parametrize(
    ("answer", "code"),
    [(Answer(410), 410), (Answer(302, {"Location": "http://127.0.0.1:1/elsewhere"}), 302)],
    ids=["gone", "redirect"],
)
def test_a_refusal_or_a_redirect_fails_at_once(
    admin: TestClient, worker: Worker, receiver: Receiver, answer: Answer, code: int
) -> None:
    hook = register(admin, receiver.url("/refusing"))
    receiver.answer("/refusing", answer)

    admin.post(f"/api/webhooks/{hook['id']}/ping")
    deliver_until_settled(worker, admin, hook["id"])

    assert len(receiver.at("/refusing")) == 1
    assert [r.path for r in receiver.received] == ["/refusing"]  # the redirect not followed
    (row,) = admin.get(f"/api/webhooks/{hook['id']}/deliveries").json()
    assert row["status"] == "failed"
    assert row["attempts"] == 1
    assert row["response_code"] == code
    assert f"HTTP {code}" in row["last_error"]
    assert row["next_attempt"] is None


def test_a_receiver_too_slow_to_answer_is_tried_again(
    database: Database,
    admin: TestClient,
    receiver: Receiver,
    worker_for: Callable[[Settings], Worker],
) -> None:
    slow = worker_for(
        hook_settings(database, webhook_timeout_seconds=0.2, delivery_retry_schedule=[60])
    )
    hook = register(admin, receiver.url("/slow"))
    receiver.answer("/slow", Answer(200, delay=1.0))

    admin.post(f"/api/webhooks/{hook['id']}/ping")
    slow.run_once()

    (row,) = admin.get(f"/api/webhooks/{hook['id']}/deliveries").json()
    assert row["status"] == "pending"
    assert row["response_code"] is None
    assert "no answer within" in row["last_error"]


def test_a_private_address_is_refused_again_at_delivery(
    database: Database,
    admin: TestClient,
    receiver: Receiver,
    worker_for: Callable[[Settings], Worker],
) -> None:
    """Registered while private addresses were allowed, sent by a worker that doesn't allow them."""
    strict = worker_for(hook_settings(database, webhook_allow_private=False))
    hook = register(admin, receiver.url("/inside"))

    admin.post(f"/api/webhooks/{hook['id']}/ping")
    strict.run_once()

    assert receiver.received == []
    (row,) = admin.get(f"/api/webhooks/{hook['id']}/deliveries").json()
    assert row["status"] == "failed"
    assert row["attempts"] == 1
    assert "127.0.0.1" in row["last_error"]


def test_an_endpoint_failing_longer_than_the_disable_period_is_disabled_and_says_why(
    database: Database,
    admin: TestClient,
    receiver: Receiver,
    worker_for: Callable[[Settings], Worker],
) -> None:
    impatient = worker_for(hook_settings(database, webhook_disable_after_hours=1e-6))
    hook = register(admin, receiver.url("/down"))
    receiver.answer("/down", *[Answer(503)] * 20)

    admin.post(f"/api/webhooks/{hook['id']}/ping")
    admin.post(f"/api/webhooks/{hook['id']}/ping")
    for _ in range(20):
        impatient.run_once()
        if not admin.get(f"/api/webhooks/{hook['id']}").json()["enabled"]:
            break
        time.sleep(0.02)

    shown = admin.get(f"/api/webhooks/{hook['id']}").json()
    assert shown["enabled"] is False
    assert "failing since" in shown["disabled_reason"]
    assert "HTTP 503" in shown["disabled_reason"]
    rows = admin.get(f"/api/webhooks/{hook['id']}/deliveries").json()
    assert {row["status"] for row in rows} == {"cancelled"}
    seen = len(receiver.at("/down"))
    impatient.run_once()
    assert len(receiver.at("/down")) == seen  # nothing more is sent


# ---------------------------------------------------------------- secrets and redelivery


def test_during_the_overlap_each_secret_verifies_its_own_signature(
    admin: TestClient, worker: Worker, receiver: Receiver
) -> None:
    hook = register(admin, receiver.url("/rotated"))
    new_secret = admin.post(f"/api/webhooks/{hook['id']}/rotate-secret").json()["secret"]

    admin.post(f"/api/webhooks/{hook['id']}/ping")
    worker.run_once()

    (request,) = receiver.at("/rotated")
    signatures = request.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    assert all(s.startswith("v1,") for s in signatures)
    for secret, signature in zip([new_secret, hook["secret"]], signatures, strict=True):
        alone = request.headers | {"webhook-signature": signature}
        assert Webhook(secret).verify(request.body, alone)["type"] == "webhook.ping"


def test_redelivery_sends_the_same_message_with_the_same_webhook_id(
    admin: TestClient, worker: Worker, receiver: Receiver
) -> None:
    hook = register(admin, receiver.url("/again"))
    admin.post(f"/api/webhooks/{hook['id']}/ping")
    worker.run_once()
    (first,) = admin.get(f"/api/webhooks/{hook['id']}/deliveries").json()

    response = admin.post(f"/api/webhooks/{hook['id']}/deliveries/{first['id']}/redeliver")
    assert response.status_code == 202, response.text
    again = response.json()
    assert again["status"] == "pending"
    assert again["event_id"] == first["event_id"]
    assert again["id"] != first["id"]
    worker.run_once()

    one, two = receiver.at("/again")
    assert one.headers["webhook-id"] == two.headers["webhook-id"]
    assert one.body == two.body
    listed = admin.get(f"/api/webhooks/{hook['id']}/deliveries").json()
    assert [row["id"] for row in listed] == [again["id"], first["id"]]  # newest first
    assert [row["status"] for row in listed] == ["sent", "sent"]
    assert listed[0]["event_type"] == "webhook.ping"


def test_the_deliveries_list_is_paginated(
    admin: TestClient, worker: Worker, receiver: Receiver
) -> None:
    hook = register(admin, receiver.url("/paged"))
    for _ in range(3):
        admin.post(f"/api/webhooks/{hook['id']}/ping")
    worker.run_once()

    first = admin.get(f"/api/webhooks/{hook['id']}/deliveries?limit=2")
    assert len(first.json()) == 2
    assert 'rel="next"' in first.headers["link"]
    cursor = first.headers["link"].split("cursor=")[1].split(">")[0]
    rest = admin.get(f"/api/webhooks/{hook['id']}/deliveries?limit=2&cursor={cursor}").json()
    ids = [row["id"] for row in first.json() + rest]
    assert ids == sorted(ids, reverse=True)
    assert len(ids) == 3


def test_a_deleted_webhook_receives_nothing_more(
    admin: TestClient, worker: Worker, receiver: Receiver
) -> None:
    hook = register(admin, receiver.url("/deleted"))
    admin.post(f"/api/webhooks/{hook['id']}/ping")
    worker.run_once()
    admin.post(f"/api/webhooks/{hook['id']}/ping")  # not sent yet when it is deleted

    assert admin.delete(f"/api/webhooks/{hook['id']}").status_code == 204
    worker.run_once()

    assert len(receiver.at("/deleted")) == 1
    assert json.loads(receiver.at("/deleted")[0].body)["type"] == "webhook.ping"
