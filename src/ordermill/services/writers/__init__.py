"""The per-database writers: the one seam between the decisions and the SQL.

The services decide and describe the writes as a plan (``ordermill.services.plans``);
``writer_for`` picks, once per use case, the writer for the session's database:
``postgres`` (data-modifying CTEs, one round trip) or ``sqlite`` (Core
``executemany``). Both write the same rows, which ``tests/integration/
test_writer_parity.py`` checks row by row.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.orm import Session

from ordermill.services.order_views import OrderView
from ordermill.services.plans import PlacePlan, ProcessPlan
from ordermill.services.writers import postgres, sqlite


class Writer(Protocol):
    def write_processed(
        self, session: Session, plan: ProcessPlan, *, at_commit: bool = False
    ) -> None:
        """Every write of a set of processed orders (with the commit, if ``at_commit``
        and the database has round trips to save)."""

    def place(self, session: Session, plan: PlacePlan) -> OrderView | None:
        """The new order (``None`` when a product or the customer is gone meanwhile)."""

    def assign_number(self, session: Session, order_id: int, year: int) -> str:
        """The year's next number, given to the order."""


def writer_for(session: Session) -> Writer:
    """The writer for the database ``session`` is bound to."""
    return postgres if session.get_bind().dialect.name == "postgresql" else sqlite
