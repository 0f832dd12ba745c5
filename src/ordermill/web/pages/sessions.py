"""Who is browsing: login sessions in cookies, page permissions and CSRF tokens.

A page session is an ordinary session token (``services.accounts.open_session``)
kept in an ``HttpOnly`` cookie instead of an ``Authorization`` header. It lives in
the database, so every server process checks it the same way, and disabling a user
or logging out revokes it for all of them at once (a process keeps a checked session
in memory for a few seconds and forgets it when any process changes it:
``ordermill.token_cache``). Staff and customers have
separate cookies: one is never taken for the other.

Every form carries a CSRF token: an HMAC of the browser's session cookie keyed by a
random ``ordermill_csrf`` cookie (``SameSite=Strict``, ``HttpOnly``). A page on
another site can neither read that cookie nor compute the token, so a forged POST,
even one that carries the session cookie, is refused with 403 before it changes
anything.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from starlette.responses import Response

from ordermill.domain.access import STAFF_ROLES, Permission, Role, allows
from ordermill.errors import Forbidden, Unauthenticated
from ordermill.services.accounts import ANONYMOUS, Principal
from ordermill.web.auth import principal_for
from ordermill.web.deps import DatabaseDep

CSRF_COOKIE = "ordermill_csrf"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True, slots=True)
class Audience:
    """One kind of page visitor: which cookie holds their session, where they log in."""

    name: str
    cookie: str
    login_path: str
    home_path: str
    roles: frozenset[Role]
    wrong_account: str  # what someone of another role is told at this login


STAFF = Audience(
    name="staff",
    cookie="ordermill_admin",
    login_path="/admin/login",
    home_path="/admin",
    roles=frozenset(STAFF_ROLES),
    wrong_account="This is not a staff account.",
)

CUSTOMER = Audience(
    name="customer",
    cookie="ordermill_session",
    login_path="/login",
    home_path="/account/orders",
    roles=frozenset({Role.CUSTOMER}),
    wrong_account="This is a staff account: staff log in to the back office at /admin/login.",
)


def audience_of(path: str) -> Audience:
    """Whose pages these are: the back office's (``/admin``) or the storefront's."""
    return STAFF if path == "/admin" or path.startswith("/admin/") else CUSTOMER


class LoginRequired(Exception):
    """A page needs a signed-in visitor: answered with a redirect to the login page."""

    def __init__(self, audience: Audience, next_path: str) -> None:
        super().__init__(audience.login_path)
        self.audience = audience
        self.next_path = next_path

    def location(self) -> str:
        return f"{self.audience.login_path}?next={quote(self.next_path, safe='/')}"


class CsrfRefused(Exception):
    """A form post without the token of this browser: 403, nothing changed."""


def session_token(request: Request, audience: Audience) -> str | None:
    token = request.cookies.get(audience.cookie)
    return token or None


def principal_of(request: Request, database: Any, audience: Audience) -> Principal:
    """The visitor signed in to ``audience`` (anonymous without a live session)."""
    cached: Principal | None = getattr(request.state, f"principal_{audience.name}", None)
    if cached is not None:
        return cached
    token = session_token(request, audience)
    principal = ANONYMOUS
    if token is not None:
        try:
            principal = principal_for(request, database, token)
        except Unauthenticated:
            principal = ANONYMOUS  # expired or revoked: log in again
        if principal.role not in audience.roles and not principal.is_anonymous:
            principal = ANONYMOUS  # a session of the other audience's cookie name
    setattr(request.state, f"principal_{audience.name}", principal)
    request.state.audience = audience
    return principal


def page_requires(permission: Permission, audience: Audience = STAFF) -> Any:
    """A page dependency: the signed-in visitor of ``audience``, if they hold ``permission``.

    Not signed in: a redirect to the login page (``LoginRequired``). Signed in with
    a role that may not: 403. Marks the dependency with ``permission`` like the API's
    ``requires`` so the page matrix tests read it from the route table.
    """

    def check(request: Request, database: DatabaseDep) -> Principal:
        principal = principal_of(request, database, audience)
        if principal.is_anonymous:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(audience, target)
        if not allows(principal.role, permission):
            raise Forbidden(f"Your role ({principal.role}) may not open this page.")
        return principal

    check.permission = permission  # type: ignore[attr-defined]
    check.audience = audience  # type: ignore[attr-defined]
    return Depends(check)


def page_visitor(audience: Audience) -> Any:
    """A dependency for a page anyone may open: the visitor of ``audience``, or anonymous.

    Marked ``public`` so the page tests know it was left open on purpose.
    """

    def visitor(request: Request, database: DatabaseDep) -> Principal:
        return principal_of(request, database, audience)

    visitor.public = True  # type: ignore[attr-defined]
    visitor.audience = audience  # type: ignore[attr-defined]
    return Depends(visitor)


# ------------------------------------------------------------------ CSRF


def csrf_secret(request: Request) -> str:
    """This browser's CSRF key: its cookie, or a new one set with the next response."""
    secret = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf_secret", None)
    if not secret:
        secret = secrets.token_urlsafe(32)
        request.state.new_csrf_secret = secret
    return str(secret)


def csrf_token(request: Request) -> str:
    """The token forms on this page carry: bound to the browser and its current session."""
    audience = audience_of(request.url.path)
    binding = session_token(request, audience) or ""
    key = csrf_secret(request).encode()
    return hmac.new(key, f"{audience.name}:{binding}".encode(), hashlib.sha256).hexdigest()


def set_csrf_cookie(request: Request, response: Response) -> None:
    """Send the CSRF key made while rendering (the first page a browser sees)."""
    secret = getattr(request.state, "new_csrf_secret", None)
    if secret:
        response.set_cookie(
            CSRF_COOKIE,
            secret,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )


async def _check_csrf(request: Request) -> None:
    if request.cookies.get(CSRF_COOKIE) is None:
        raise CsrfRefused
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    if not isinstance(sent, str) or not hmac.compare_digest(sent, csrf_token(request)):
        raise CsrfRefused


_check_csrf.csrf = True  # type: ignore[attr-defined]
CsrfChecked = Depends(_check_csrf)


def _marked(dependant: Dependant, mark: str) -> bool:
    pending = list(dependant.dependencies)
    while pending:
        dependency = pending.pop()
        if getattr(dependency.call, mark, False):
            return True
        pending.extend(dependency.dependencies)
    return False


def route_checks_csrf(dependant: Dependant) -> bool:
    """Whether a route's dependencies include the CSRF check (the page tests read it)."""
    return _marked(dependant, "csrf")


def route_is_public(dependant: Dependant) -> bool:
    """Whether a route was opened to everyone on purpose (``page_visitor``)."""
    return _marked(dependant, "public")


# ------------------------------------------------------------------ cookies


def start_session(
    request: Request, response: Response, audience: Audience, token: str, max_age: int
) -> None:
    """Put a new session in the browser (after a login)."""
    response.set_cookie(
        audience.cookie,
        token,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


def end_session(response: Response, audience: Audience) -> None:
    response.delete_cookie(audience.cookie, path="/")


def safe_next(target: str | None, audience: Audience) -> str:
    """Where to go after logging in: a path on this site only, never another site."""
    if not target:
        return audience.home_path
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return audience.home_path
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return audience.home_path
    return target
