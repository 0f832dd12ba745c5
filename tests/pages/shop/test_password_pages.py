"""Forgotten passwords: asking for a link at /forgot-password, choosing a new password with
it at /reset-password, and what a spent link or a wrong form gets."""

from __future__ import annotations

import email
import re
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.models import OutboxEvent, utcnow
from ordermill.services import accounts
from ordermill.services.password_resets import CLIENT_POLICY
from ordermill.services.tables import password_resets
from ordermill.web.pages.sessions import CUSTOMER
from tests import factories
from tests.factories import PASSWORD
from tests.pages.forms import flashes, follow, log_in, shop_log_in, submit, text_of
from tests.pages.shop.conftest import Shopper

NEW_PASSWORD = "a brand new secret"
SENT = "If an account exists for that address, we have sent a link to it."
SPENT = "The password reset link is unknown, used or expired; ask for a new one."
LINK = re.compile(r"\S+(/reset-password\?token=[A-Za-z0-9_%-]+)")


def ask(client: TestClient, address: str) -> httpx.Response:
    return submit(client, "/forgot-password", "/forgot-password", {"email": address})


def reset_rows(database: Database) -> list[str]:
    with database.read() as session:
        return list(session.scalars(select(password_resets.c.email)))


def tokens_sent(database: Database) -> list[str]:
    """The token of each reset message waiting in the outbox, oldest first."""
    with database.read() as session:
        rows = session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.type == "account.password_reset")
            .order_by(OutboxEvent.id)
        )
        return [row.data["token"] for row in rows]


def link_for(client: TestClient, database: Database, address: str) -> str:
    """Ask for a link for ``address`` through the page; the path the email links to."""
    assert ask(client, address).status_code == 303
    return f"/reset-password?token={quote(tokens_sent(database)[-1], safe='')}"


def set_password(
    client: TestClient, link: str, password: str = NEW_PASSWORD, again: str | None = None
) -> httpx.Response:
    token = link.split("token=")[1]
    data: dict[str, Any] = {
        "token": token,
        "password": password,
        "password_again": password if again is None else again,
    }
    return submit(client, link, "/reset-password", data)


def customer_login(database: Database) -> str:
    customer_id = factories.customer(database, name="Ada Lovelace", email="ada@example.com")
    factories.user(database, role="customer", customer_id=customer_id, email="ada@example.com")
    return "ada@example.com"


# ---------------------------------------------------------------- asking for a link


def test_a_known_and_an_unknown_address_get_the_same_answer_and_only_the_known_a_link(
    visitor: TestClient, database: Database
) -> None:
    customer_login(database)

    known = ask(visitor, "ada@example.com")
    unknown = ask(visitor, "nobody@example.com")

    assert known.status_code == unknown.status_code == 303
    assert known.headers["location"] == unknown.headers["location"]
    assert known.headers.get("set-cookie") == unknown.headers.get("set-cookie")
    assert known.content == unknown.content
    assert reset_rows(database) == ["ada@example.com"]
    assert len(tokens_sent(database)) == 1
    page = follow(visitor, unknown)
    assert SENT in text_of(page.text)
    assert "60 minutes" in text_of(page.text)


def test_an_address_that_is_not_one_is_refused_and_nothing_is_asked(
    visitor: TestClient, database: Database
) -> None:
    customer_login(database)

    response = ask(visitor, "ada at example.com")

    assert response.status_code == 400
    assert 'id="email-error"' in response.text
    assert 'value="ada at example.com"' in response.text
    assert reset_rows(database) == []


def test_too_many_requests_from_one_browser_are_refused_in_words(
    visitor: TestClient, database: Database
) -> None:
    customer_login(database)
    for n in range(CLIENT_POLICY.limit):
        assert ask(visitor, f"someone{n}@example.com").status_code == 303

    response = ask(visitor, "ada@example.com")

    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0
    assert "Too many password reset requests; try again in" in text_of(response.text)
    assert reset_rows(database) == []


# ---------------------------------------------------------------- the link


def test_the_emailed_link_opens_the_form_and_sets_the_password(
    visitor: TestClient, database: Database
) -> None:
    pytest.importorskip("ordermill.notify.email")
    from ordermill.notify import channels_for
    from ordermill.notify.worker import Worker

    address = customer_login(database)
    ask(visitor, address)
    settings = Settings(database_url=database.url, smtp_url=None)
    Worker(database, settings, channels_for(settings)).run_once()
    (path,) = Path(settings.mail_dir).rglob("*.eml")
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    body = "\n".join(
        part.get_content() for part in message.walk() if part.get_content_maintype() == "text"
    )
    found = LINK.search(body)
    assert found is not None, body

    form = visitor.get(found.group(1))
    response = set_password(visitor, found.group(1))

    assert form.status_code == 200
    assert '<input type="hidden" name="token"' in form.text
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert ("ok", "Your password is set: log in with it.") in flashes(
        follow(visitor, response).text
    )
    assert shop_log_in(visitor, address, NEW_PASSWORD).status_code == 303


def test_after_a_reset_the_old_password_fails_and_the_new_one_works(
    visitor: TestClient, database: Database
) -> None:
    address = customer_login(database)

    set_password(visitor, link_for(visitor, database, address))

    assert shop_log_in(visitor, address, PASSWORD).status_code == 400
    assert shop_log_in(visitor, address, NEW_PASSWORD).status_code == 303


def test_a_used_link_is_refused_with_the_reason_and_sets_nothing(
    visitor: TestClient, database: Database
) -> None:
    address = customer_login(database)
    link = link_for(visitor, database, address)
    assert set_password(visitor, link).status_code == 303

    opened = visitor.get(link)
    token = link.split("token=")[1]
    again = submit(
        visitor,
        "/forgot-password",
        "/reset-password",
        {"token": token, "password": "yet another secret", "password_again": "yet another secret"},
    )

    assert opened.status_code == 400
    assert SPENT in text_of(opened.text)
    assert 'name="password"' not in opened.text  # no form to fill in for nothing
    assert again.status_code == 400
    assert SPENT in text_of(again.text)
    assert shop_log_in(visitor, address, NEW_PASSWORD).status_code == 303


def test_an_unknown_link_is_refused_and_a_page_without_one_says_where_to_get_one(
    visitor: TestClient,
) -> None:
    unknown = visitor.get("/reset-password?token=made-up")
    without = visitor.get("/reset-password")

    assert unknown.status_code == 400
    assert SPENT in text_of(unknown.text)
    assert without.status_code == 200
    assert "link in the email" in text_of(without.text)
    assert 'href="/forgot-password"' in without.text


def test_an_expired_link_is_refused_before_a_password_is_typed(
    visitor: TestClient, database: Database
) -> None:
    address = customer_login(database)
    with database.write() as session:
        session.execute(
            insert(password_resets).values(
                email=address,
                token_hash=accounts.token_digest("old-link"),
                created=utcnow() - timedelta(hours=2),
                expires=utcnow() - timedelta(seconds=1),
            )
        )

    response = visitor.get("/reset-password?token=old-link")

    assert response.status_code == 400
    assert SPENT in text_of(response.text)


def test_two_different_passwords_are_refused_and_the_link_still_works(
    visitor: TestClient, database: Database
) -> None:
    address = customer_login(database)
    link = link_for(visitor, database, address)

    differ = set_password(visitor, link, again="something else entirely")
    weak = set_password(visitor, link, password="short", again="short")

    assert differ.status_code == 400
    assert '<p class="field-error" id="password_again-error">The two passwords differ.</p>' in (
        differ.text
    )
    assert NEW_PASSWORD not in differ.text
    assert weak.status_code == 400
    assert "Use at least 10 characters." in text_of(weak.text)
    assert shop_log_in(visitor, address, PASSWORD).status_code == 303
    assert set_password(visitor, link).status_code == 303


def test_a_staff_member_is_sent_to_the_back_office_login(
    visitor: TestClient, database: Database
) -> None:
    factories.user(database, role="staff", email="clerk@example.com")

    response = set_password(visitor, link_for(visitor, database, "clerk@example.com"))

    assert response.headers["location"] == "/admin/login"
    page = follow(visitor, response)
    assert ("ok", "Your password is set: log in with it.") in flashes(page.text)
    assert log_in(visitor, "clerk@example.com", NEW_PASSWORD).status_code == 303


def test_a_customer_who_resets_while_signed_in_is_signed_out_everywhere(
    customer: Shopper, database: Database, visitor: TestClient
) -> None:
    old_cookie = customer.browser.cookies.get(CUSTOMER.cookie)
    link = link_for(visitor, database, customer.email)

    response = set_password(customer.browser, link)

    assert response.status_code == 303
    assert f'{CUSTOMER.cookie}=""' in response.headers["set-cookie"]
    assert old_cookie is not None
    visitor.cookies.set(CUSTOMER.cookie, old_cookie)  # a copy of the old session
    assert visitor.get("/account").status_code == 303
