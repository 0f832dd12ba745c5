"""API routers, one per resource."""

from __future__ import annotations

from typing import Any

from ordermill.web.problems import PROBLEM_JSON
from ordermill.web.schemas import Problem

_DESCRIPTIONS = {
    304: "Not modified (If-None-Match matched)",
    400: "Invalid input (problem+json naming the fields)",
    401: "No valid bearer token (WWW-Authenticate: Bearer)",
    403: "Your role may not do this",
    404: "Not found",
    409: "Conflict with the current state",
    412: "If-Match no longer matches",
    422: "Idempotency-Key reused with a different request",
    429: "Too many failed logins (Retry-After)",
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
