"""Pages in a real Chromium (Debian's), driven by Playwright, against the app on 127.0.0.1.

Each test gets a live server on its own database (SQLite, and PostgreSQL when
configured) and a fresh browser context that may reach the app only: any other
request is refused and fails the test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

from ordermill.db import Database
from tests import factories
from tests.browser.chromium import LAUNCH_ARGS, MISSING, chromium
from tests.e2e.live_server import live_server


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = chromium()
    if executable is None:
        pytest.skip(MISSING)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=LAUNCH_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def server(database: Database) -> Iterator[str]:
    """The app served on a free loopback port; its base URL."""
    with live_server(database) as base:
        yield base


@pytest.fixture
def page(browser: Browser, server: str) -> Iterator[Page]:
    """A new browser tab that may load the app and nothing else."""
    outside: list[str] = []
    context = browser.new_context(base_url=server, viewport={"width": 1280, "height": 900})

    def only_the_app(route: Route) -> None:
        if route.request.url.startswith(server + "/"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", only_the_app)
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    context.close()
    assert outside == [], f"the page tried to load from outside the app: {outside}"


@pytest.fixture
def staff_page(page: Page, database: Database) -> Page:
    """A tab signed in to the back office as a staff member."""
    return _log_in(page, database, "staff")


@pytest.fixture
def admin_page(page: Page, database: Database) -> Page:
    """A tab signed in to the back office as an admin."""
    return _log_in(page, database, "admin")


def _log_in(page: Page, database: Database, role: str) -> Page:
    email = f"{role}-browser@example.com"
    factories.user(database, role=role, email=email)
    page.goto("/admin/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin")
    return page
