"""Every route that names a resource by id answers 404 problem+json for an id that
doesn't exist, with the code of that resource (``order_not_found``, …).

The client is an admin's, who may call every one of these routes. The cases are
read from the app's route table: a new route with an ``{…_id}`` path
parameter is tried here without a line of test. A route with a required body needs
a valid sample in ``BODIES`` (so the 404 is not hidden behind a 400). The customer's
own routes (``/api/me/…``) answer only to a customer and are tried in test_me*.py,
with another customer's order as well.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.errors import CATALOGUE, Code
from ordermill.services import webhooks
from ordermill.services.audit import SYSTEM
from ordermill.web.app import create_app
from ordermill.web.pages.errors import is_page_path
from tests import factories
from tests.api.helpers import assert_problem

MISSING = 987_654
ID_PARAMETER = re.compile(r"\{(\w+_id)\}")
CUSTOMERS_OWN_ROUTES = "/api/me/"

# A valid body for each route whose body is required.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/api/customers/{customer_id}"): {"name": "Ghost"},
    ("POST", "/api/customers/{customer_id}/balance"): {"amount": "1.00", "reason": "refund"},
    ("PATCH", "/api/products/{product_id}"): {"stock": 1},
    ("POST", "/api/products/{product_id}/stock"): {"delta": 1, "reason": "found"},
    ("PUT", "/api/customers/{customer_id}/cart/items/{product_id}"): {"quantity": 1},
    ("PUT", "/api/orders/{order_id}"): {"process": True},
    ("POST", "/api/orders/{order_id}/actions/pay"): {"amount": "1.00", "method": "cash"},
    ("POST", "/api/orders/{order_id}/actions/cancel"): {"reason": "gone"},
    ("POST", "/api/orders/{order_id}/notes"): {"text": "hello"},
    ("PATCH", "/api/users/{user_id}"): {"disabled": True},
    ("POST", "/api/users/{user_id}/tokens"): {"name": "ghost"},
    ("PATCH", "/api/webhooks/{webhook_id}"): {"description": "ghost"},
}


@dataclass(frozen=True)
class Case:
    """One route and method, with one of its id parameters naming nothing."""

    method: str
    path: str
    missing: str  # the id parameter given an unknown id; the others name real rows
    has_required_body: bool

    @property
    def id(self) -> str:
        return f"{self.method} {self.path} ({self.missing})"


def _cases() -> list[Case]:
    app = create_app(Settings(database_url="sqlite://"))
    cases = []
    for context in iter_route_contexts(app.routes):
        if not isinstance(context.original_route, APIRoute):
            continue
        path = str(context.path)
        if path.startswith(CUSTOMERS_OWN_ROUTES) or is_page_path(path):
            continue
        body = context.body_field
        required = body is not None and body.field_info.is_required()
        for method in sorted(context.methods or ()):
            for parameter in ID_PARAMETER.findall(path):
                cases.append(Case(method, path, parameter, required))
    return cases


CASES = _cases()


def existing_ids(database: Database) -> dict[str, int]:
    """Real rows for the id parameters that are not the missing one."""
    customer_id = factories.customer(database)
    product_id = factories.product(database, stock=5)
    return {
        "customer_id": customer_id,
        "product_id": product_id,
        "order_id": factories.order(database, customer_id, (product_id, 1)),
        "user_id": factories.user(database, role="staff"),
        "webhook_id": _webhook(database),
        # Only asked for beside a missing webhook, which is looked up first.
        "delivery_id": 1,
    }


def _webhook(database: Database) -> int:
    with database.write() as session:
        issued = webhooks.create_webhook(
            session,
            url="https://93.184.215.14/hooks",  # literal: no DNS, nothing sent
            events=[],
            description="",
            allow_private=False,
            actor=SYSTEM,
        )
        return issued.webhook.id


def test_the_route_table_gives_a_case_for_each_kind_of_resource() -> None:
    assert {case.missing for case in CASES} == {
        "customer_id",
        "product_id",
        "order_id",
        "user_id",
        "token_id",
        "webhook_id",
        "delivery_id",
    }
    assert len(CASES) >= 30


def test_every_route_with_a_required_body_has_a_sample_and_no_sample_is_stale() -> None:
    needing = {(case.method, case.path) for case in CASES if case.has_required_body}

    assert needing == BODIES.keys()


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_an_unknown_id_is_a_404_problem_naming_the_resource(
    client: TestClient, database: Database, case: Case
) -> None:
    ids = existing_ids(database) if len(ID_PARAMETER.findall(case.path)) > 1 else {}
    ids[case.missing] = MISSING
    url = ID_PARAMETER.sub(lambda match: str(ids[match.group(1)]), case.path)

    response = client.request(case.method, url, json=BODIES.get((case.method, case.path)))

    code = Code(case.missing.removesuffix("_id") + "_not_found")
    assert code in CATALOGUE
    problem = assert_problem(response, 404, code)
    assert str(MISSING) in problem["detail"]
