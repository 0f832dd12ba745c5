"""A customer's phone, for text messages: set by staff, on sign-up and on one's own profile,
stored in E.164, refused with a 400 naming the field when it is not a phone number."""

from __future__ import annotations

import itertools
import re

import pytest
from fastapi.testclient import TestClient

from ordermill.db import Database
from ordermill.errors import InvalidInput
from ordermill.services import catalog
from tests import factories
from tests.api.helpers import assert_problem, error_fields, get_json

ACCEPTED = [
    ("+15550102030", "+15550102030"),
    ("+1 (555) 010-2030", "+15550102030"),
    ("+44 20.7946.0958", "+442079460958"),
    (" +49-30-1234567 ", "+49301234567"),
    ("+1234567", "+1234567"),  # 7 digits, the fewest
    ("+123456789012345", "+123456789012345"),  # 15 digits, the most
]
REFUSED = [
    "5550102030",  # no country code
    "+0555010203",  # a country code never starts with 0
    "+123456",  # 6 digits
    "+1234567890123456",  # 16 digits
    "+1 555 CALL NOW",  # letters
    "+1/555/0102030",  # a separator nobody types between digits
    "++15550102030",
    "",
    "+1" + " " * 40 + "5550102030",  # far longer than any number written out
]

_emails = itertools.count(1)


def staff_create(client: TestClient, phone: object) -> tuple[int, dict[str, object]]:
    n = next(_emails)
    response = client.post(
        "/api/customers",
        json={"name": "Ann", "email": f"phone{n}@example.com", "phone": phone},
    )
    return response.status_code, response.json()


@pytest.mark.parametrize(("typed", "stored"), ACCEPTED)
def test_staff_set_a_phone_as_people_type_it_and_it_is_stored_in_e164(
    client: TestClient, typed: str, stored: str
) -> None:
    status, body = staff_create(client, typed)

    assert status == 201, body
    assert body["phone"] == stored
    assert get_json(client, f"/api/customers/{body['id']}")["phone"] == stored


@pytest.mark.parametrize("typed", REFUSED)
def test_a_phone_that_is_not_an_international_number_is_a_400_saying_what_is_accepted(
    client: TestClient, typed: str
) -> None:
    response = client.post(
        "/api/customers", json={"name": "Ann", "email": "ann@example.com", "phone": typed}
    )

    problem = assert_problem(response, 400, "validation_error")
    assert error_fields(problem) == {"phone"}
    message = problem["errors"][0]["message"]
    assert "+ then 7 to 15 digits" in message
    assert "+15550102030" in message
    assert get_json(client, "/api/customers") == []


def test_a_customer_without_a_phone_shows_null(client: TestClient) -> None:
    response = client.post("/api/customers", json={"name": "Ann", "email": "ann@example.com"})

    assert response.status_code == 201, response.text
    assert response.json()["phone"] is None


def test_staff_change_a_phone_clear_it_with_null_and_leave_it_alone_otherwise(
    client: TestClient,
) -> None:
    _, customer = staff_create(client, "+15550102030")
    url = f"/api/customers/{customer['id']}"

    changed = client.patch(url, json={"phone": "+44 20 7946 0958"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["phone"] == "+442079460958"

    renamed = client.patch(url, json={"name": "Ann Other"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["phone"] == "+442079460958"

    refused = client.patch(url, json={"phone": "call me"})
    assert error_fields(assert_problem(refused, 400, "validation_error")) == {"phone"}
    assert get_json(client, url)["phone"] == "+442079460958"

    cleared = client.patch(url, json={"phone": None})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["phone"] is None
    assert get_json(client, url)["phone"] is None


def test_signing_up_with_a_phone_stores_it_normalised(anonymous_client: TestClient) -> None:
    response = anonymous_client.post(
        "/api/auth/signup",
        json={
            "name": "Grace",
            "email": "grace@example.com",
            "password": "cobol forever!",
            "phone": "+1 (555) 010-2030",
        },
    )

    assert response.status_code == 201, response.text
    assert response.json()["phone"] == "+15550102030"


def test_signing_up_with_a_bad_phone_is_a_400_and_creates_nothing(
    anonymous_client: TestClient, database: Database
) -> None:
    response = anonymous_client.post(
        "/api/auth/signup",
        json={
            "name": "Grace",
            "email": "grace@example.com",
            "password": "cobol forever!",
            "phone": "0555 0102030",
        },
    )

    assert error_fields(assert_problem(response, 400, "validation_error")) == {"phone"}
    with database.read() as session:
        assert catalog.list_customers(session, limit=10).items == []


def test_a_customer_sets_and_clears_their_own_phone(
    anonymous_client: TestClient, database: Database
) -> None:
    customer_id, user_id = factories.customer_login(database)
    auth = {"Authorization": f"Bearer {factories.token_for(database, user_id)}"}

    assert anonymous_client.get("/api/me", headers=auth).json()["phone"] is None
    updated = anonymous_client.patch("/api/me", json={"phone": "+33 6 12 34 56 78"}, headers=auth)
    assert updated.status_code == 200, updated.text
    assert updated.json()["phone"] == "+33612345678"
    assert anonymous_client.get("/api/me", headers=auth).json()["phone"] == "+33612345678"

    refused = anonymous_client.patch("/api/me", json={"phone": "+33 6 12"}, headers=auth)
    assert error_fields(assert_problem(refused, 400, "validation_error")) == {"phone"}

    cleared = anonymous_client.patch("/api/me", json={"phone": None}, headers=auth)
    assert cleared.status_code == 200, cleared.text
    with database.read() as session:
        assert catalog.get_customer(session, customer_id).phone is None


def test_the_service_normalises_and_checks_a_phone_for_every_caller(database: Database) -> None:
    with database.write() as session:
        customer = catalog.create_customer(
            session, name="Ann", email="ann@example.com", phone="+1 555.010.2030"
        )
        assert customer.phone == "+15550102030"
    with database.write() as session, pytest.raises(InvalidInput, match="phone must be") as caught:
        catalog.create_customer(session, name="Bo", email="bo@example.com", phone="12")
    assert caught.value.detail["field"] == "phone"


def _phone_schemas(client: TestClient) -> dict[str, dict[str, object]]:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    found = {}
    for name in ("CustomerCreate", "CustomerUpdate", "SignupRequest", "CustomerPublic"):
        variants = schemas[name]["properties"]["phone"]["anyOf"]
        found[name] = next(v for v in variants if v.get("type") == "string")
        assert {"type": "null"} in variants
    return found


def test_openapi_declares_the_phone_pattern_on_input_and_output(client: TestClient) -> None:
    schemas = _phone_schemas(client)

    for name in ("CustomerCreate", "CustomerUpdate", "SignupRequest"):
        typed = re.compile(str(schemas[name]["pattern"]))
        for accepted, _ in ACCEPTED:
            assert typed.match(accepted.strip()), (name, accepted)
        for refused in REFUSED:
            assert not typed.match(refused) or len(refused) > int(
                str(schemas[name]["maxLength"])
            ), (name, refused)
    stored = re.compile(str(schemas["CustomerPublic"]["pattern"]))
    for _, normalised in ACCEPTED:
        assert stored.match(normalised)
    assert not stored.match("+1 (555) 010-2030")
