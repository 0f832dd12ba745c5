"""Order numbers: the year's counter, handed out by one upsert."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ordermill.services.tables import order_counters, upsert


def allocate_order_numbers(session: Session, year: int, count: int = 1) -> int:
    """Reserve ``count`` consecutive sequence numbers in ``year``; return the first.

    One upsert: the counter row stays locked until the transaction ends, so
    concurrent orders get distinct numbers, and a rollback hands nothing out.
    """
    stmt = (
        upsert(session, order_counters)
        .values(year=year, last_value=count)
        .on_conflict_do_update(
            index_elements=[order_counters.c.year],
            set_={"last_value": order_counters.c.last_value + count},
        )
        .returning(order_counters.c.last_value)
    )
    last = session.execute(stmt).scalar_one()
    return int(last) - count + 1
