"""The OpenAPI document, finished from the tables the app already has.

FastAPI builds the document from the routes; this module completes it from the
error catalogue and the permission table, so neither is repeated by hand:

* every error response carries ``application/problem+json`` with the
  ``Problem`` schema, and its description (from ``errors.KINDS``) lists the codes
  it can carry (from ``errors.CATALOGUE``);
* an operation declares the bearer scheme and 401 only when anonymous callers
  lack its permission, and 403 when a signed-in role does (``domain.access``);
* an optional parameter's string limits (the Idempotency-Key's length and
  characters) sit on its string branch, where generated clients look for them;
* the 422 FastAPI lists on every route with input is dropped: validation
  answers 400, and the routes that really answer 422 list it themselves.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from ordermill.domain.access import Permission, Role, allows
from ordermill.errors import CATALOGUE, KINDS
from ordermill.web.auth import oauth2_scheme, route_permission
from ordermill.web.problems import PROBLEM_JSON

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
SECURITY_SCHEME = oauth2_scheme.scheme_name
SIGNED_IN_ROLES = tuple(role for role in Role if role is not Role.ANONYMOUS)


def codes_for(status: int) -> list[str]:
    """Every code the catalogue answers with ``status``, in the catalogue's order."""
    return [str(code) for code, info in CATALOGUE.items() if KINDS[info.kind].status == status]


def describe(status: int) -> str:
    """A response description: what the status means here, and the codes it can carry."""
    meanings = list(
        dict.fromkeys(kind.description for kind in KINDS.values() if kind.status == status)
    )
    codes = ", ".join(f"`{code}`" for code in codes_for(status))
    return f"{'; or '.join(meanings)}. Codes: {codes}."


STRING_LIMITS = ("minLength", "maxLength", "pattern")


def _limits_on_the_string(parameter: dict[str, Any]) -> None:
    """Move an optional parameter's string limits into its string branch, where clients look."""
    schema = parameter.get("schema", {})
    strings = [branch for branch in schema.get("anyOf", ()) if branch.get("type") == "string"]
    if len(strings) == 1:
        for key in STRING_LIMITS:
            if key in schema:
                strings[0][key] = schema.pop(key)


def _operations(app: FastAPI) -> Iterator[tuple[str, str, Permission | None]]:
    """Each operation of the document: path, method and the permission it needs."""
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and route.include_in_schema:
            permission = route_permission(context.dependant)
            for method in context.methods or ():
                yield str(context.path_format), method.lower(), permission


def _finish(app: FastAPI, schema: dict[str, Any]) -> None:
    paths = schema.get("paths", {})
    for path, method, permission in _operations(app):
        operation = paths.get(path, {}).get(method)
        if operation is None:
            continue
        for parameter in operation.get("parameters", ()):
            _limits_on_the_string(parameter)
        responses: dict[str, Any] = operation.setdefault("responses", {})
        if "HTTPValidationError" in json.dumps(responses.get("422", {})):
            del responses["422"]
        operation.pop("security", None)
        if permission is not None and not allows(Role.ANONYMOUS, permission):
            operation["security"] = [{SECURITY_SCHEME: []}]
            responses.setdefault("401", {})
            if not all(allows(role, permission) for role in SIGNED_IN_ROLES):
                responses.setdefault("403", {})
        # What the guards in front of every route can answer (web/middleware.py, web/outage.py).
        if "requestBody" in operation:
            responses.setdefault("413", {})
        responses.setdefault("415", {})
        responses.setdefault("503", {})
        for status, response in list(responses.items()):
            if status.isdigit() and int(status) >= 400:
                response["description"] = describe(int(status))
                # A body of the route's own (/health's checks) stays beside the problem.
                own = {
                    media: body
                    for media, body in response.get("content", {}).items()
                    if media != PROBLEM_JSON and body.get("schema") not in (None, PROBLEM_REF)
                }
                response["content"] = own | {PROBLEM_JSON: {"schema": PROBLEM_REF}}
        operation["responses"] = dict(sorted(responses.items()))
    components = schema.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)


def install_openapi(app: FastAPI) -> None:
    """Serve the finished document at the app's ``openapi_url``."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            _finish(app, schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
