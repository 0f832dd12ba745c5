"""The audit log: who changed which order, customer, product or balance, and when.

Entries are written by the service that makes the change, in the same
transaction, so a change and its record stand or fall together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from ordermill.models import utcnow
from ordermill.services.pagination import Page, decode_id_cursor, encode_cursor
from ordermill.services.tables import audit_log


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change: a user through a token, or the system (CLI, jobs)."""

    label: str
    user_id: int | None = None
    token_id: int | None = None


SYSTEM = Actor("system")
CLI = Actor("cli")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    user_id: int | None
    token_id: int | None
    action: str
    entity: str
    entity_id: int
    detail: dict[str, Any]


def record(
    session: Session,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: int,
    detail: dict[str, Any] | None = None,
    *,
    now: datetime | None = None,
) -> None:
    """Append one entry (``action`` such as ``order.processed``), at ``now`` (default: the
    clock's time)."""
    record_many(session, actor, action, entity, [(entity_id, detail)], now=now)


def record_many(
    session: Session,
    actor: Actor,
    action: str,
    entity: str,
    items: list[tuple[int, dict[str, Any] | None]],
    *,
    now: datetime | None = None,
) -> None:
    """Append entries for several rows in one statement."""
    if not items:
        return
    now = now or utcnow()
    session.execute(
        insert(audit_log),
        [
            {
                "at": now,
                "actor": actor.label,
                "user_id": actor.user_id,
                "token_id": actor.token_id,
                "action": action,
                "entity": entity,
                "entity_id": entity_id,
                "detail": detail or {},
            }
            for entity_id, detail in items
        ],
    )


def list_entries(
    session: Session,
    *,
    limit: int,
    cursor: str | None = None,
    entity: str | None = None,
    entity_id: int | None = None,
    user_id: int | None = None,
    action: str | None = None,
) -> Page[AuditEntry]:
    """Newest first; narrowed to one entity (and id), one acting user, one action."""
    stmt = select(audit_log)
    if action is not None:
        stmt = stmt.where(audit_log.c.action == action)
    if entity is not None:
        stmt = stmt.where(audit_log.c.entity == entity)
    if entity_id is not None:
        stmt = stmt.where(audit_log.c.entity_id == entity_id)
    if user_id is not None:
        stmt = stmt.where(audit_log.c.user_id == user_id)
    if cursor is not None:
        stmt = stmt.where(audit_log.c.id < decode_id_cursor(cursor))
    rows = session.execute(stmt.order_by(audit_log.c.id.desc()).limit(limit + 1)).all()
    entries = [
        AuditEntry(
            r.id,
            r.at,
            r.actor,
            r.user_id,
            r.token_id,
            r.action,
            r.entity,
            r.entity_id,
            r.detail or {},
        )
        for r in rows[:limit]
    ]
    next_cursor = encode_cursor(entries[-1].id) if len(rows) > limit else None
    return Page(entries, next_cursor)
