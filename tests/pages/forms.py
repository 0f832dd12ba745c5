"""Driving pages over plain HTTP like a browser without JavaScript: forms, tokens, messages."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx2 as httpx
from fastapi.testclient import TestClient
from sqlalchemy import event

from ordermill.db import Database
from tests import factories

_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
_FLASH = re.compile(r'<p class="flash flash-(ok|error)"[^>]*>(.*?)</p>', re.S)


def csrf_of(page: str) -> str:
    """The CSRF token the page's forms carry."""
    found = _CSRF.search(page)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def submit(
    client: TestClient, page: str, action: str, data: dict[str, Any] | None = None
) -> httpx.Response:
    """Open ``page``, then post ``data`` to ``action`` with the page's CSRF token, as a
    browser does. Redirects are not followed: the caller sees the 303 and where it goes."""
    opened = client.get(page)
    assert opened.status_code == 200, (page, opened.status_code, opened.text[:500])
    body = {**(data or {}), "csrf_token": csrf_of(opened.text)}
    return client.post(action, data=body, follow_redirects=False)


def follow(client: TestClient, response: httpx.Response) -> httpx.Response:
    """The page a redirect-after-POST lands on."""
    assert response.status_code == 303, (response.status_code, response.text[:500])
    return client.get(response.headers["location"])


def flashes(page: str) -> list[tuple[str, str]]:
    """The messages on a page: (ok|error, text), unescaped."""
    return [(level, html.unescape(text).strip()) for level, text in _FLASH.findall(page)]


def log_in(client: TestClient, email: str, password: str = factories.PASSWORD) -> httpx.Response:
    """Log in through the staff login form; returns the answer to the POST."""
    return submit(client, "/admin/login", "/admin/login", {"email": email, "password": password})


def text_of(page: str) -> str:
    """The page's text without tags, whitespace collapsed (for "the page says" checks)."""
    without_tags = re.sub(r"<(script|style)[^>]*>.*?</\1>|<[^>]+>", " ", page, flags=re.S)
    return " ".join(html.unescape(without_tags).split())


def shop_log_in(
    client: TestClient, email: str, password: str = factories.PASSWORD
) -> httpx.Response:
    """Log in through the storefront's login form; returns the answer to the POST."""
    return submit(client, "/login", "/login", {"email": email, "password": password})


def statements_for(database: Database, client: TestClient, path: str) -> list[str]:
    """The queries opening ``path`` runs, apart from checking the browser's session (which
    the token cache may or may not answer by then) and transaction control."""
    statements: list[str] = []

    def keep(*args: Any) -> None:
        statements.append(args[2])

    event.listen(database.engine, "before_cursor_execute", keep)
    try:
        assert client.get(path).status_code == 200
    finally:
        event.remove(database.engine, "before_cursor_execute", keep)
    return [
        sql
        for sql in statements
        if "api_tokens" not in sql and sql.split(None, 1)[0].upper() not in {"BEGIN", "COMMIT"}
    ]
