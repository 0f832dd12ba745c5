"""Request guards that apply before any route runs."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from ordermill.web.problems import problem


class RejectNulInUrl:
    """Answer 400 to a URL whose path or query carries a NUL byte (``%00``).

    No id, number, filter or cursor can contain one, and PostgreSQL can't even
    compare text with it; refusing here keeps it from ever reaching a query.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw_path = scope.get("raw_path") or scope.get("path", "").encode()
            query = scope.get("query_string", b"")
            if b"%00" in raw_path.lower() or b"%00" in query.lower() or "\x00" in scope["path"]:
                response = problem(400, "validation_error", "The URL contains a NUL character.")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
