"""Errors on pages are pages: 404, 403, a friendly 500 with a request id; security headers.

The API answers problem+json; a request for a page (``PAGE_PREFIXES``) gets the
same status as an HTML page in the site's layout instead. ``ordermill.web.problems``
asks ``wants_page`` before answering.
"""

from __future__ import annotations

from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ordermill.web.pages.render import render
from ordermill.web.pages.sessions import (
    Audience,
    CsrfRefused,
    LoginRequired,
    audience_of,
    principal_of,
)

# Paths answered with pages (and their errors with error pages): the back office,
# the assets, and the storefront. ``/`` is the catalogue; ``/api``, ``/docs`` and
# ``/health`` stay the API's.
PAGE_PREFIXES = ("/admin", "/static")
SHOP_PREFIXES = (
    "/",
    "/products",
    "/cart",
    "/checkout",
    "/orders",
    "/account",
    "/login",
    "/logout",
    "/signup",
    "/forgot-password",
    "/reset-password",
)

# No inline script or style, nothing from another site, never inside a frame.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


class _Under:
    """Whether a path is one of ``prefixes`` or below one (``/`` itself only, not below
    it): one set lookup and one ``startswith``, as every request asks."""

    def __init__(self, *prefixes: str) -> None:
        self.exact = frozenset(prefixes)
        self.below = tuple(prefix + "/" for prefix in prefixes if prefix != "/")

    def __call__(self, path: str) -> bool:
        return path in self.exact or path.startswith(self.below)


is_shop_path = _Under(*SHOP_PREFIXES)
is_page_path = _Under(*PAGE_PREFIXES, *SHOP_PREFIXES)


def wants_page(request: Request) -> bool:
    """Whether an error on this request is answered with a page rather than problem+json."""
    return is_page_path(request.url.path)


def error_page(
    request: Request,
    status: int,
    message: str,
    *,
    request_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """The error as a page in the site's layout (never a traceback)."""
    _visitor(request, audience_of(request.url.path))
    return render(
        request,
        "error.html",
        status_code=status,
        headers={**PAGE_HEADERS, **(headers or {})},  # a 500 is sent outside the middleware
        status=status,
        title=HTTPStatus(status).phrase,
        message=message,
        request_id=request_id,
    )


def _visitor(request: Request, audience: Audience) -> None:
    """Who is signed in, for the page's menu; nobody when even that fails (an outage)."""
    try:
        principal_of(request, request.app.state.database, audience)
    except Exception:  # the error page itself must not fail
        request.state.audience = audience


class SecurityHeaders:
    """Add ``PAGE_HEADERS`` to every page's response (a header a route set is kept)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_page_path(scope.get("path", "")):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [
                    (name.lower().encode(), value.encode())
                    for name, value in PAGE_HEADERS.items()
                    if name.lower().encode() not in present
                ]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


def install_page_errors(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _login(_request: Request, exc: LoginRequired) -> RedirectResponse:
        return RedirectResponse(exc.location(), status_code=303)

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, _exc: CsrfRefused) -> HTMLResponse:
        return error_page(
            request,
            403,
            "This form was not sent from this site's page, or the page is too old. "
            "Nothing was changed: go back, reload the page and try again.",
        )

    app.add_middleware(SecurityHeaders)
