"""Fixtures for the storefront over plain HTTP: a customer's browser, signed in or not."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.services import catalog
from ordermill.web.app import create_app
from tests import factories
from tests.pages.forms import shop_log_in


@dataclass(frozen=True)
class Shopper:
    """A signed-in customer's browser and who they are."""

    browser: TestClient
    customer_id: int
    user_id: int
    email: str


def shopper(database: Database, *, balance: int = 500_00) -> Iterator[Shopper]:
    """A customer with a login, signed in to the storefront in a browser of their own."""
    customer_id, user_id = factories.customer_login(database, balance=balance)
    with database.read() as session:
        email = catalog.get_customer(session, customer_id).email
    app = create_app(Settings(database_url=database.url), database)
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        response = shop_log_in(client, email)
        assert response.status_code == 303, response.text
        yield Shopper(client, customer_id, user_id, email)


@pytest.fixture
def customer(database: Database) -> Iterator[Shopper]:
    """A customer (balance 500.00) signed in to the storefront."""
    yield from shopper(database)


@pytest.fixture
def other_customer(database: Database) -> Iterator[Shopper]:
    """A second customer, signed in in a browser of their own."""
    yield from shopper(database)
