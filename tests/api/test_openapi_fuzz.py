"""Schemathesis fuzzes every operation of /openapi.json, as an admin and as a customer.

Each operation runs on a freshly migrated and seeded database (SQLite, and PostgreSQL
when ``ORDERMILL_TEST_POSTGRES_URL`` is set): Schemathesis' examples and coverage
phases, then ``MAX_EXAMPLES`` generated requests, valid and invalid, all from a fixed
seed so CI sees the same requests every run. Every response must be no server error,
carry a status code the operation documents, and match the documented content type
and body schema.

A request that succeeded is sent once more with ``If-None-Match: *`` or a stale
``If-Match`` (picked from the request's content, so a replay picks the same), which is
how 304 and 412 show up; query timestamps include the edges of the calendar.

For a deeper run locally, raise the count or change the seed:
``ORDERMILL_FUZZ_EXAMPLES=200 ORDERMILL_FUZZ_SEED=7 pytest tests/api/test_openapi_fuzz.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.domain.orders import Strategy
from ordermill.services import carts, processing
from ordermill.web.app import create_app
from tests import factories

pytestmark = pytest.mark.slow

MAX_EXAMPLES = int(os.environ.get("ORDERMILL_FUZZ_EXAMPLES", "20"))
SEED = int(os.environ.get("ORDERMILL_FUZZ_SEED", "20260"))

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
CONDITIONS: tuple[dict[str, str], ...] = (
    {},
    {"If-None-Match": "*"},
    {"If-Match": '"0000000000000000000000000000dead"'},
)

# The first and last instants Python can hold, with offsets that push them past the edge.
CALENDAR_EDGES = (
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59.999999Z",
    "9999-12-31T23:59:59-14:00",
)


def _rfc3339(moment: datetime, offset_minutes: int) -> str:
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return f"{moment.isoformat()}{sign}{hours:02d}:{minutes:02d}"


# Query timestamps: any instant with any offset, and the edges of the calendar often.
schemathesis.openapi.format(
    "date-time",
    st.one_of(
        st.sampled_from(CALENDAR_EDGES),
        st.builds(_rfc3339, st.datetimes(), st.integers(-14 * 60, 14 * 60)),
    ),
)

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "no-shrink": True,
            "database": "none",
        },
        "phases": {"stateful": {"enabled": False}},
    }
)


def _schema_app() -> FastAPI:
    """An app to read /openapi.json from; each test sends its requests to its own app."""
    url = "sqlite://"
    return create_app(Settings(database_url=url), Database(url, Settings(database_url=url)))


schema = schemathesis.openapi.from_asgi("/openapi.json", _schema_app(), config=CONFIG)


@dataclass(frozen=True)
class Api:
    app: FastAPI
    tokens: dict[str, str]


def _seed(database: Database) -> dict[str, str]:
    """A few rows of everything, so ids 1..3 exist; returns a bearer token per role.

    Integration tokens 1..5 come first, so the fuzzer revoking a low token id does
    not log out the caller for the rest of the operation.
    """
    staff = factories.user(database, role="staff")
    for _ in range(5):
        factories.token_for(database, staff)
    customer_id, customer_user = factories.customer_login(database)
    admin = factories.user(database, role="admin")
    others = [factories.customer(database) for _ in range(2)]
    factories.customer(database)  # no orders: may be deleted
    products = [factories.product(database, stock=50) for _ in range(3)]
    factories.product(database, active=False)
    orders = [
        factories.order(database, owner, (products[0], 1), (products[1], 2))
        for owner in (customer_id, *others)
    ]
    with database.write() as session:
        processing.process_order(session, orders[1], Strategy.ADJUST)
        carts.set_cart_item(session, customer_id, products[2], 1)
    return {
        "admin": factories.token_for(database, admin),
        "customer": factories.token_for(database, customer_user),
    }


@pytest.fixture
def api(database: Database) -> Api:
    """The app on a fresh, seeded database (one per operation, role and backend)."""
    tokens = _seed(database)
    return Api(create_app(Settings(database_url=database.url), database), tokens)


@pytest.fixture(params=["admin", "customer"])
def role(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


def _stable(value: Any) -> str:
    return value.hex() if isinstance(value, bytes) else type(value).__name__


def _conditions(case: schemathesis.Case[Any]) -> dict[str, str]:
    """Conditional headers picked from the request's content, the same on every replay."""
    shape = [case.path_parameters, case.query, case.body]
    try:
        text = json.dumps(shape, sort_keys=True, default=_stable)
    except TypeError:  # keys of mixed types cannot be sorted
        text = json.dumps(shape, default=_stable)
    digest = hashlib.sha256(text.encode()).digest()
    return CONDITIONS[digest[0] % len(CONDITIONS)]


@schema.parametrize()
@settings(
    # One seeded database per test, not per example, on purpose; requests are slow-ish.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_response_matches_the_openapi_document(
    case: schemathesis.Case[Any], api: Api, role: str
) -> None:
    auth = {"Authorization": f"Bearer {api.tokens[role]}"}
    response = case.call_and_validate(app=api.app, headers=auth, checks=CHECKS)
    conditions = _conditions(case)
    if conditions and response.status_code < 300:
        # The same request again, conditional: 304 and 412 are statuses to document too.
        case.call_and_validate(app=api.app, headers={**auth, **conditions}, checks=CHECKS)
