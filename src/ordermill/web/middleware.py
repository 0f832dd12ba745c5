"""Request guards that apply before any route runs."""

from __future__ import annotations

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ordermill.errors import Code
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


class BodyTooLarge(StarletteHTTPException):
    """Raised from ``receive`` when a body without ``Content-Length`` passes the limit.

    An HTTP exception, so FastAPI's body reading lets it through to the error
    handlers instead of calling it a body it couldn't parse.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large(limit))


def _too_large(limit: int) -> str:
    return f"The request body is larger than the {limit} bytes this store accepts."


class LimitRequestBody:
    """Refuse a body the API can't or won't read, before reading it.

    A ``Content-Encoding`` other than ``identity`` is a 415: nothing here decodes
    gzip, and reading it as plain JSON would misread it. A ``Content-Length``
    over ``max_bytes`` is a 413 at once, without reading a byte of the body; a
    body without one (chunked) is counted as it arrives and cut off with a 413
    at the limit. A request within the limit passes through untouched.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
            elif name == b"content-encoding" and _encoded(value):
                response = problem(
                    415,
                    Code.UNSUPPORTED_MEDIA_TYPE,
                    f"Content-Encoding {value.decode('latin-1').strip()} is not supported; "
                    "send the body unencoded (identity).",
                )
                await response(scope, receive, send)
                return
        if declared is not None and declared.strip().isdigit():
            if int(declared) > self.max_bytes:
                response = problem(413, Code.PAYLOAD_TOO_LARGE, _too_large(self.max_bytes))
                await response(scope, receive, send)
                return
            # The server delivers no more than the declared length.
            await self.app(scope, receive, send)
            return
        await self._counted(scope, receive, send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except BodyTooLarge:
            # Read outside a route (the routes' errors are answered by the handlers).
            if started:
                raise
            response = problem(413, Code.PAYLOAD_TOO_LARGE, _too_large(self.max_bytes))
            await response(scope, receive, send)


def _encoded(value: bytes) -> bool:
    codings = (coding.strip().lower() for coding in value.split(b","))
    return any(coding not in (b"", b"identity") for coding in codings)
