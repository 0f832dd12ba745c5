"""Who is calling, and may they: bearer tokens and the per-route permission check.

Every API route takes a parameter ``Annotated[Principal, requires(PERMISSION)]``;
``requires`` records the permission on the dependency so the authorization tests
can read it from the route table.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.security import OAuth2PasswordBearer
from starlette.concurrency import run_in_threadpool

from ordermill.db import Database
from ordermill.domain.access import Permission, allows
from ordermill.errors import Forbidden, Unauthenticated
from ordermill.services import accounts
from ordermill.services.accounts import ANONYMOUS, Principal
from ordermill.services.audit import Actor
from ordermill.token_cache import TokenCache

oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl="/api/auth/token",
    auto_error=False,
    description="A token from POST /api/auth/token, or an API token from `ordermill tokens create`",
)


async def get_principal(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal:
    """The caller: anonymous without a token; a presented token must be valid (else 401)."""
    return await principal_of(request, token)


async def principal_of(request: Request, token: str | None) -> Principal:
    """``get_principal``'s answer, for a dependency that needs no other (each dependency
    FastAPI resolves costs every request that uses it)."""
    # Async, so a request without a token, or with one in the cache, never waits for a
    # thread; only the database lookup does.
    if not token:
        return ANONYMOUS
    tokens = token_cache_of(request)
    digest = accounts.token_digest(token)
    principal = tokens.get(digest)
    if principal is not None:
        return principal
    database: Database = request.app.state.database
    return await run_in_threadpool(look_up, tokens, database, digest)


def principal_for(request: Request, database: Database, token: str) -> Principal:
    """The principal behind ``token``: from the cache, else looked up (and cached); 401."""
    tokens = token_cache_of(request)
    digest = accounts.token_digest(token)
    principal = tokens.get(digest)
    return principal if principal is not None else look_up(tokens, database, digest)


def look_up(tokens: TokenCache[Principal], database: Database, digest: str) -> Principal:
    """Resolve a token's digest in the database and remember the answer in ``tokens``."""
    generation = tokens.generation  # before reading: a change meanwhile voids the answer
    with database.lookup() as session:  # one statement: no transaction round trips
        principal, expires = accounts.resolve_digest(session, digest)
    tokens.put(
        digest,
        principal,
        keys=accounts.cache_keys(principal),
        expires=expires,
        generation=generation,
    )
    return principal


def token_cache_of(request: Request) -> TokenCache[Principal]:
    tokens: TokenCache[Principal] = request.app.state.token_cache
    return tokens


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def requires(permission: Permission) -> Any:
    """A dependency that lets the call through only with ``permission``."""

    async def check(  # no I/O on a cached token: no thread needed
        request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
    ) -> Principal:
        principal = await principal_of(request, token)
        if allows(principal.role, permission):
            return principal
        if principal.is_anonymous:
            raise Unauthenticated("Log in first: send an Authorization: Bearer token.")
        raise Forbidden(f"Your role ({principal.role}) may not do this.")

    check.permission = permission  # type: ignore[attr-defined]
    return Depends(check)


def actor_of(principal: Principal) -> Actor:
    """How a change by ``principal`` is recorded in the audit log."""
    return Actor(principal.email or "anonymous", principal.user_id, principal.token_id)


def route_permission(dependant: Dependant) -> Permission | None:
    """The permission ``requires(...)`` put in a route's dependencies (None: no check)."""
    pending = list(dependant.dependencies)
    while pending:
        dependency = pending.pop()
        permission: Permission | None = getattr(dependency.call, "permission", None)
        if permission is not None:
            return permission
        pending.extend(dependency.dependencies)
    return None
