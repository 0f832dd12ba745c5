"""/admin/users: admins manage logins (create, role, disable, passwords) and API tokens."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.models import ApiToken
from ordermill.services import accounts
from ordermill.services.tables import outbox_events
from ordermill.web.app import create_app
from tests import factories
from tests.pages.forms import flashes, follow, log_in, submit, text_of

XSS = "<script>alert(1)</script>"
ADMIN = "admin-pages@example.com"  # the ``admin`` fixture's login
NEW_PASSWORD = "a brand new passphrase"


def user_row(database: Database, user_id: int) -> tuple[str, str, bool]:
    with database.read() as session:
        user = accounts.get_user(session, user_id)
        return user.email, user.role, user.disabled


def user_count(database: Database) -> int:
    with database.read() as session:
        return len(accounts.list_users(session))


def admin_id(database: Database) -> int:
    with database.read() as session:
        return accounts.find_user(session, ADMIN).id


def token_rows(database: Database, user_id: int) -> list[tuple[str | None, bool]]:
    with database.read() as session:
        rows = session.scalars(
            select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.kind == accounts.API)
        ).all()
        return [(row.name, row.revoked is not None) for row in rows]


def reset_messages(database: Database) -> list[str]:
    with database.read() as session:
        rows = session.execute(
            select(outbox_events.c.data).where(outbox_events.c.type == "account.password_reset")
        ).all()
    return [row.data["email"] for row in rows]


def error_next_to(page: str, name: str) -> str:
    found = re.search(rf'<p class="field-error" id="{name}-error">(.*?)</p>', page, re.S)
    assert found, f"no error next to {name}: {text_of(page)[:800]}"
    return html.unescape(found.group(1))


def signed_in(database: Database, email: str, password: str = factories.PASSWORD) -> TestClient:
    app = create_app(Settings(database_url=database.url), database)
    browser = TestClient(app, follow_redirects=False)
    assert log_in(browser, email, password).status_code == 303
    return browser


# ---------------------------------------------------------------- who may


@pytest.mark.parametrize("path", ["/admin/users", "/admin/users/new", "/admin/users/{id}"])
def test_staff_get_a_403_page_and_admins_the_page(
    staff: TestClient, admin: TestClient, database: Database, path: str
) -> None:
    user_id = factories.user(database, role="staff")

    refused = staff.get(path.format(id=user_id))
    allowed = admin.get(path.format(id=user_id))

    assert refused.status_code == 403
    assert "may not open this page" in text_of(refused.text)
    assert allowed.status_code == 200


@pytest.mark.parametrize(
    ("action", "data"),
    [
        ("/admin/users/new", {"email": "x@example.com", "role": "admin", "password": "p" * 12}),
        ("/admin/users/{id}/role", {"role": "admin"}),
        ("/admin/users/{id}/disable", {}),
        ("/admin/users/{id}/password", {"password": "p" * 12, "password_again": "p" * 12}),
        ("/admin/users/{id}/tokens", {"name": "mine now"}),
    ],
)
def test_staff_cannot_act_on_logins_even_with_a_valid_form(
    staff: TestClient, database: Database, action: str, data: dict[str, str]
) -> None:
    user_id = factories.user(database, role="staff")
    before = (user_row(database, user_id), user_count(database), token_rows(database, user_id))

    response = submit(staff, "/admin/products", action.format(id=user_id), data)

    assert response.status_code == 403
    assert (
        user_row(database, user_id),
        user_count(database),
        token_rows(database, user_id),
    ) == before


def test_the_menu_shows_users_and_the_audit_log_to_admins_only(
    staff: TestClient, admin: TestClient
) -> None:
    assert 'href="/admin/users"' not in staff.get("/admin/products").text
    assert 'href="/admin/users"' in admin.get("/admin/products").text


@pytest.mark.parametrize("path", ["/admin/users/987654", "/admin/users/987654/tokens/1/revoke"])
def test_an_unknown_login_is_a_404_page(admin: TestClient, path: str) -> None:
    revoke = path.endswith("revoke")
    response = submit(admin, "/admin/users", path) if revoke else admin.get(path)

    assert response.status_code == 404


# ---------------------------------------------------------------- the list


def test_the_list_shows_email_role_status_and_last_login(
    admin: TestClient, database: Database
) -> None:
    factories.user(database, role="staff", email="clerk@example.com", disabled=True)
    factories.customer_login(database)

    staff_only = text_of(admin.get("/admin/users").text)
    everyone = admin.get("/admin/users", params={"who": "all"}).text

    assert "clerk@example.com staff disabled never" in staff_only
    assert f"{ADMIN} (you) admin enabled" in staff_only
    assert "customer" not in staff_only.split("Created", 1)[1]
    assert "customer" in text_of(everyone).split("Created", 1)[1]


# ---------------------------------------------------------------- a new login


def test_an_admin_creates_a_staff_login_with_a_password_and_it_can_log_in(
    admin: TestClient, database: Database
) -> None:
    response = submit(
        admin,
        "/admin/users/new",
        "/admin/users/new",
        {
            "email": "New.Clerk@Example.com",
            "role": "staff",
            "setup": "password",
            "password": NEW_PASSWORD,
        },
    )

    assert response.status_code == 303
    user_id = int(response.headers["location"].rsplit("/", 1)[1])
    assert flashes(follow(admin, response).text) == [
        ("ok", "Created staff new.clerk@example.com: they may log in.")
    ]
    assert user_row(database, user_id) == ("new.clerk@example.com", "staff", False)
    signed_in(database, "new.clerk@example.com", NEW_PASSWORD).close()
    assert reset_messages(database) == []


def test_an_admin_creates_a_login_that_gets_a_link_to_choose_its_password(
    admin: TestClient, database: Database
) -> None:
    response = submit(
        admin,
        "/admin/users/new",
        "/admin/users/new",
        {"email": "boss@example.com", "role": "admin", "setup": "link", "password": ""},
    )

    assert response.status_code == 303
    assert (
        "a link to choose a password is on its way" in flashes(follow(admin, response).text)[0][1]
    )
    user_id = int(response.headers["location"].rsplit("/", 1)[1])
    assert user_row(database, user_id) == ("boss@example.com", "admin", False)
    assert reset_messages(database) == ["boss@example.com"]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"email": ""}, "email", "Fill this in."),
        ({"email": "not-an-address"}, "email", "email"),
        ({"role": "customer"}, "role", "Choose staff or admin."),
        ({"role": "owner"}, "role", "Choose staff or admin."),
        ({"password": "short"}, "password", "Use at least 10 characters."),
        ({"setup": "carrier pigeon"}, "setup", "Choose how they get their password."),
        ({"email": ADMIN}, "email", f"A user with email {ADMIN} already exists."),
    ],
)
def test_a_wrong_new_login_shows_the_form_again_and_creates_nothing(
    admin: TestClient, database: Database, data: dict[str, str], field: str, message: str
) -> None:
    before = user_count(database)
    form = {
        "email": "clerk@example.com",
        "role": "staff",
        "setup": "password",
        "password": NEW_PASSWORD,
    }

    response = submit(admin, "/admin/users/new", "/admin/users/new", {**form, **data})

    assert response.status_code == 400
    assert message in error_next_to(response.text, field)
    assert user_count(database) == before
    assert NEW_PASSWORD not in response.text  # a password is never sent back
    if field != "email":
        assert 'value="clerk@example.com"' in response.text


# ---------------------------------------------------------------- role and disabling


def test_an_admin_promotes_staff_and_demotes_them_again(
    admin: TestClient, database: Database
) -> None:
    clerk = factories.user(database, role="staff", email="clerk@example.com")

    promoted = submit(
        admin, f"/admin/users/{clerk}", f"/admin/users/{clerk}/role", {"role": "admin"}
    )
    assert flashes(follow(admin, promoted).text) == [("ok", "clerk@example.com is now admin.")]
    assert user_row(database, clerk)[1] == "admin"

    submit(admin, f"/admin/users/{clerk}", f"/admin/users/{clerk}/role", {"role": "staff"})
    assert user_row(database, clerk)[1] == "staff"


def test_a_wrong_role_shows_the_page_again_with_the_message(
    admin: TestClient, database: Database
) -> None:
    clerk = factories.user(database, role="staff")

    response = submit(
        admin, f"/admin/users/{clerk}", f"/admin/users/{clerk}/role", {"role": "customer"}
    )

    assert response.status_code == 400
    assert error_next_to(response.text, "role") == "Choose staff or admin."
    assert user_row(database, clerk)[1] == "staff"


def test_a_customer_login_gets_no_staff_role_and_the_page_says_why(
    admin: TestClient, database: Database
) -> None:
    _, user_id = factories.customer_login(database)

    response = submit(
        admin, f"/admin/users/{user_id}", f"/admin/users/{user_id}/role", {"role": "admin"}
    )

    [(level, text)] = flashes(follow(admin, response).text)
    assert level == "error"
    assert "Only staff and admin roles can be changed." in text
    assert user_row(database, user_id)[1] == "customer"


@pytest.mark.parametrize(("action", "data"), [("disable", {}), ("role", {"role": "staff"})])
def test_the_last_admin_cannot_be_disabled_or_demoted_and_hears_why(
    admin: TestClient, database: Database, action: str, data: dict[str, str]
) -> None:
    me = admin_id(database)

    response = submit(admin, f"/admin/users/{me}", f"/admin/users/{me}/{action}", data)

    [(level, text)] = flashes(follow(admin, response).text)
    assert level == "error"
    assert "The store must keep at least one enabled admin." in text
    assert "can't be disabled or demoted" in text
    assert user_row(database, me) == (ADMIN, "admin", False)


def test_a_disabled_staff_members_back_office_session_stops_at_once_and_stays_ended(
    admin: TestClient, database: Database
) -> None:
    factories.user(database, role="staff", email="leaver@example.com")
    leaver = signed_in(database, "leaver@example.com")
    assert leaver.get("/admin/products").status_code == 200
    with database.read() as session:
        leaver_id = accounts.find_user(session, "leaver@example.com").id

    disabled = submit(admin, f"/admin/users/{leaver_id}", f"/admin/users/{leaver_id}/disable")
    assert "their sessions ended" in flashes(follow(admin, disabled).text)[0][1]
    cut_off = leaver.get("/admin/products")
    enabled = submit(admin, f"/admin/users/{leaver_id}", f"/admin/users/{leaver_id}/enable")
    assert flashes(follow(admin, enabled).text) == [("ok", "leaver@example.com may log in again.")]
    still_out = leaver.get("/admin/products")

    assert cut_off.status_code == 303
    assert cut_off.headers["location"].startswith("/admin/login")
    assert still_out.status_code == 303  # enabling again does not revive the old session
    leaver.close()


# ---------------------------------------------------------------- passwords


def test_an_admin_emails_a_reset_link_through_the_outbox(
    admin: TestClient, database: Database
) -> None:
    clerk = factories.user(database, role="staff", email="clerk@example.com")

    response = submit(admin, f"/admin/users/{clerk}", f"/admin/users/{clerk}/reset-link")

    assert (
        "A link to choose a new password is on its way to clerk@example.com"
        in (flashes(follow(admin, response).text)[0][1])
    )
    assert reset_messages(database) == ["clerk@example.com"]


def test_no_link_goes_to_a_disabled_login_and_the_page_says_so(
    admin: TestClient, database: Database
) -> None:
    clerk = factories.user(database, role="staff", email="gone@example.com", disabled=True)

    response = submit(admin, f"/admin/users/{clerk}", f"/admin/users/{clerk}/reset-link")

    [(level, text)] = flashes(follow(admin, response).text)
    assert level == "error"
    assert "No link was sent to gone@example.com" in text
    assert reset_messages(database) == []


def test_an_admin_sets_a_new_password_which_ends_the_old_sessions(
    admin: TestClient, database: Database
) -> None:
    factories.user(database, role="staff", email="clerk@example.com")
    clerk = signed_in(database, "clerk@example.com")
    with database.read() as session:
        clerk_id = accounts.find_user(session, "clerk@example.com").id

    response = submit(
        admin,
        f"/admin/users/{clerk_id}",
        f"/admin/users/{clerk_id}/password",
        {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD},
    )

    assert (
        "their sessions and API tokens are revoked" in flashes(follow(admin, response).text)[0][1]
    )
    assert clerk.get("/admin/products").status_code == 303
    assert log_in(clerk, "clerk@example.com", NEW_PASSWORD).status_code == 303
    clerk.close()


@pytest.mark.parametrize(
    ("password", "again", "field", "message"),
    [
        ("short", "short", "password", "Use at least 10 characters."),
        ("", "", "password", "Fill this in."),
        (NEW_PASSWORD, "something else", "password_again", "The two passwords differ."),
    ],
)
def test_a_wrong_new_password_shows_the_page_again_and_changes_nothing(
    admin: TestClient, database: Database, password: str, again: str, field: str, message: str
) -> None:
    factories.user(database, role="staff", email="clerk@example.com")
    with database.read() as session:
        clerk_id = accounts.find_user(session, "clerk@example.com").id

    response = submit(
        admin,
        f"/admin/users/{clerk_id}",
        f"/admin/users/{clerk_id}/password",
        {"password": password, "password_again": again},
    )

    assert response.status_code == 400
    assert error_next_to(response.text, field) == message
    assert password not in response.text or not password
    signed_in(database, "clerk@example.com").close()  # the old password still works


# ---------------------------------------------------------------- API tokens


def test_a_new_token_is_shown_once_and_never_again(admin: TestClient, database: Database) -> None:
    clerk = factories.user(database, role="staff", email="clerk@example.com")

    response = submit(
        admin,
        f"/admin/users/{clerk}",
        f"/admin/users/{clerk}/tokens",
        {"name": "Warehouse sync", "expires_in_days": "30"},
    )

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    secret = re.search(
        r'<output id="secret" class="secret">(om_[A-Za-z0-9_-]+)</output>', response.text
    )
    assert secret, text_of(response.text)
    token = secret.group(1)
    assert "shown this once" in text_of(response.text)
    user_page = admin.get(f"/admin/users/{clerk}").text
    assert token not in user_page
    assert "Warehouse sync" in user_page
    assert token not in admin.get("/admin/audit").text
    assert token_rows(database, clerk) == [("Warehouse sync", False)]
    with database.read() as session:
        assert accounts.resolve_token(session, token).user_id == clerk


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": ""}, "name", "Fill this in."),
        ({"name": "x" * 101}, "name", "Use at most 100 characters."),
        ({"name": "ok", "expires_in_days": "soon"}, "expires_in_days", "Enter a whole number"),
        ({"name": "ok", "expires_in_days": "0"}, "expires_in_days", "at least 1"),
        ({"name": "ok", "expires_in_days": "4000"}, "expires_in_days", "at most 3650"),
    ],
)
def test_a_wrong_token_form_shows_the_page_again_and_makes_no_token(
    admin: TestClient, database: Database, data: dict[str, str], field: str, message: str
) -> None:
    clerk = factories.user(database, role="staff")

    response = submit(admin, f"/admin/users/{clerk}", f"/admin/users/{clerk}/tokens", data)

    assert response.status_code == 400
    assert message in error_next_to(response.text, field)
    assert token_rows(database, clerk) == []


def test_a_revoked_token_stops_working_at_once(admin: TestClient, database: Database) -> None:
    clerk = factories.user(database, role="staff")
    with database.write() as session:
        issued = accounts.issue_token(
            session, accounts.get_user(session, clerk), kind=accounts.API, ttl=None, name="sync"
        )

    response = submit(
        admin, f"/admin/users/{clerk}", f"/admin/users/{clerk}/tokens/{issued.token_id}/revoke"
    )
    assert flashes(follow(admin, response).text) == [
        ("ok", "Revoked sync: it stops working at once.")
    ]
    again = submit(
        admin, f"/admin/users/{clerk}", f"/admin/users/{clerk}/tokens/{issued.token_id}/revoke"
    )
    assert flashes(follow(admin, again).text) == [("ok", "sync was revoked already.")]
    assert token_rows(database, clerk) == [("sync", True)]


def test_a_token_is_revoked_only_through_its_own_users_page(
    admin: TestClient, database: Database
) -> None:
    owner = factories.user(database, role="staff")
    other = factories.user(database, role="staff")
    with database.write() as session:
        issued = accounts.issue_token(
            session, accounts.get_user(session, owner), kind=accounts.API, ttl=None, name="sync"
        )

    response = submit(
        admin, f"/admin/users/{other}", f"/admin/users/{other}/tokens/{issued.token_id}/revoke"
    )

    assert response.status_code == 404
    assert token_rows(database, owner) == [("sync", False)]


# ---------------------------------------------------------------- safety


def _targets(database: Database) -> dict[str, tuple[str, dict[str, Any]]]:
    clerk = factories.user(database, role="staff")
    with database.write() as session:
        issued = accounts.issue_token(
            session, accounts.get_user(session, clerk), kind=accounts.API, ttl=None, name="sync"
        )
    return {
        "new": (
            "/admin/users/new",
            {"email": "f@example.com", "role": "admin", "password": "p" * 12},
        ),
        "role": (f"/admin/users/{clerk}/role", {"role": "admin"}),
        "disable": (f"/admin/users/{clerk}/disable", {}),
        "enable": (f"/admin/users/{clerk}/enable", {}),
        "reset-link": (f"/admin/users/{clerk}/reset-link", {}),
        "password": (
            f"/admin/users/{clerk}/password",
            {"password": "p" * 12, "password_again": "p" * 12},
        ),
        "tokens": (f"/admin/users/{clerk}/tokens", {"name": "forged"}),
        "revoke": (f"/admin/users/{clerk}/tokens/{issued.token_id}/revoke", {}),
    }


def _world(database: Database) -> tuple[Any, ...]:
    with database.read() as session:
        users = tuple(
            (u.email, u.role, u.disabled, u.password_hash) for u in accounts.list_users(session)
        )
        tokens = tuple(
            (t.id, t.revoked)
            for t in session.scalars(select(ApiToken).where(ApiToken.kind == accounts.API))
        )
    return users, tokens, tuple(reset_messages(database))


@pytest.mark.parametrize(
    "target", ["new", "role", "disable", "enable", "reset-link", "password", "tokens", "revoke"]
)
def test_a_post_without_the_pages_token_is_refused_and_changes_nothing(
    admin: TestClient, database: Database, target: str
) -> None:
    action, data = _targets(database)[target]
    before = _world(database)

    missing = admin.post(action, data=data)
    wrong = admin.post(action, data={**data, "csrf_token": "f" * 64})

    assert (missing.status_code, wrong.status_code) == (403, 403)
    assert "Nothing was changed" in text_of(missing.text)
    assert _world(database) == before


def test_an_email_or_token_name_with_markup_is_shown_as_text(
    admin: TestClient, database: Database
) -> None:
    clerk = factories.user(database, role="staff", email=f"{XSS}@example.com")

    made = submit(admin, f"/admin/users/{clerk}", f"/admin/users/{clerk}/tokens", {"name": XSS})
    pages = [made.text, admin.get("/admin/users").text, admin.get(f"/admin/users/{clerk}").text]

    for page in pages:
        assert XSS not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
