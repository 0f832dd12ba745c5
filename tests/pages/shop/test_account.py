"""A customer's /account: their details, balance and its history, editing the details, and
changing the password at /account/password."""

from __future__ import annotations

import re

import httpx2 as httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.display import money
from ordermill.domain.access import ACCOUNT_POLICY
from ordermill.services import catalog
from ordermill.services import processing as processing_service
from ordermill.services.tables import audit_log
from ordermill.web.app import create_app
from ordermill.web.pages.sessions import CUSTOMER
from ordermill.web.pages.shop.account import LEDGER_PAGE
from tests import factories
from tests.factories import PASSWORD
from tests.pages.forms import flashes, follow, shop_log_in, submit, text_of
from tests.pages.shop.conftest import Shopper
from tests.pages.test_page_access import snapshot

CURRENCY = Settings().currency
NEW_PASSWORD = "a brand new secret"
_VERSION = re.compile(r'name="version" value="([0-9a-f]*)"')


def adjust(database: Database, customer_id: int, amount: int, reason: str) -> None:
    with database.write() as session:
        catalog.adjust_balance(session, customer_id, amount, reason=reason)


def ledger_rows(page: str) -> list[str]:
    """The text of each row of the balance history, top to bottom."""
    body = page.split('id="ledger"', 1)[1]
    return [text_of(row) for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)[1:]]


def profile(database: Database, customer_id: int) -> tuple[str, str, str | None]:
    with database.read() as session:
        found = catalog.get_customer(session, customer_id)
        return found.name, found.email, found.phone


def edit(shopper: Shopper, **fields: str) -> httpx.Response:
    current = profile_fields(shopper.browser.get("/account").text)
    return submit(shopper.browser, "/account", "/account", {**current, **fields})


def profile_fields(page: str) -> dict[str, str]:
    """The profile form's fields as the page fills them in."""
    fields = {}
    for name in ("name", "email", "phone", "version"):
        found = re.search(rf'name="{name}"[^>]*value="([^"]*)"', page)
        assert found, name
        fields[name] = found.group(1)
    return fields


def updates_audited(database: Database, customer_id: int) -> int:
    with database.read() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(audit_log)
                .where(audit_log.c.action == "customer.updated")
                .where(audit_log.c.entity_id == customer_id)
            )
            or 0
        )


def change_password(
    shopper: Shopper, current: str, new: str = NEW_PASSWORD, again: str | None = None
) -> httpx.Response:
    data = {"current_password": current, "password": new, "password_again": again or new}
    return submit(shopper.browser, "/account/password", "/account/password", data)


def browser(database: Database) -> TestClient:
    app = create_app(Settings(database_url=database.url), database)
    return TestClient(app, raise_server_exceptions=False, follow_redirects=False)


# ---------------------------------------------------------------- the page


def test_the_account_shows_the_details_the_balance_and_its_history_newest_first(
    customer: Shopper, database: Database
) -> None:
    adjust(database, customer.customer_id, 25_00, "Birthday gift")

    response = customer.browser.get("/account")

    assert response.status_code == 200
    page = text_of(response.text)
    assert customer.email in page
    assert money(525_00, CURRENCY) in page
    rows = ledger_rows(response.text)
    assert len(rows) == 2
    assert "Adjustment by the store" in rows[0]
    assert f"{money(25_00, CURRENCY)} {money(525_00, CURRENCY)} Birthday gift" in rows[0]
    assert "opening balance" in rows[1]
    assert 'href="/account/orders"' in response.text


def test_an_order_paid_from_the_balance_links_to_the_order(
    customer: Shopper, database: Database
) -> None:
    product_id = factories.product(database, price=10_00, stock=5)
    order_id = factories.order(database, customer.customer_id, (product_id, 2))
    with database.write() as session:
        number = processing_service.process_order(session, order_id).number

    page = customer.browser.get("/account").text

    rows = ledger_rows(page)
    assert f"Order payment -{money(20_00, CURRENCY)} {money(480_00, CURRENCY)}" in rows[0]
    assert f'<a href="/account/orders/{number}">Order {number}</a>' in page


def test_the_account_is_the_customers_own(
    customer: Shopper, other_customer: Shopper, database: Database
) -> None:
    adjust(database, other_customer.customer_id, 7_00, "Someone else's refund")

    page = customer.browser.get("/account").text

    assert other_customer.email not in page
    assert "Someone else's refund" not in text_of(page)
    assert money(507_00, CURRENCY) not in text_of(page)


def test_the_history_comes_a_page_at_a_time_with_a_link_to_the_older_changes(
    customer: Shopper, database: Database
) -> None:
    for n in range(1, LEDGER_PAGE + 1):
        adjust(database, customer.customer_id, 1_00, f"Top-up {n}")

    first = customer.browser.get("/account")
    older = re.search(r'href="(/account\?cursor=[^"#]+)#ledger" rel="next"', first.text)
    assert older is not None
    second = customer.browser.get(older.group(1).replace("&amp;", "&"))

    first_rows = ledger_rows(first.text)
    assert len(first_rows) == LEDGER_PAGE
    assert f"Top-up {LEDGER_PAGE}" in first_rows[0]
    assert "Top-up 1" in first_rows[-1]
    assert second.status_code == 200
    assert ["opening balance" in row for row in ledger_rows(second.text)] == [True]
    assert 'rel="next"' not in second.text
    assert 'href="/account#ledger"' in second.text


def test_a_customer_who_is_not_signed_in_is_sent_to_log_in(visitor: TestClient) -> None:
    response = visitor.get("/account")

    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/account"


# ---------------------------------------------------------------- editing the details


def test_the_details_are_changed_and_the_login_moves_with_the_email(
    customer: Shopper, database: Database
) -> None:
    response = edit(customer, name="Ada King", email="Ada@Example.com", phone="+44 20 7946 0958")

    assert response.status_code == 303
    landed = follow(customer.browser, response)
    assert ("ok", "Your details are saved; you log in with ada@example.com now.") in flashes(
        landed.text
    )
    assert profile(database, customer.customer_id) == (
        "Ada King",
        "ada@example.com",
        "+442079460958",
    )
    with browser(database) as fresh:
        assert shop_log_in(fresh, "ada@example.com").status_code == 303


def test_an_empty_phone_forgets_the_number(customer: Shopper, database: Database) -> None:
    edit(customer, phone="+1 555 010 2030")

    response = edit(customer, phone="")

    assert response.status_code == 303
    assert profile(database, customer.customer_id)[2] is None


def test_a_form_opened_before_another_change_is_refused_and_keeps_what_was_typed(
    customer: Shopper, database: Database
) -> None:
    opened = profile_fields(customer.browser.get("/account").text)
    with database.write() as session:  # meanwhile, in another tab
        found = catalog.get_customer(session, customer.customer_id)
        catalog.update_customer(session, found, catalog.CustomerChanges(name="Changed Elsewhere"))

    response = submit(customer.browser, "/account", "/account", {**opened, "name": "Stale Tab"})

    assert response.status_code == 409
    assert "Your details were changed elsewhere" in text_of(response.text)
    assert 'value="Stale Tab"' in response.text
    assert profile(database, customer.customer_id)[0] == "Changed Elsewhere"
    again = profile_fields(response.text)
    assert again["version"] != opened["version"]  # saving the form again now works
    assert submit(customer.browser, "/account", "/account", again).status_code == 303
    assert profile(database, customer.customer_id)[0] == "Stale Tab"


def test_the_same_form_sent_twice_saves_once_and_says_saved_both_times(
    customer: Shopper, database: Database
) -> None:
    fields = {**profile_fields(customer.browser.get("/account").text), "name": "Twice"}

    first = submit(customer.browser, "/account", "/account", fields)
    second = submit(customer.browser, "/account", "/account", fields)

    assert first.status_code == second.status_code == 303
    assert updates_audited(database, customer.customer_id) == 1


def test_a_taken_email_and_a_bad_phone_are_refused_in_words_and_change_nothing(
    customer: Shopper, other_customer: Shopper, database: Database
) -> None:
    before = snapshot(database)

    taken = edit(customer, email=other_customer.email)
    bad_phone = edit(customer, phone="555")
    empty = edit(customer, name="  ")

    assert taken.status_code == 409
    assert f"The email {other_customer.email} is already in use." in text_of(taken.text)
    assert bad_phone.status_code == 400
    assert 'id="phone-error"' in bad_phone.text
    assert empty.status_code == 400
    assert '<p class="field-error" id="name-error">Fill this in.</p>' in empty.text
    assert snapshot(database) == before


def test_a_name_with_markup_is_shown_as_text(customer: Shopper, database: Database) -> None:
    edit(customer, name='<script>alert("hi")</script>')

    page = customer.browser.get("/account").text

    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#34;hi&#34;)&lt;/script&gt;" in page


# ---------------------------------------------------------------- the password


def test_a_new_password_signs_out_other_devices_and_keeps_this_one_signed_in(
    customer: Shopper, database: Database
) -> None:
    with browser(database) as elsewhere:
        assert shop_log_in(elsewhere, customer.email).status_code == 303

        response = change_password(customer, PASSWORD)

        assert response.status_code == 303
        assert response.headers["location"] == "/account"
        assert f"{CUSTOMER.cookie}=" in response.headers["set-cookie"]
        landed = follow(customer.browser, response)
        assert landed.status_code == 200
        assert "Your password is changed." in text_of(landed.text)
        assert elsewhere.get("/account").status_code == 303  # signed out there
        assert shop_log_in(elsewhere, customer.email, PASSWORD).status_code == 400
        assert shop_log_in(elsewhere, customer.email, NEW_PASSWORD).status_code == 303


def test_a_wrong_current_password_is_refused_and_changes_nothing(
    customer: Shopper, database: Database
) -> None:
    response = change_password(customer, "not my password")

    assert response.status_code == 400
    assert "That is not your current password." in text_of(response.text)
    assert "not my password" not in response.text
    assert customer.browser.get("/account").status_code == 200
    with browser(database) as fresh:
        assert shop_log_in(fresh, customer.email, PASSWORD).status_code == 303


def test_two_different_new_passwords_or_a_weak_one_are_refused(
    customer: Shopper, database: Database
) -> None:
    differ = change_password(customer, PASSWORD, again="something else entirely")
    weak = change_password(customer, PASSWORD, new="short")

    assert differ.status_code == 400
    assert "The two passwords differ." in text_of(differ.text)
    assert weak.status_code == 400
    assert "Use at least 10 characters." in text_of(weak.text)
    with browser(database) as fresh:
        assert shop_log_in(fresh, customer.email, PASSWORD).status_code == 303


def test_guessing_the_current_password_is_throttled_like_a_login(customer: Shopper) -> None:
    for _ in range(ACCOUNT_POLICY.limit):
        assert change_password(customer, "a wrong guess").status_code == 400

    response = change_password(customer, PASSWORD)

    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0
    assert "Too many failed logins" in text_of(response.text)
