"""The JSON API under /api: one router per resource."""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute

from ordermill.web.problems import PROBLEM_JSON
from ordermill.web.schemas import Problem


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the statuses a route answers beside success (304 and errors).

    The 401 and 403 a permission check can give are added from the permission
    table (see ``ordermill.web.openapi``), and so are the descriptions and the
    codes each status can carry; list them here only for another reason (login's
    wrong password, sign-up turned off).
    """
    out: dict[int | str, dict[str, Any]] = {}
    for status in sorted(statuses):
        if status == 304:
            out[status] = {"description": "Not modified (If-None-Match matched)"}
        else:
            out[status] = {"model": Problem, "content": {PROBLEM_JSON: {}}}
    return out


def operation_id(route: APIRoute) -> str:
    """A route's OpenAPI ``operationId``: its function's name, such as ``create_order``.

    Generated clients name their functions after it, so route functions are named
    as a client would call them and are unique across the app.
    """
    return route.name
