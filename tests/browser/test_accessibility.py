"""The main pages pass axe-core's checks: no serious or critical violations."""

from __future__ import annotations

from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

from ordermill.db import Database
from ordermill.services import processing
from tests import factories

# Pages of the back office, with {order}, {customer} and {product} filled in from `shop`.
BACK_OFFICE = [
    "/admin/login",
]


@pytest.fixture
def shop(database: Database) -> dict[str, str]:
    """A small shop to look at: a customer with a processed order and a pending one."""
    customer = factories.customer(database, name="<script>alert(1)</script>", balance=300_00)
    product = factories.product(database, name="Lemon cake", stock=3)
    processed = factories.order(database, customer, (product, 1))
    factories.order(database, customer, (product, 1))
    with database.write() as session:
        view = processing.process_order(session, processed)
    return {
        "order": view.number or str(view.id),
        "customer": str(customer),
        "product": str(product),
    }


def serious_violations(page: Page) -> list[dict[str, Any]]:
    results = Axe().run(page)
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("path", BACK_OFFICE)
def test_the_back_office_page_has_no_serious_accessibility_violations(
    staff_page: Page, shop: dict[str, str], path: str
) -> None:
    staff_page.goto(path.format(**shop))

    assert serious_violations(staff_page) == []


def test_the_login_page_has_no_serious_accessibility_violations(page: Page) -> None:
    page.goto("/admin/login")

    assert serious_violations(page) == []
