"""The JSON API under /api: one router per resource."""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute

from ordermill.errors import KINDS
from ordermill.web.problems import PROBLEM_JSON
from ordermill.web.schemas import Problem

_DESCRIPTIONS = {304: "Not modified (If-None-Match matched)"} | {
    info.status: info.description for info in KINDS.values()
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can return.

    Every route may also answer 401 for a presented token that is invalid,
    expired or revoked, so 401 is always listed.
    """
    out: dict[int | str, dict[str, Any]] = {}
    for status in sorted({*statuses, 401}):
        entry: dict[str, Any] = {"description": _DESCRIPTIONS[status]}
        if status != 304:
            entry["model"] = Problem
            entry["content"] = {PROBLEM_JSON: {}}
        out[status] = entry
    return out


def operation_id(route: APIRoute) -> str:
    """A route's OpenAPI ``operationId``: its function's name, such as ``create_order``.

    Generated clients name their functions after it, so route functions are named
    as a client would call them and are unique across the app.
    """
    return route.name
