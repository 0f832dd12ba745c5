"""/admin/audit: who changed what, newest first, filtered and paged, for admins only."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.services import accounts, catalog, processing
from ordermill.services.audit import Actor
from ordermill.web.app import create_app
from tests import factories
from tests.pages.forms import log_in, text_of

XSS = "<script>alert(1)</script>"


def rows(page: str) -> list[str]:
    """The entries' rows as text, newest first."""
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in page else ""
    return [text_of(row) for row in re.findall(r"<tr>.*?</tr>", body, re.S)]


def adjust(database: Database, product_id: int, delta: int, reason: str, actor: Actor) -> None:
    with database.write() as session:
        catalog.adjust_stock(session, product_id, delta, reason, actor=actor)


def test_staff_get_a_403_page_and_visitors_the_login(
    staff: TestClient, visitor: TestClient
) -> None:
    refused = staff.get("/admin/audit")
    sent_away = visitor.get("/admin/audit")

    assert refused.status_code == 403
    assert sent_away.status_code == 303
    assert sent_away.headers["location"] == "/admin/login?next=/admin/audit"


def test_entries_are_newest_first_with_who_what_and_the_changes_in_words(
    admin: TestClient, database: Database
) -> None:
    customer = factories.customer(database, balance=100_00)
    pen = factories.product(database, name="Pen", price=12_50, stock=10)
    order_id = factories.order(database, customer, (pen, 2))
    with database.write() as session:
        processing.process_order(session, order_id)
    clerk_id = factories.user(database, role="staff", email="clerk@example.com")
    adjust(database, pen, -1, "dropped it", Actor("clerk@example.com", clerk_id))

    page = admin.get("/admin/audit").text
    entries = rows(page)

    assert entries[0].split(" UTC ", 1)[1] == (
        f"clerk@example.com product.stock_adjusted product {pen} delta -1 stock 7 reason dropped it"
    )
    assert f"order.processed order {order_id}" in entries[1]
    assert "total $25.00" in entries[1]  # money as money
    assert f'href="/admin/users/{clerk_id}"' in page
    assert f'href="/admin/products/{pen}"' in page
    assert f'href="/admin/orders/{order_id}"' in page


def test_entries_are_filtered_by_who_what_its_id_and_the_action(
    admin: TestClient, database: Database
) -> None:
    pen = factories.product(database, name="Pen", stock=10)
    ink = factories.product(database, name="Ink", stock=10)
    clerk_id = factories.user(database, role="staff", email="clerk@example.com")
    clerk = Actor("clerk@example.com", clerk_id)
    adjust(database, pen, 1, "found", clerk)
    adjust(database, ink, 2, "delivery", Actor("cli"))
    with database.write() as session:
        changes = catalog.ProductChanges(price=1_00)
        catalog.update_product(session, catalog.get_product(session, pen), changes, actor=clerk)

    by_clerk = rows(admin.get("/admin/audit", params={"user_id": clerk_id}).text)
    about_ink = rows(admin.get("/admin/audit", params={"entity": "product", "entity_id": ink}).text)
    adjusted = rows(admin.get("/admin/audit", params={"action": "product.stock_adjusted"}).text)
    everything = admin.get(
        "/admin/audit", params={"user_id": "", "entity": "", "entity_id": "", "action": ""}
    )

    assert [e.split(" UTC ")[1].split()[1] for e in by_clerk] == [
        "product.updated",
        "product.stock_adjusted",
    ]
    assert [e.split()[-1] for e in about_ink] == ["delivery", "10"]  # adjusted, created
    assert len(adjusted) == 2
    assert everything.status_code == 200
    assert len(rows(everything.text)) == 5


def test_the_next_page_keeps_the_filters(database: Database) -> None:
    factories.user(database, role="admin", email="boss@example.com")
    pen = factories.product(database, stock=10)
    for n in range(3):
        adjust(database, pen, 1, f"delivery {n}", Actor("cli"))
    app = create_app(Settings(database_url=database.url, page_size_default=2), database)
    with TestClient(app, follow_redirects=False) as browser:
        log_in(browser, "boss@example.com")

        first = browser.get("/admin/audit", params={"action": "product.stock_adjusted"}).text
        found = re.search(r'href="([^"]+)" rel="next"', first)
        assert found
        second = browser.get(html.unescape(found.group(1))).text

    assert [r.split()[-1] for r in rows(first) + rows(second)] == ["2", "1", "0"]
    assert "action=product.stock_adjusted" in html.unescape(found.group(1))


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"entity_id": "abc"}, "Enter an id: a whole number such as 42."),
        ({"user_id": "-1"}, "Enter an id: a whole number such as 42."),
        ({"entity_id": "99999999999"}, "Enter an id: a whole number such as 42."),
        ({"entity": "spaceship"}, "Choose one of the kinds of things."),
    ],
)
def test_a_wrong_filter_says_so_on_the_page(
    admin: TestClient, query: dict[str, str], message: str
) -> None:
    response = admin.get("/admin/audit", params=query)

    assert response.status_code == 400
    assert message in text_of(response.text)


def test_a_tampered_cursor_is_a_400_page(admin: TestClient) -> None:
    response = admin.get("/admin/audit", params={"cursor": "bogus"})

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")


def test_details_with_markup_are_shown_as_text(admin: TestClient, database: Database) -> None:
    pen = factories.product(database, name=XSS, sku="XSS-1", stock=3)
    adjust(database, pen, 1, XSS, Actor(XSS))
    with database.write() as session:
        accounts.create_user(
            session,
            email=f"{XSS}@example.com",
            password=factories.PASSWORD,
            role=accounts.Role.STAFF,
        )

    page = admin.get("/admin/audit").text

    assert XSS not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 2
