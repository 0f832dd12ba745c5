"""Customers in the back office: a list with search, a page with balance, ledger and orders,
forms to add and edit them, and (admins only) a balance top-up with a reason."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from ordermill.db import Database
from ordermill.services import catalog, ledger, processing
from ordermill.web.pages import customers as customer_pages
from tests import factories
from tests.pages.forms import csrf_of, flashes, follow, submit, text_of

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def _profile(database: Database, customer_id: int) -> tuple[str, str, str | None, int]:
    with database.read() as session:
        found = catalog.get_customer(session, customer_id)
        return found.name, found.email, found.phone, found.balance


def _count(database: Database) -> int:
    with database.read() as session:
        return len(catalog.list_customers(session, limit=500).items)


def _ledger_size(database: Database, customer_id: int) -> int:
    with database.read() as session:
        return len(ledger.list_entries(session, customer_id, limit=500).items)


def _error_next_to(page: str, field: str) -> str:
    found = re.search(rf'<p class="field-error" id="{field}-error">(.*?)</p>', page, re.S)
    assert found, f"no error next to {field}"
    return text_of(found.group(1))


# ---------------------------------------------------------------- the list


def test_the_list_shows_each_customer_with_their_balance_and_a_link(
    staff: TestClient, database: Database
) -> None:
    ada = factories.customer(database, name="Ada Lovelace", email="ada@example.com", balance=12_50)

    response = staff.get("/admin/customers")

    assert response.status_code == 200
    assert "Ada Lovelace ada@example.com $12.50" in text_of(response.text)
    assert f'href="/admin/customers/{ada}"' in response.text
    assert 'href="/admin/customers/new"' in response.text
    assert '<th scope="col">Name</th>' in response.text


def test_a_search_finds_a_part_of_a_name_or_an_email(staff: TestClient, database: Database) -> None:
    factories.customer(database, name="Ada Lovelace", email="ada@engines.example")
    factories.customer(database, name="Grace Hopper", email="grace@navy.example")

    by_name = text_of(staff.get("/admin/customers?q=LOVE").text)
    by_email = text_of(staff.get("/admin/customers?q=navy").text)
    nobody = text_of(staff.get("/admin/customers?q=babbage").text)

    assert "Ada Lovelace" in by_name
    assert "Grace Hopper" not in by_name
    assert "Grace Hopper" in by_email
    assert "Ada Lovelace" not in by_email
    assert "No customer's name or email holds “babbage”." in nobody


def test_the_list_comes_a_page_at_a_time_and_the_next_page_keeps_the_search(
    staff: TestClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(customer_pages, "PAGE_SIZE", 2)
    for n in range(3):
        factories.customer(database, name=f"Smith {n}")
        factories.customer(database, name=f"Jones {n}")

    first = staff.get("/admin/customers?q=smith").text
    link = re.search(r'href="([^"]+)" rel="next"', first)
    assert link is not None
    second = staff.get(link.group(1).replace("&amp;", "&")).text

    assert "Smith 0" in first
    assert "Smith 1" in first
    assert "q=smith" in link.group(1)
    assert "Smith 2" in second
    assert "Smith 0" not in second
    assert "Jones" not in first + second
    assert 'rel="next"' not in second


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("q=" + "x" * 321, "search must be at most 320 characters"),
        ("q=a%01b", "search must not contain control characters"),
    ],
)
def test_a_search_that_cant_be_run_is_a_400_page_that_says_why(
    staff: TestClient, query: str, says: str
) -> None:
    response = staff.get(f"/admin/customers?{query}")

    assert response.status_code == 400
    assert says in text_of(response.text)
    assert 'name="q"' in response.text  # the search box, to try again


def test_a_tampered_page_cursor_is_a_400_page(staff: TestClient) -> None:
    response = staff.get("/admin/customers?cursor=not-a-cursor")

    assert response.status_code == 400
    assert "cursor is not valid" in text_of(response.text)


# ---------------------------------------------------------------- one customer


def test_a_customers_page_shows_their_balance_ledger_and_orders(
    staff: TestClient, database: Database
) -> None:
    customer_id = factories.customer(database, name="Ada Lovelace", balance=100_00)
    product_id = factories.product(database, price=12_50, stock=10)
    order_id = factories.order(database, customer_id, (product_id, 2))
    with database.write() as session:
        order = processing.process_order(session, order_id)

    response = staff.get(f"/admin/customers/{customer_id}")

    assert response.status_code == 200
    text = text_of(response.text)
    assert "Ada Lovelace" in text
    assert "Balance $75.00" in text
    assert f'href="/admin/orders/{order.number}"' in response.text
    assert f"{order.number}" in text
    assert "processed" in text
    assert re.search(r"charge -\$25\.00 \$75\.00 order " + order.number, text)
    assert re.search(r"adjustment \$100\.00 \$100\.00 opening balance system", text)
    assert f'<a href="/admin/orders/{order_id}">order {order.number}</a>' in response.text


def test_the_ledger_and_the_orders_each_come_a_page_at_a_time(
    staff: TestClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(customer_pages, "PAGE_SIZE", 2)  # one row of each per page
    customer_id = factories.customer(database, balance=10_00)
    with database.write() as session:
        catalog.adjust_balance(session, customer_id, 5_00, reason="first top-up")
        catalog.adjust_balance(session, customer_id, 7_00, reason="second top-up")

    first = staff.get(f"/admin/customers/{customer_id}").text
    link = re.search(r'href="([^"]+)" rel="next"', first)
    assert link is not None
    second = staff.get(link.group(1).replace("&amp;", "&")).text

    assert "second top-up" in first
    assert "first top-up" not in first
    assert "first top-up" in second
    assert "ledger_cursor=" in link.group(1)


@pytest.mark.parametrize(
    ("path", "status"),
    [("/admin/customers/999999", 404), ("/admin/customers/0", 400), ("/admin/customers/x", 400)],
)
def test_an_unknown_customer_is_a_404_page_and_a_path_that_is_no_id_a_400_page(
    staff: TestClient, path: str, status: int
) -> None:
    response = staff.get(path)

    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")


# ---------------------------------------------------------------- permissions


@pytest.mark.parametrize(
    "path", ["/admin/customers", "/admin/customers/new", "/admin/customers/1/edit"]
)
def test_a_visitor_is_sent_to_log_in(visitor: TestClient, path: str) -> None:
    response = visitor.get(path)

    assert response.status_code == 303
    assert response.headers["location"].startswith("/admin/login?next=/admin/customers")


def test_only_an_admin_is_offered_the_top_up(
    staff: TestClient, admin: TestClient, database: Database
) -> None:
    customer_id = factories.customer(database)
    top_up = f'href="/admin/customers/{customer_id}/balance"'

    assert top_up not in staff.get(f"/admin/customers/{customer_id}").text
    assert top_up in admin.get(f"/admin/customers/{customer_id}").text
    assert staff.get(f"/admin/customers/{customer_id}/balance").status_code == 403
    assert admin.get(f"/admin/customers/{customer_id}/balance").status_code == 200


def test_a_staff_members_top_up_is_refused_even_with_a_valid_token(
    staff: TestClient, database: Database
) -> None:
    customer_id = factories.customer(database, balance=10_00)
    token = csrf_of(staff.get(f"/admin/customers/{customer_id}").text)

    response = staff.post(
        f"/admin/customers/{customer_id}/balance",
        data={"amount": "1000.00", "reason": "a gift to myself", "csrf_token": token},
    )

    assert response.status_code == 403
    assert _profile(database, customer_id)[3] == 10_00


# ---------------------------------------------------------------- top up


def test_an_admin_tops_up_a_balance_with_a_reason_and_sees_it_in_the_ledger(
    admin: TestClient, database: Database
) -> None:
    customer_id = factories.customer(database, balance=10_00)
    page = f"/admin/customers/{customer_id}/balance"

    response = submit(admin, page, page, {"amount": "25.50", "reason": "paid at the till"})

    assert response.headers["location"] == f"/admin/customers/{customer_id}"
    landed = follow(admin, response)
    assert flashes(landed.text) == [("ok", "Balance topped up by $25.50: now $35.50.")]
    assert _profile(database, customer_id)[3] == 35_50
    assert re.search(
        r"adjustment \$25\.50 \$35\.50 paid at the till admin-pages@example\.com",
        text_of(landed.text),
    )


def test_a_negative_adjustment_takes_money_away(admin: TestClient, database: Database) -> None:
    customer_id = factories.customer(database, balance=10_00)
    page = f"/admin/customers/{customer_id}/balance"

    landed = follow(admin, submit(admin, page, page, {"amount": "-4", "reason": "correction"}))

    assert flashes(landed.text) == [("ok", "Balance reduced by $4.00: now $6.00.")]


@pytest.mark.parametrize(
    ("amount", "reason", "field", "says"),
    [
        ("", "a reason", "amount", "amount must be a decimal number such as 12.50"),
        ("ten", "a reason", "amount", "amount must be a decimal number such as 12.50"),
        ("0", "a reason", "amount", "amount must not be zero"),
        ("1.234", "a reason", "amount", "amount may have at most 2 decimal places"),
        ("999999999999999", "a reason", "amount", "amount is too large"),
        ("5", "", "reason", "This can't be empty."),
        ("5", "   ", "reason", "This can't be empty."),
        ("5", "x" * 501, "reason", "At most 500 characters."),
        ("5", "bad\x00reason", "reason", "must not contain control characters"),
    ],
)
def test_a_top_up_the_rules_refuse_shows_why_next_to_the_field_and_changes_nothing(
    admin: TestClient, database: Database, amount: str, reason: str, field: str, says: str
) -> None:
    customer_id = factories.customer(database, balance=10_00)
    page = f"/admin/customers/{customer_id}/balance"

    response = submit(admin, page, page, {"amount": amount, "reason": reason})

    assert response.status_code == 400
    assert _error_next_to(response.text, field) == says
    assert 'aria-invalid="true"' in response.text
    if "\x00" not in reason and len(reason) < 100:
        assert f'value="{amount}"' in response.text
        assert f">{reason}</textarea>" in response.text
    assert _profile(database, customer_id)[3] == 10_00
    assert _ledger_size(database, customer_id) == 1  # the opening balance only


def test_the_same_top_up_form_sent_twice_adjusts_the_balance_once(
    admin: TestClient, database: Database
) -> None:
    customer_id = factories.customer(database, balance=10_00)
    page = admin.get(f"/admin/customers/{customer_id}/balance").text
    form_key = re.search(r'name="form_key" value="([^"]+)"', page)
    assert form_key is not None
    data = {
        "amount": "5.00",
        "reason": "double click",
        "form_key": form_key.group(1),
        "csrf_token": csrf_of(page),
    }

    first = admin.post(f"/admin/customers/{customer_id}/balance", data=data)
    second = admin.post(f"/admin/customers/{customer_id}/balance", data=data)

    assert first.status_code == second.status_code == 303
    assert second.headers["location"] == f"/admin/customers/{customer_id}"
    assert _profile(database, customer_id)[3] == 15_00


def test_topping_up_an_unknown_customer_is_a_404_page(admin: TestClient) -> None:
    token = csrf_of(admin.get("/admin/customers").text)

    response = admin.post(
        "/admin/customers/999999/balance",
        data={"amount": "5", "reason": "x", "csrf_token": token},
    )

    assert response.status_code == 404
