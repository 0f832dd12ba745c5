"""What every page has: CSRF-checked forms, security headers, and errors as pages."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.web.app import create_app
from ordermill.web.pages.errors import CONTENT_SECURITY_POLICY
from tests import factories
from tests.pages.forms import csrf_of, text_of


@pytest.mark.parametrize(
    "tamper",
    ["no token", "wrong token", "no csrf cookie", "token of another browser"],
)
def test_a_login_post_without_this_browsers_token_is_refused(
    visitor: TestClient, database: Database, tamper: str
) -> None:
    factories.user(database, role="staff", email="csrf@example.com")
    token = csrf_of(visitor.get("/admin/login").text)
    data = {"email": "csrf@example.com", "password": factories.PASSWORD, "csrf_token": token}
    if tamper == "no token":
        del data["csrf_token"]
    elif tamper == "wrong token":
        data["csrf_token"] = "0" * 64
    elif tamper == "no csrf cookie":
        visitor.cookies.delete("ordermill_csrf")
    else:
        app = create_app(Settings(database_url=database.url), database)
        with TestClient(app) as other:
            data["csrf_token"] = csrf_of(other.get("/admin/login").text)

    response = visitor.post("/admin/login", data=data)

    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "Nothing was changed" in text_of(response.text)
    assert "ordermill_admin" not in response.headers.get("set-cookie", "")


def test_a_logout_forged_with_the_session_cookie_but_no_token_keeps_the_session(
    staff: TestClient,
) -> None:
    response = staff.post("/admin/logout", data={})

    assert response.status_code == 403
    assert staff.get("/admin/login").status_code == 303  # still signed in


@pytest.mark.parametrize("path", ["/admin/login", "/admin/no-such-page", "/static/ordermill.css"])
def test_pages_carry_the_security_headers(visitor: TestClient, path: str) -> None:
    response = visitor.get(path)

    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["x-frame-options"] == "DENY"


def test_the_api_keeps_its_problem_json_and_the_docs_their_own_policy(
    visitor: TestClient,
) -> None:
    api = visitor.get("/api/nothing")
    docs = visitor.get("/docs")

    assert api.headers["content-type"] == "application/problem+json"
    assert docs.headers.get("content-security-policy") != CONTENT_SECURITY_POLICY


def test_an_unknown_page_is_a_404_page_in_the_layout(visitor: TestClient) -> None:
    response = visitor.get("/admin/no-such-page")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "There is no such page." in text_of(response.text)
    assert '<main id="main"' in response.text


def test_an_unexpected_error_is_a_friendly_500_page_with_a_request_id_and_no_traceback(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(Settings(database_url=database.url), database)

    @app.get("/admin/explode")
    def explode() -> None:
        raise RuntimeError("secret internals")

    with (
        TestClient(app, raise_server_exceptions=False) as browser,
        caplog.at_level(logging.ERROR, "ordermill.web"),
    ):
        response = browser.get("/admin/explode")

    text = text_of(response.text)
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "Something went wrong on our side" in text
    request_id = text.split("Request id: ")[1].split()[0]
    assert len(request_id) == 12
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text
    assert any(request_id in record.getMessage() for record in caplog.records)


def test_the_static_files_are_served_from_the_app(visitor: TestClient) -> None:
    for name, kind in [
        ("ordermill.css", "text/css"),
        ("print.css", "text/css"),
        ("ordermill.js", "text/javascript"),
    ]:
        response = visitor.get(f"/static/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"].startswith(kind), name
    assert visitor.get("/static/../config.py").status_code == 404
