"""The SQLite writer's statements on the driver's cursor store what SQLAlchemy would
have stored, and fail as SQLAlchemy's statements fail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError

from ordermill.db import Database
from ordermill.services.tables import outbox_events
from ordermill.services.writers.sqlite_raw import insert_into

OUTBOX = insert_into(outbox_events, "type", "order_id", "product_id", "data", "created")


@pytest.mark.parametrize("microsecond", [0, 123456])  # SQLAlchemy writes .000000 too
def test_a_row_written_on_the_drivers_cursor_is_stored_as_sqlalchemy_stores_it(
    sqlite_database: Database, microsecond: int
) -> None:
    when = datetime(2026, 12, 3, 9, 30, 5, microsecond, tzinfo=timezone(timedelta(hours=2)))
    data = {"note": 'Zoë\'s "cake" ✓', "lines": [1, 2], "nested": {"a": None}}
    with sqlite_database.write() as session:
        OUTBOX.run(session, [("product.low_stock", None, None, data, when)])
        session.execute(
            insert(outbox_events),
            {"type": "product.low_stock", "order_id": None, "data": data, "created": when},
        )

    with sqlite_database.read() as session:
        stored = session.execute(
            text("SELECT type, order_id, product_id, data, created FROM outbox_events ORDER BY id")
        ).all()
        read = session.execute(select(outbox_events.c.data, outbox_events.c.created)).all()
    assert stored[0] == stored[1]  # the very same text in the file
    assert [tuple(row) for row in read] == [(data, when.astimezone(UTC))] * 2


def test_a_driver_error_comes_out_as_sqlalchemys_and_nothing_is_written(
    sqlite_database: Database,
) -> None:
    now = datetime.now(UTC)
    rows = [("product.low_stock", None, None, {}, now), (None, None, None, {}, now)]
    with pytest.raises(IntegrityError, match="NOT NULL"), sqlite_database.write() as session:
        OUTBOX.run(session, rows)  # the second event has no type

    with sqlite_database.read() as session:
        assert session.execute(text("SELECT count(*) FROM outbox_events")).scalar_one() == 0


def test_the_count_of_changed_rows_adds_up_over_every_row_of_parameters(
    sqlite_database: Database,
) -> None:
    now = datetime.now(UTC)
    with sqlite_database.write() as session:
        written = OUTBOX.run(session, [("product.low_stock", None, None, {}, now)] * 3)

    assert written == 3
