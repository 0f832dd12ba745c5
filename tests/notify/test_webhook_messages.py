"""What a webhook says, to whom, and which addresses it may reach: the rules alone."""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from ordermill.config import Settings
from ordermill.notify.addresses import RefusedAddress, blocked, check, pool
from ordermill.notify.channels import (
    Audience,
    ChannelName,
    Endpoint,
    EventContext,
    Failed,
    Message,
    ProductFacts,
    Retry,
)
from ordermill.notify.webhooks import WebhookChannel, message_id, retry_after
from tests.notify.receiver import running_receiver

CREATED = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
CHANNEL = WebhookChannel(Settings(database_url="sqlite://"))


def test_each_endpoint_gets_one_draft_with_the_same_body() -> None:
    endpoints = (Endpoint(1, "https://a.example/hook", ()), Endpoint(2, "https://b.example/", ()))
    event = EventContext(5, "webhook.ping", CREATED, {"webhook_id": 1}, endpoints=endpoints)

    drafts = CHANNEL.drafts(event)

    assert [(d.recipient, d.webhook_id) for d in drafts] == [
        ("https://a.example/hook", 1),
        ("https://b.example/", 2),
    ]
    assert {d.channel for d in drafts} == {ChannelName.WEBHOOK}
    assert {d.audience for d in drafts} == {Audience.ENDPOINT}
    assert drafts[0].content == drafts[1].content
    assert json.loads(drafts[0].content["body"]) == {
        "type": "webhook.ping",
        "timestamp": "2026-03-01T12:30:00Z",
        "data": {"webhook_id": 1},
    }


def test_an_event_without_endpoints_has_no_drafts() -> None:
    assert CHANNEL.drafts(EventContext(5, "order.created", CREATED, {})) == []


def test_low_stock_names_the_product_and_the_threshold() -> None:
    event = EventContext(
        6,
        "product.low_stock",
        CREATED,
        {"stock": 2, "threshold": 3},
        product=ProductFacts(9, "Teapot <b>", "TEA-1", 2),
        endpoints=(Endpoint(1, "https://a.example/", ()),),
    )

    (draft,) = CHANNEL.drafts(event)

    assert json.loads(draft.content["body"])["data"] == {
        "product": {"id": 9, "name": "Teapot <b>", "sku": "TEA-1", "stock": 2},
        "threshold": 3,
    }


def test_amounts_in_an_order_events_details_are_decimal_strings_like_the_apis() -> None:
    event = EventContext(
        7,
        "order.returned",
        CREATED,
        {"amount": 12_50, "refunded": 5_00, "lines": [{"line_id": 1, "quantity": 1}]},
        endpoints=(Endpoint(1, "https://a.example/", ()),),
    )

    (draft,) = CHANNEL.drafts(event)

    assert json.loads(draft.content["body"])["data"]["event"] == {
        "amount": "12.50",
        "refunded": "5.00",
        "lines": [{"line_id": 1, "quantity": 1}],
    }


def test_the_webhook_id_is_the_events_so_retries_and_redeliveries_share_it() -> None:
    assert message_id(42) == "msg_42"


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert retry_after("120", now) == 120.0
    assert retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30.0
    assert retry_after(format_datetime(now - timedelta(hours=1), usegmt=True), now) == 0.0
    assert retry_after("soon", now) is None
    assert retry_after(None, now) is None


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.0.1",
        "192.168.0.1",
        "169.254.169.254",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "100.64.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
    ],
)
def test_addresses_of_the_stores_own_network_are_blocked(address: str) -> None:
    assert blocked(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_not(address: str) -> None:
    assert not blocked(ipaddress.ip_address(address))


def test_allowing_private_addresses_never_allows_another_scheme_or_credentials() -> None:
    for url in ("file:///etc/passwd", "gopher://127.0.0.1/", "http://u:p@127.0.0.1/"):
        with pytest.raises(RefusedAddress):
            check(url, allow_private=True)
    check("http://127.0.0.1:9/hook", allow_private=True)


def _ping(url: str) -> Message:
    return Message(
        id=1,
        event_id=5,
        event_type="webhook.ping",
        channel=ChannelName.WEBHOOK,
        recipient=url,
        content={"body": "{}"},
        attempts=0,
        created=CREATED,
        endpoint=Endpoint(1, url, (), ("whsec_" + "A" * 32,)),
    )


def test_a_message_to_a_private_address_fails_without_connecting() -> None:
    outcome = CHANNEL.send(_ping("http://10.0.0.1/hook"))

    assert isinstance(outcome, Failed)
    assert "10.0.0.1" in outcome.error


def test_a_receiver_that_is_not_listening_or_answers_garbage_is_tried_again() -> None:
    channel = WebhookChannel(Settings(database_url="sqlite://", webhook_allow_private=True))
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen(1)
    port = listening.getsockname()[1]
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()  # nothing listens there now

    def garbage() -> None:
        conn, _ = listening.accept()
        conn.recv(65536)
        conn.sendall(b"this is not HTTP\r\n\r\n")
        conn.close()

    thread = threading.Thread(target=garbage, daemon=True)
    thread.start()
    try:
        refused = channel.send(_ping(f"http://127.0.0.1:{closed_port}/hook"))
        nonsense = channel.send(_ping(f"http://127.0.0.1:{port}/hook"))
    finally:
        thread.join(5)
        listening.close()
        channel.close()

    assert isinstance(refused, Retry)
    assert refused.error.startswith("could not connect"), refused.error
    assert isinstance(nonsense, Retry)
    assert nonsense.error.startswith("could not connect"), nonsense.error


def test_the_connection_itself_refuses_a_private_peer_whatever_the_name_resolved_to() -> None:
    """A name that resolved to a public address when checked and to a private one when
    connecting (DNS rebinding) still reaches nothing: the connected peer is checked."""
    with running_receiver() as receiver:
        http = pool(allow_private=False)
        with pytest.raises(RefusedAddress):
            http.urlopen("POST", receiver.url("/rebound"), body=b"{}", timeout=2)
        assert receiver.received == []
        # while a pool that allows private addresses reaches it
        allowed = pool(allow_private=True)
        assert allowed.urlopen("POST", receiver.url("/rebound"), body=b"{}", timeout=2).status
        assert len(receiver.received) == 1
