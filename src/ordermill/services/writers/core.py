"""Writes as Core statements that read the same on every database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from ordermill.services import audit, outbox, timeline
from ordermill.services.audit import Actor
from ordermill.services.plans import Journal


def write_journal(session: Session, journal: Journal, actor: Actor, now: datetime) -> None:
    """A journal's timeline events, audit entries and outbox events, one statement per
    table."""
    if journal.events:
        timeline.record_many(
            session, [(e.order_id, e.kind, e.detail) for e in journal.events], actor, now=now
        )
    audit.record_many(
        session,
        actor,
        journal.action,
        "order",
        [(a.order_id, a.detail) for a in journal.audits],
        now=now,
    )
    outbox.record(session, journal.outbox, now)
