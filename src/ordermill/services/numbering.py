"""Order numbers: the year's counter, handed out by one upsert."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.orm import Session

from ordermill.services.tables import order_counters, upsert

_ALLOCATE: dict[str, Any] = {}


def allocate_order_numbers(session: Session, year: int, count: int = 1) -> int:
    """Reserve ``count`` consecutive sequence numbers in ``year``; return the first.

    One upsert: the counter row stays locked until the transaction ends, so
    concurrent orders get distinct numbers, and a rollback hands nothing out.
    """
    dialect = session.get_bind().dialect.name
    stmt = _ALLOCATE.get(dialect)
    if stmt is None:  # built once per database kind: building it cost more than running it
        stmt = _ALLOCATE[dialect] = (
            upsert(session, order_counters)
            .values(year=bindparam("year"), last_value=bindparam("count"))
            .on_conflict_do_update(
                index_elements=[order_counters.c.year],
                set_={"last_value": order_counters.c.last_value + bindparam("count")},
            )
            .returning(order_counters.c.last_value)
        )
    last = session.execute(stmt, {"year": year, "count": count}).scalar_one()
    return int(last) - count + 1
