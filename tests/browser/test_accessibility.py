"""Every main page passes axe-core's checks (0 serious or critical violations) and fits a phone.

One list of the back office's pages, each opened by an admin in a shop with a
customer whose name is markup, a low-stock product, a paid order and a pending one.
With ``ORDERMILL_SCREENSHOTS=<folder>`` the main pages are also saved there as
screenshots (README shows the ones in docs/screenshots/):
``ORDERMILL_SCREENSHOTS=docs/screenshots pytest tests/browser``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

from ordermill.db import Database
from ordermill.services import accounts, processing
from tests import factories

PHONE = {"width": 375, "height": 800}
DESKTOP = {"width": 1280, "height": 900}

# Pages of the back office; {…} are filled in from the `shop` fixture.
BACK_OFFICE = [
    "/admin/login",
    "/admin",
    "/admin/orders",
    "/admin/orders/{paid}",
    "/admin/orders/{pending}",
    "/admin/orders/{paid}/invoice",
    "/admin/orders/{paid}/delivery-note",
    "/admin/customers",
    "/admin/customers/new",
    "/admin/customers/{customer}",
    "/admin/customers/{customer}/edit",
    "/admin/customers/{customer}/balance",
    "/admin/products",
    "/admin/products/new",
    "/admin/products/{product}",
    "/admin/products/{product}/edit",
    "/admin/workflow",
    "/admin/users",
    "/admin/users/new",
    "/admin/users/{clerk}",
    "/admin/audit",
    "/admin/no-such-page",
]


# The pages README shows, and the file each is saved as.
SCREENSHOTS = {
    "/admin": "admin-dashboard",
    "/admin/orders": "admin-orders",
    "/admin/orders/{paid}": "admin-order",
    "/admin/orders/{paid}/invoice": "admin-invoice",
}


def keep_screenshot(page: Page, name: str) -> None:
    """Save the page as ``name``.png in the ORDERMILL_SCREENSHOTS folder, when it is set."""
    folder = os.environ.get("ORDERMILL_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


@pytest.fixture
def shop(database: Database) -> dict[str, str]:
    """A small shop to look at."""
    customer = factories.customer(
        database, name="<script>alert(1)</script> with a rather long name", balance=300_00
    )
    product = factories.product(database, name="Lemon cake", stock=3)
    bread = factories.product(database, name="Rye bread", price=4_20, stock=40)
    paid = factories.order(database, customer, (product, 1), (bread, 2))
    pending = factories.order(database, customer, (product, 1))
    others = [factories.order(database, customer, (bread, n)) for n in (1, 3, 2)]
    clerk = factories.user(database, role="staff", email="clerk@example.com")
    with database.write() as session:
        view = processing.process_order(session, paid)
        processing.process_orders(session, others[:2])
        accounts.issue_token(
            session, accounts.get_user(session, clerk), kind=accounts.API, ttl=None, name="sync"
        )
    return {
        "paid": view.number or str(view.id),
        "pending": str(pending),
        "customer": str(customer),
        "product": str(product),
        "clerk": str(clerk),
    }


def serious_violations(page: Page) -> list[dict[str, Any]]:
    results = Axe().run(page)
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("path", BACK_OFFICE)
def test_the_back_office_page_is_accessible_and_fits_a_phone(
    admin_page: Page, shop: dict[str, str], path: str
) -> None:
    page = admin_page
    page.set_viewport_size(DESKTOP)
    page.goto(path.format(**shop))

    assert serious_violations(page) == []
    if path in SCREENSHOTS:
        keep_screenshot(page, SCREENSHOTS[path])
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert serious_violations(page) == []


def test_the_login_page_is_accessible_to_a_visitor(page: Page) -> None:
    page.goto("/admin/login")

    assert serious_violations(page) == []
