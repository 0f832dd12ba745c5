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


# ---------------------------------------------------------------- add


def test_staff_add_a_customer_and_land_on_their_page(staff: TestClient, database: Database) -> None:
    response = submit(
        staff,
        "/admin/customers/new",
        "/admin/customers/new",
        {"name": " Ada Lovelace ", "email": "Ada@Example.com", "phone": "+44 20 7946 0018"},
    )

    assert re.fullmatch(r"/admin/customers/\d+", response.headers["location"])
    landed = follow(staff, response)
    assert flashes(landed.text) == [("ok", "Customer Ada Lovelace added.")]
    customer_id = int(response.headers["location"].rsplit("/", 1)[1])
    assert _profile(database, customer_id) == (
        "Ada Lovelace",
        "ada@example.com",
        "+442079460018",
        0,
    )


@pytest.mark.parametrize(
    ("field", "fields", "says"),
    [
        ("name", {"name": "", "email": "a@example.com"}, "This can't be empty."),
        ("name", {"name": "n" * 201, "email": "a@example.com"}, "At most 200 characters."),
        ("email", {"name": "Ada", "email": ""}, "value is not a valid email address"),
        ("email", {"name": "Ada", "email": "not-an-email"}, "value is not a valid email address"),
        ("phone", {"name": "Ada", "email": "a@example.com", "phone": "555"}, "phone must be"),
    ],
)
def test_a_new_customer_the_rules_refuse_shows_why_next_to_the_field_with_the_values_kept(
    staff: TestClient, database: Database, field: str, fields: dict[str, str], says: str
) -> None:
    response = submit(staff, "/admin/customers/new", "/admin/customers/new", fields)

    assert response.status_code == 400
    assert _error_next_to(response.text, field).startswith(says)
    assert f'id="{field}"' in response.text
    for name, value in fields.items():
        if len(value) < 100:
            assert f'value="{value}"' in response.text, name
    assert _count(database) == 0


def test_a_new_customer_with_an_email_in_use_is_refused_next_to_the_email(
    staff: TestClient, database: Database
) -> None:
    factories.customer(database, email="taken@example.com")

    response = submit(
        staff,
        "/admin/customers/new",
        "/admin/customers/new",
        {"name": "Someone Else", "email": "TAKEN@example.com"},
    )

    assert response.status_code == 409
    assert "already exists" in _error_next_to(response.text, "email")
    assert 'value="Someone Else"' in response.text
    assert _count(database) == 1


# ---------------------------------------------------------------- edit


def test_staff_edit_a_customers_name_email_and_phone(staff: TestClient, database: Database) -> None:
    customer_id = factories.customer(database, name="Ada", email="ada@example.com")
    page = f"/admin/customers/{customer_id}/edit"

    response = submit(
        staff,
        page,
        page,
        {
            "name": "Ada Lovelace",
            "email": "countess@example.com",
            "phone": "+1 555 010 2030",
            "version": _version(staff, page),
        },
    )

    assert response.headers["location"] == f"/admin/customers/{customer_id}"
    assert flashes(follow(staff, response).text) == [("ok", "Changes saved.")]
    assert _profile(database, customer_id)[:3] == (
        "Ada Lovelace",
        "countess@example.com",
        "+15550102030",
    )


def test_an_empty_phone_forgets_the_number(staff: TestClient, database: Database) -> None:
    customer_id = factories.customer(database, name="Ada", email="ada@example.com")
    page = f"/admin/customers/{customer_id}/edit"
    with database.write() as session:
        found = catalog.get_customer(session, customer_id)
        catalog.update_customer(session, found, catalog.CustomerChanges(phone="+15550102030"))
    assert 'value="+15550102030"' in staff.get(page).text

    submit(
        staff,
        page,
        page,
        {"name": "Ada", "email": "ada@example.com", "phone": "", "version": _version(staff, page)},
    )

    assert _profile(database, customer_id)[2] is None


def _version(client: TestClient, page: str) -> str:
    found = re.search(r'name="version" value="([0-9a-f]+)"', client.get(page).text)
    assert found is not None
    return found.group(1)


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("name", "", "This can't be empty."),
        ("email", "nope", "value is not a valid email address"),
        ("phone", "12345", "phone must be"),
    ],
)
def test_an_edit_the_rules_refuse_shows_why_next_to_the_field_and_changes_nothing(
    staff: TestClient, database: Database, field: str, value: str, says: str
) -> None:
    customer_id = factories.customer(database, name="Ada", email="ada@example.com")
    page = f"/admin/customers/{customer_id}/edit"
    fields = {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "", field: value}

    response = submit(staff, page, page, {**fields, "version": _version(staff, page)})

    assert response.status_code == 400
    assert _error_next_to(response.text, field).startswith(says)
    assert 'value="Ada Lovelace"' in response.text or field == "name"
    assert f'value="{value}"' in response.text
    assert _profile(database, customer_id)[:2] == ("Ada", "ada@example.com")


def test_an_edit_to_an_email_in_use_is_refused_next_to_the_email(
    staff: TestClient, database: Database
) -> None:
    factories.customer(database, email="taken@example.com")
    customer_id = factories.customer(database, name="Ada", email="ada@example.com")
    page = f"/admin/customers/{customer_id}/edit"

    response = submit(
        staff,
        page,
        page,
        {"name": "Ada", "email": "taken@example.com", "version": _version(staff, page)},
    )

    assert response.status_code == 409
    assert "already in use" in _error_next_to(response.text, "email")
    assert _profile(database, customer_id)[1] == "ada@example.com"


def test_an_edit_that_crossed_another_is_shown_again_and_a_second_save_keeps_it(
    staff: TestClient, database: Database
) -> None:
    customer_id = factories.customer(database, name="Ada", email="ada@example.com")
    page = f"/admin/customers/{customer_id}/edit"
    opened = _version(staff, page)
    with database.write() as session:  # a colleague saves first
        found = catalog.get_customer(session, customer_id)
        catalog.update_customer(session, found, catalog.CustomerChanges(name="Ada K."))
    mine = {"name": "Ada Lovelace", "email": "ada@example.com", "phone": ""}

    crossed = submit(staff, page, page, {**mine, "version": opened})

    assert crossed.status_code == 409
    assert "Someone else changed this customer" in text_of(crossed.text)
    assert 'value="Ada Lovelace"' in crossed.text
    assert _profile(database, customer_id)[0] == "Ada K."
    again = re.search(r'name="version" value="([0-9a-f]+)"', crossed.text)
    assert again is not None
    token = csrf_of(crossed.text)
    saved = staff.post(page, data={**mine, "version": again.group(1), "csrf_token": token})
    assert saved.status_code == 303
    assert _profile(database, customer_id)[0] == "Ada Lovelace"


def test_editing_an_unknown_customer_is_a_404_page(staff: TestClient) -> None:
    assert staff.get("/admin/customers/999999/edit").status_code == 404


# ---------------------------------------------------------------- every form


@pytest.mark.parametrize("tamper", ["no token", "wrong token"])
@pytest.mark.parametrize("form", ["new", "edit", "balance"])
def test_a_form_post_without_this_browsers_token_is_refused_and_changes_nothing(
    admin: TestClient, database: Database, form: str, tamper: str
) -> None:
    customer_id = factories.customer(database, name="Ada", email="ada@example.com", balance=10_00)
    action = "/admin/customers/new" if form == "new" else f"/admin/customers/{customer_id}/{form}"
    page = admin.get(action).text
    data = {
        "name": "Forged",
        "email": "forged@example.com",
        "amount": "1000",
        "reason": "forged",
        "version": (re.findall(r'name="version" value="([^"]*)"', page) or [""])[0],
    }
    if tamper == "wrong token":
        data["csrf_token"] = "0" * 64

    response = admin.post(action, data=data)

    assert response.status_code == 403
    assert "Nothing was changed" in text_of(response.text)
    assert _profile(database, customer_id) == ("Ada", "ada@example.com", None, 10_00)
    assert _count(database) == 1


def test_a_customer_named_like_a_script_is_text_on_every_customer_page(
    admin: TestClient, database: Database
) -> None:
    created = submit(
        admin,
        "/admin/customers/new",
        "/admin/customers/new",
        {"name": SCRIPT, "email": "script@example.com"},
    )
    customer_id = int(created.headers["location"].rsplit("/", 1)[1])
    landed = follow(admin, created)

    pages = [
        landed.text,
        admin.get("/admin/customers").text,
        admin.get("/admin/customers?q=script").text,
        admin.get(f"/admin/customers/{customer_id}/edit").text,
        admin.get(f"/admin/customers/{customer_id}/balance").text,
    ]

    assert flashes(landed.text) == [("ok", f"Customer {SCRIPT} added.")]
    for page in pages:
        assert SCRIPT not in page
        assert ESCAPED in page
