"""Who is calling, and may they: bearer tokens and the per-route permission check.

Every API route takes a parameter ``Annotated[Principal, requires(PERMISSION)]``;
``requires`` records the permission on the dependency so the authorization tests
can read it from the route table.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from fastapi.dependencies.models import Dependant
from fastapi.security import OAuth2PasswordBearer
from starlette.concurrency import run_in_threadpool

from ordermill.db import Database
from ordermill.domain.access import Permission, allows
from ordermill.errors import Forbidden, Unauthenticated
from ordermill.services import accounts
from ordermill.services.accounts import ANONYMOUS, Principal
from ordermill.services.audit import Actor
from ordermill.web.deps import DatabaseDep

oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl="/api/auth/token",
    auto_error=False,
    description="A token from POST /api/auth/token, or an API token from `ordermill tokens create`",
)


async def get_principal(
    database: DatabaseDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal:
    """The caller: anonymous without a token; a presented token must be valid (else 401)."""
    # Async, so a request without a token never waits for a thread; the lookup blocks.
    if not token:
        return ANONYMOUS
    return await run_in_threadpool(_look_up, database, token)


def _look_up(database: Database, token: str) -> Principal:
    with database.lookup() as session:  # one statement: no transaction round trips
        return accounts.resolve_token(session, token)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def requires(permission: Permission) -> Any:
    """A dependency that lets the call through only with ``permission``."""

    async def check(principal: PrincipalDep) -> Principal:  # no I/O: no thread needed
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
