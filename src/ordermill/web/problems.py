"""The one error table: domain errors and request errors as problem+json (RFC 9457)."""

from __future__ import annotations

import json
import logging
import re
import secrets
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from ordermill.errors import (
    Code,
    OrdermillError,
    TooManyAttempts,
    Unauthenticated,
    Unavailable,
    kind_of,
)
from ordermill.web import outage
from ordermill.web.pages.errors import error_page, wants_page
from ordermill.web.schemas import EXTRA_MAX_DEPTH

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("ordermill.web")

_CODE_BY_HTTP_STATUS = {
    404: Code.NOT_FOUND,
    405: Code.METHOD_NOT_ALLOWED,
    406: Code.NOT_ACCEPTABLE,
    413: Code.PAYLOAD_TOO_LARGE,
    415: Code.UNSUPPORTED_MEDIA_TYPE,
}


def status_for(error: OrdermillError) -> int:
    return kind_of(error).status


def problem(
    status: int,
    code: str,
    detail: str,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    for key, value in (extra or {}).items():
        if value is not None and key not in body:
            body[key] = value
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _headers_for(error: OrdermillError) -> dict[str, str] | None:
    if isinstance(error, Unauthenticated):
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(error, TooManyAttempts):
        return {"Retry-After": str(error.detail.get("retry_after", 60))}
    if isinstance(error, Unavailable):
        return {"Retry-After": str(error.detail.get("retry_after", 1))}
    return None


def problem_for(error: OrdermillError) -> JSONResponse:
    detail = dict(error.detail)
    field = detail.pop("field", None)
    if field is not None:
        # Every 400 names its fields the same way, whether a schema or a service found it.
        detail["errors"] = [{"field": field, "message": error.message}]
    return problem(
        status_for(error), error.code, error.message, headers=_headers_for(error), extra=detail
    )


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _validation_problem(exc: RequestValidationError) -> JSONResponse:
    errors = []
    for err in exc.errors():
        ctx = err.get("ctx") or {}
        cause = ctx.get("error")
        if isinstance(cause, OrdermillError):
            message = cause.message
        elif isinstance(cause, ValueError):
            message = str(cause)
        else:
            message = str(err.get("msg", "invalid"))
        if err.get("type") == "extra_forbidden":
            message = "unknown field; it can't be set by a client"
        if err.get("type") == "json_invalid":
            field = "body"
        else:
            field = _field_name(tuple(err.get("loc", ())))
        errors.append({"field": field, "message": message})
    if any(err.get("type") == "json_invalid" for err in exc.errors()):
        return problem(
            400, Code.INVALID_JSON, "The request body is not valid JSON.", extra={"errors": errors}
        )
    fields = ", ".join(sorted({e["field"] for e in errors}))
    return problem(
        400, Code.VALIDATION_ERROR, f"Invalid input: {fields}.", extra={"errors": errors}
    )


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> str:
    """Every method some route answers at the request's path, for a 405's ``Allow``.

    The router stops at the first route whose path matches, which knows only its
    own methods; asking every route for each method gives the whole list.
    """
    routes = request.app.router.routes
    allowed = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]
    return ", ".join(allowed)


# Strings (with their escapes) and the characters that open, close or name a member.
_JSON_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}:]')


def _deep_field(body: bytes) -> str:
    """The top-level member of a JSON body that is nested more than allowed ("body" if none)."""
    depth = 0
    field: str | None = None
    last_string = b'""'
    for token in _JSON_TOKEN.findall(body):
        if token in (b"{", b"["):
            depth += 1
            if depth > EXTRA_MAX_DEPTH + 1:  # the body itself is the first level
                return field or "body"
        elif token in (b"}", b"]"):
            depth -= 1
        elif token == b":":
            if depth == 1:
                try:
                    field = str(json.loads(last_string))
                except ValueError:
                    field = None
        else:
            last_string = token
    return "body"


async def _too_deep_problem(request: Request) -> JSONResponse:
    """A body Python's JSON parser gives up on (about 1,000 levels) is a 400 like any other."""
    field = _deep_field(await request.body())
    message = f"nested more than {EXTRA_MAX_DEPTH} levels deep"
    return problem(
        400,
        Code.VALIDATION_ERROR,
        f"Invalid input: {field}.",
        extra={"errors": [{"field": field, "message": message}]},
    )


def _answer(request: Request, response: JSONResponse, message: str | None = None) -> Response:
    """The problem as it is for the API; as an error page for a page's request."""
    if not wants_page(request):
        return response
    body = json.loads(bytes(response.body))
    headers = {k: v for k, v in response.headers.items() if k in ("retry-after", "allow")}
    return error_page(request, response.status_code, message or body["detail"], headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Route every error through the table above; nothing leaks a traceback."""

    @app.exception_handler(OrdermillError)
    async def _domain(request: Request, exc: OrdermillError) -> Response:
        return _answer(request, problem_for(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return _answer(request, _validation_problem(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if isinstance(exc.__cause__, RecursionError):
            return await _too_deep_problem(request)
        code = _CODE_BY_HTTP_STATUS.get(
            exc.status_code, Code.VALIDATION_ERROR if exc.status_code < 500 else Code.INTERNAL_ERROR
        )
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            allowed = allowed_methods(request)
            headers = {**(headers or {}), "Allow": allowed}
            detail = f"{request.method} is not allowed here; use {allowed}."
        if exc.status_code == 404:
            detail = "There is no such page." if wants_page(request) else detail
        return _answer(request, problem(exc.status_code, code, detail, headers=headers))

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> Response:
        failure = outage.failure_of(exc)
        if failure is None:
            raise exc  # a bug: answered below, with its traceback in the log
        outage.log_failure(failure, exc, request.method, request.url.path)
        return _answer(request, problem_for(outage.unavailable(failure)))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        request_id = secrets.token_hex(6)
        log.error(
            "unhandled error on %s %s (request %s)",
            request.method,
            request.url.path,
            request_id,
            exc_info=exc,
        )
        if wants_page(request):
            return error_page(
                request,
                500,
                "Something went wrong on our side. Nothing you did caused it; "
                "if it happens again, tell the store's admin this request id.",
                request_id=request_id,
            )
        return problem(
            500,
            Code.INTERNAL_ERROR,
            f"Something went wrong on our side (request {request_id}).",
        )
