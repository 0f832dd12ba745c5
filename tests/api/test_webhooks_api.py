"""/api/webhooks: registering, reading, changing and deleting endpoints (admins only),
and the address guard that keeps them off the store's own network."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from ordermill.db import Database
from ordermill.domain.events import SUBSCRIBABLE
from tests import factories
from tests.api.helpers import assert_problem, assert_utc_timestamp, error_fields

# A literal public address: nothing is sent to it (no worker runs here), and it needs no DNS.
PUBLIC = "https://93.184.215.14/hooks/ordermill"
SECRET = re.compile(r"^whsec_[A-Za-z0-9+/]{32}$")  # base64 of 24 bytes
PUBLIC_KEYS = {
    "id",
    "url",
    "description",
    "events",
    "enabled",
    "disabled_reason",
    "failing_since",
    "created",
    "updated",
}


def register(client: TestClient, **fields: object) -> dict[str, object]:
    body = {"url": PUBLIC, "events": ["order.created"], "description": "ERP"} | fields
    response = client.post("/api/webhooks", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    return created


def test_registering_answers_the_webhook_and_its_secret_once(client: TestClient) -> None:
    created = register(client, events=["order.paid", "order.created", "order.paid"])

    assert created.keys() == PUBLIC_KEYS | {"secret"}
    assert SECRET.match(str(created["secret"]))
    assert created["url"] == PUBLIC
    assert created["events"] == ["order.created", "order.paid"]
    assert created["enabled"] is True
    assert created["disabled_reason"] is None
    assert_utc_timestamp(created["created"])

    read = client.get(f"/api/webhooks/{created['id']}").json()
    assert read.keys() == PUBLIC_KEYS
    assert read == {k: v for k, v in created.items() if k != "secret"}
    listed = client.get("/api/webhooks").json()
    assert [w["id"] for w in listed] == [created["id"]]
    assert "secret" not in listed[0]


def test_no_events_subscribes_to_every_event(client: TestClient) -> None:
    assert register(client, events=[])["events"] == []


def test_an_unknown_event_type_is_refused_naming_the_known_ones(client: TestClient) -> None:
    response = client.post("/api/webhooks", json={"url": PUBLIC, "events": ["order.eaten"]})

    problem = assert_problem(response, 400, "validation_error")
    assert error_fields(problem) == {"events"}
    assert "order.eaten" in problem["detail"]
    for known in SUBSCRIBABLE:
        assert known in problem["detail"]
    assert client.get("/api/webhooks").json() == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://10.0.0.1/",
        "http://[::1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://192.168.1.10:8080/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://[::ffff:10.0.0.1]/",
        "http://[fe80::1]/",
        "http://localhost/",
    ],
)
def test_an_address_on_the_stores_own_network_is_refused(client: TestClient, url: str) -> None:
    response = client.post("/api/webhooks", json={"url": url})

    problem = assert_problem(response, 400, "webhook_url_not_allowed")
    assert error_fields(problem) == {"url"}


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://93.184.215.14/", "http"),
        ("https://user:secret@93.184.215.14/", "credentials"),
        ("https:///nohost", "no host"),
        ("https://nowhere.invalid/hook", "does not resolve"),
    ],
)
def test_a_url_of_another_shape_or_a_host_that_does_not_resolve_is_refused(
    client: TestClient, url: str, why: str
) -> None:
    problem = assert_problem(
        client.post("/api/webhooks", json={"url": url}), 400, "webhook_url_not_allowed"
    )
    assert why in problem["detail"]


def test_a_url_longer_than_2000_characters_is_refused(client: TestClient) -> None:
    long = PUBLIC + "/" + "a" * 2000
    assert_problem(client.post("/api/webhooks", json={"url": long}), 400, "validation_error")


def test_patch_changes_fields_and_checks_the_new_url(client: TestClient) -> None:
    created = register(client)
    url = f"/api/webhooks/{created['id']}"

    changed = client.patch(url, json={"events": ["order.cancelled"], "description": "CRM"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["events"] == ["order.cancelled"]
    assert changed.json()["description"] == "CRM"
    assert "secret" not in changed.json()

    refused = client.patch(url, json={"url": "http://10.1.2.3/hook"})
    assert_problem(refused, 400, "webhook_url_not_allowed")
    assert client.get(url).json()["url"] == PUBLIC


def test_disabling_and_re_enabling_through_patch(client: TestClient) -> None:
    url = f"/api/webhooks/{register(client)['id']}"

    disabled = client.patch(url, json={"enabled": False}).json()
    assert disabled["enabled"] is False
    assert disabled["disabled_reason"]

    enabled = client.patch(url, json={"enabled": True}).json()
    assert enabled["enabled"] is True
    assert enabled["disabled_reason"] is None
    assert enabled["failing_since"] is None


def test_delete_answers_204_and_the_webhook_is_gone(client: TestClient) -> None:
    url = f"/api/webhooks/{register(client)['id']}"

    assert client.delete(url).status_code == 204
    assert_problem(client.get(url), 404, "webhook_not_found")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/webhooks/999", None),
        ("PATCH", "/api/webhooks/999", {"description": "x"}),
        ("DELETE", "/api/webhooks/999", None),
        ("POST", "/api/webhooks/999/rotate-secret", None),
        ("POST", "/api/webhooks/999/ping", None),
        ("GET", "/api/webhooks/999/deliveries", None),
        ("POST", "/api/webhooks/999/deliveries/1/redeliver", None),
    ],
)
def test_an_unknown_webhook_is_not_found(
    client: TestClient, method: str, path: str, body: dict[str, str] | None
) -> None:
    assert_problem(client.request(method, path, json=body), 404, "webhook_not_found")


def test_an_unknown_delivery_of_a_known_webhook_is_not_found(client: TestClient) -> None:
    webhook_id = register(client)["id"]
    response = client.post(f"/api/webhooks/{webhook_id}/deliveries/12345/redeliver")
    assert_problem(response, 404, "delivery_not_found")


def test_rotation_answers_a_new_secret_and_reads_never_show_it(client: TestClient) -> None:
    created = register(client)

    rotated = client.post(f"/api/webhooks/{created['id']}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    assert SECRET.match(rotated.json()["secret"])
    assert rotated.json()["secret"] != created["secret"]
    assert rotated.headers["cache-control"] == "no-store"
    assert "secret" not in client.get(f"/api/webhooks/{created['id']}").json()


def test_ping_is_accepted(client: TestClient) -> None:
    webhook_id = register(client)["id"]
    response = client.post(f"/api/webhooks/{webhook_id}/ping")
    assert response.status_code == 202, response.text
    assert response.json() == {"webhook_id": webhook_id, "type": "webhook.ping"}


@pytest.mark.parametrize("role", ["staff", "customer"])
def test_only_admins_manage_webhooks(
    database: Database, anonymous_client: TestClient, role: str
) -> None:
    if role == "customer":
        _, user_id = factories.customer_login(database)
    else:
        user_id = factories.user(database, role=role)
    headers = {"Authorization": f"Bearer {factories.token_for(database, user_id)}"}

    for method, path in [("GET", "/api/webhooks"), ("POST", "/api/webhooks")]:
        response = anonymous_client.request(method, path, json={"url": PUBLIC}, headers=headers)
        assert_problem(response, 403, "forbidden")


def test_anonymous_callers_are_asked_to_log_in(anonymous_client: TestClient) -> None:
    response = anonymous_client.post("/api/webhooks", json={"url": PUBLIC})
    assert_problem(response, 401, "not_authenticated")
    assert_problem(anonymous_client.get("/api/webhooks"), 401, "not_authenticated")
