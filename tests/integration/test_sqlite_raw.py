"""The SQLite writer's statements on the driver's cursor store what SQLAlchemy would
have stored, and fail as SQLAlchemy's statements fail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError

from ordermill.db import Database
from ordermill.services.tables import outbox_events
from ordermill.services.writers.sqlite_raw import Raw, insert_into

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


def test_an_insert_gives_the_new_rows_id_and_returning_gives_its_value(
    sqlite_database: Database,
) -> None:
    now = datetime.now(UTC)
    counter = Raw(
        "INSERT INTO order_counters (year, last_value) VALUES (?, 1)"
        " ON CONFLICT (year) DO UPDATE SET last_value = last_value + 1 RETURNING last_value",
        (None,),
    )
    with sqlite_database.write() as session:
        first = OUTBOX.insert(session, ("product.low_stock", None, None, {}, now))
        second = OUTBOX.insert(session, ("product.low_stock", None, None, {}, now))
        numbers = [counter.returning(session, (2031,)) for _ in range(3)]

    with sqlite_database.read() as session:
        ids = session.execute(select(outbox_events.c.id).order_by(outbox_events.c.id)).scalars()
        assert list(ids) == [first, second]
    assert second == first + 1
    assert numbers == [1, 2, 3]


def test_a_failed_single_insert_comes_out_as_sqlalchemys_error(sqlite_database: Database) -> None:
    with pytest.raises(IntegrityError, match="NOT NULL"), sqlite_database.write() as session:
        OUTBOX.insert(session, (None, None, None, {}, datetime.now(UTC)))
