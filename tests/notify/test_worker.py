"""The worker: each event dispatched once, each message sent once, failures retried on
schedule, permanent ones marked failed, and leases that outlive a dead worker."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.models import utcnow
from ordermill.notify.channels import Failed, Retry
from ordermill.notify.worker import Worker
from ordermill.services import deliveries, delivery_log, outbox
from ordermill.services.plans import OutboxRow
from ordermill.services.tables import deliveries as deliveries_table
from ordermill.services.tables import outbox_events
from tests import factories
from tests.notify.recorder import Recorder


def settings_for(database: Database, **changes: object) -> Settings:
    return Settings(
        database_url=database.url,
        delivery_retry_schedule=[0.05],
        **changes,  # type: ignore[arg-type]
    )


def worker(database: Database, channel: Recorder, **changes: object) -> Worker:
    return Worker(database, settings_for(database, **changes), [channel], concurrency=2)


def statuses(database: Database) -> list[str]:
    with database.read() as session:
        return list(
            session.execute(
                select(deliveries_table.c.status).order_by(deliveries_table.c.id)
            ).scalars()
        )


def add_events(database: Database, count: int) -> None:
    with database.write() as session:
        outbox.record(
            session, [OutboxRow("webhook.ping", None, {"n": n}) for n in range(count)], utcnow()
        )


def test_a_placed_order_is_dispatched_and_sent_once(database: Database) -> None:
    channel = Recorder()
    customer = factories.customer(database)
    pen = factories.product(database)
    factories.order(database, customer, (pen, 1))

    first = worker(database, channel).run_once()
    second = worker(database, channel).run_once()

    assert first["dispatched"] == 1
    assert first["sent"] == 1
    assert second["dispatched"] == 0
    assert second["sent"] == 0
    [message] = channel.sent
    assert message.event_type == "order.created"
    assert message.content["order"].startswith(str(utcnow().year))
    with database.read() as session:
        assert session.execute(select(outbox_events.c.dispatched)).scalar_one() is not None
    assert statuses(database) == ["sent"]


def test_a_failure_that_may_pass_is_retried_on_schedule_until_it_is_sent(
    database: Database,
) -> None:
    channel = Recorder([Retry("451 try later"), Retry("connection refused")])
    add_events(database, 1)
    deliverer = worker(database, channel)

    deliverer.run_once()
    assert statuses(database) == ["pending"]
    with database.read() as session:
        row = session.execute(select(deliveries_table)).one()
    assert row.attempts == 1
    assert row.last_error == "451 try later"
    assert row.next_attempt > row.created

    deadline = time.monotonic() + 10
    while statuses(database) != ["sent"] and time.monotonic() < deadline:
        time.sleep(0.05)
        deliverer.run_once()

    assert statuses(database) == ["sent"]
    assert channel.delivered() == {1: 1} or sum(channel.delivered().values()) == 1


def test_a_permanent_refusal_is_marked_failed_and_not_retried(database: Database) -> None:
    channel = Recorder([Failed("550 no such user", 550)])
    add_events(database, 1)
    deliverer = worker(database, channel)

    deliverer.run_once()
    time.sleep(0.1)
    deliverer.run_once()

    assert statuses(database) == ["failed"]
    assert sum(channel.attempts.values()) == 1
    with database.read() as session:
        row = session.execute(select(deliveries_table)).one()
    assert row.last_error == "550 no such user"
    assert row.response_code == 550


def test_after_the_last_attempt_a_delivery_is_failed(database: Database) -> None:
    channel = Recorder([Retry("down")] * 5)
    add_events(database, 1)
    deliverer = worker(database, channel, delivery_max_attempts=3)

    deadline = time.monotonic() + 10
    while statuses(database) != ["failed"] and time.monotonic() < deadline:
        deliverer.run_once()
        time.sleep(0.06)

    assert statuses(database) == ["failed"]
    assert sum(channel.attempts.values()) == 3


def test_a_channel_that_raises_is_retried_not_fatal(database: Database) -> None:
    class Broken(Recorder):
        def send(self, message):  # type: ignore[no-untyped-def]
            raise RuntimeError("bug in a channel")

    add_events(database, 1)
    counts = worker(database, Broken()).run_once()

    assert counts["pending"] == 1
    with database.read() as session:
        assert (
            "bug in a channel"
            in session.execute(select(deliveries_table.c.last_error)).scalar_one()
        )


def test_an_event_that_cannot_be_rendered_leaves_a_failed_delivery_saying_why(
    database: Database,
) -> None:
    add_events(database, 2)

    counts = worker(database, Recorder(fail_render=True)).run_once()

    assert counts["dispatched"] == 2
    assert statuses(database) == ["failed", "failed"]
    with database.read() as session:
        errors = session.execute(select(deliveries_table.c.last_error)).scalars().all()
    assert all("the template is broken" in error for error in errors)


def test_a_lease_that_runs_out_lets_another_worker_send_and_the_first_cannot_record(
    database: Database,
) -> None:
    add_events(database, 1)
    first = worker(database, Recorder())
    with database.write() as session:
        from ordermill.notify.dispatch import dispatch

        dispatch(session, first.channels, utcnow())
        [claimed] = deliveries.claim_deliveries(session, first.name, 10, utcnow(), lease=60)

    # The first worker dies holding the lease; nobody else may take it meanwhile.
    second_channel = Recorder()
    second = worker(database, second_channel)
    assert second.run_once()["sent"] == 0

    with database.write() as session:  # the lease runs out
        session.execute(
            deliveries_table.update().values(lease_until=utcnow() - timedelta(seconds=1))
        )
    assert second.run_once()["sent"] == 1
    assert [m.id for m in second_channel.sent] == [claimed.id]
    # Had the first one lived on and sent too, its record is refused: the second's stands.
    assert first.deliver(claimed) == "lost"
    assert statuses(database) == ["sent"]


def test_status_counts_and_retry_of_failed_deliveries(database: Database) -> None:
    add_events(database, 3)
    worker(database, Recorder([Failed("550 a"), Failed("550 b")])).run_once()

    with database.read() as session:
        status = delivery_log.outbox_status(session)
    assert (status.pending, status.failed, status.undispatched) == (0, 2, 0)
    assert status.channels[0].sent == 1

    with database.write() as session:
        assert delivery_log.retry(session, utcnow()) == 2
    channel = Recorder()
    worker(database, channel).run_once()
    assert statuses(database) == ["sent", "sent", "sent"]
    assert len(channel.sent) == 2


def test_pruning_forgets_what_was_sent_before_the_retention_period(database: Database) -> None:
    add_events(database, 2)
    worker(database, Recorder([Failed("550")])).run_once()

    with database.write() as session:
        pruned = delivery_log.prune(session, utcnow() + timedelta(seconds=1))

    assert (pruned.deliveries, pruned.events) == (1, 1)  # the failed one stays, with its event
    assert statuses(database) == ["failed"]


def test_run_wakes_within_a_second_of_a_commit_and_stops_on_request(database: Database) -> None:
    channel = Recorder()
    deliverer = Worker(
        database, settings_for(database, worker_poll_seconds=5.0), [channel], concurrency=2
    )
    database.on_commit(deliverer.nudge)
    thread = deliverer.start()
    try:
        time.sleep(0.3)  # idle now, sleeping up to 5 s
        started = time.monotonic()
        add_events(database, 1)
        while not channel.sent and time.monotonic() - started < 5:
            time.sleep(0.01)
        assert channel.sent, "not delivered"
        assert time.monotonic() - started < 1.0
    finally:
        deliverer.stop()
        thread.join(10)
    assert not thread.is_alive()


@pytest.mark.postgres_only
def test_on_postgresql_a_commit_elsewhere_wakes_the_worker_through_notify(
    pg_database: Database,
) -> None:
    channel = Recorder()
    deliverer = Worker(pg_database, settings_for(pg_database, worker_poll_seconds=10.0), [channel])
    thread = deliverer.start()
    other = Database(pg_database.url)  # another process's connection, no in-process nudge
    try:
        time.sleep(0.5)
        started = time.monotonic()
        add_events(other, 1)
        while not channel.sent and time.monotonic() - started < 5:
            time.sleep(0.01)
        assert channel.sent
        assert time.monotonic() - started < 1.0
    finally:
        deliverer.stop()
        thread.join(10)
        other.dispose()


@pytest.mark.postgres_only
def test_three_workers_share_ten_thousand_events_each_delivered_exactly_once(
    pg_database: Database,
) -> None:
    add_events(pg_database, 10_000)
    channel = Recorder()
    databases = [Database(pg_database.url) for _ in range(3)]
    workers = [
        Worker(db, settings_for(db, worker_poll_seconds=0.2), [channel], concurrency=4)
        for db in databases
    ]
    threads = [w.start() for w in workers]
    try:
        deadline = time.monotonic() + 120
        while len(channel.sent) < 10_000 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        for w in workers:
            w.stop()
        for t in threads:
            t.join(30)
        for db in databases:
            db.dispose()

    delivered = channel.delivered()
    assert len(delivered) == 10_000
    assert max(delivered.values()) == 1
    assert statuses(pg_database).count("sent") == 10_000
    senders = {m.id for m in channel.sent}
    assert len(senders) == 10_000


def test_concurrent_workers_on_one_database_never_send_twice(database: Database) -> None:
    add_events(database, 200)
    channel = Recorder()
    workers = [worker(database, channel) for _ in range(3)]
    threads = [threading.Thread(target=w.run_once) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for w in workers:
        w.run_once()

    delivered = channel.delivered()
    assert len(delivered) == 200
    assert max(delivered.values()) == 1


def test_on_postgresql_a_batch_is_claimed_in_one_statement_and_recorded_in_one(
    database: Database,
) -> None:
    if database.is_sqlite:
        pytest.skip("SQLite's one writer claims in three statements, with nobody to skip")
    # Given 8 events dispatched into 8 deliveries: one claim's worth for 2 sending threads
    add_events(database, 8)
    sender = worker(database, Recorder())
    with database.write() as session:
        from ordermill.notify.dispatch import dispatch

        assert dispatch(session, sender.channels, utcnow()) == 8
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        seen.append(" ".join(statement.split())[:60])

    # When a worker's pass sends them
    event.listen(database.engine, "before_cursor_execute", record)
    try:
        counts = sender.run_once()
    finally:
        event.remove(database.engine, "before_cursor_execute", record)

    # Then it looked for events (none), claimed the batch with its events and endpoints
    # in one statement, recorded the 8 outcomes in one, and found nothing more due
    assert counts["sent"] == 8
    assert statuses(database) == ["sent"] * 8
    assert len(seen) == 4, seen
    assert [seen[1][:11], seen[3][:11]] == ["WITH due AS"] * 2, seen
    assert seen[2].startswith("UPDATE deliveries AS d SET status"), seen
