"""Fixtures for the pages over plain HTTP: a browser without JavaScript, signed in or not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.web.app import create_app
from tests import factories
from tests.pages.forms import log_in


def _browser(database: Database, settings: Settings | None = None) -> TestClient:
    app = create_app(settings or Settings(database_url=database.url), database)
    return TestClient(app, raise_server_exceptions=False, follow_redirects=False)


@pytest.fixture
def visitor(database: Database) -> Iterator[TestClient]:
    """A browser that is not signed in."""
    with _browser(database) as client:
        yield client


def _signed_in(database: Database, role: str) -> Iterator[TestClient]:
    email = f"{role}-pages@example.com"
    factories.user(database, role=role, email=email)
    with _browser(database) as client:
        response = log_in(client, email)
        assert response.status_code == 303, response.text
        yield client


@pytest.fixture
def staff(database: Database) -> Iterator[TestClient]:
    """A browser signed in to the back office as a staff member."""
    yield from _signed_in(database, "staff")


@pytest.fixture
def admin(database: Database) -> Iterator[TestClient]:
    """A browser signed in to the back office as an admin."""
    yield from _signed_in(database, "admin")
