"""Customer balances as a ledger: every change is an immutable entry, and the balance is
always the sum of the entries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError

from ordermill.db import Database
from ordermill.errors import Conflict, InvalidInput, NotFound
from ordermill.services import catalog, ledger, processing, workflow
from ordermill.services.audit import Actor
from ordermill.services.ledger import EntryKind
from ordermill.services.tables import customers, ledger_entries
from tests.factories import balance_of, customer, order, product

ADMIN = Actor("admin@example.com")
AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def entries(database: Database, customer_id: int) -> list[tuple[str, int, int, str | None]]:
    """(kind, amount, balance_after, reason), oldest first."""
    with database.read() as session:
        rows = session.execute(
            select(
                ledger_entries.c.kind,
                ledger_entries.c.amount,
                ledger_entries.c.balance_after,
                ledger_entries.c.reason,
            )
            .where(ledger_entries.c.customer_id == customer_id)
            .order_by(ledger_entries.c.id)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def entry_count(database: Database) -> int:
    with database.read() as session:
        return int(session.execute(select(func.count()).select_from(ledger_entries)).scalar_one())


def no_drift(database: Database) -> bool:
    with database.read() as session:
        return ledger.drift(session) == []


def post(database: Database, customer_id: int, kind: EntryKind, amount: int, **kw: object) -> int:
    with database.write() as session:
        result = ledger.post(session, customer_id, kind, amount, actor=ADMIN, **kw)  # type: ignore[arg-type]
    assert result is not None
    return result


# ---------------------------------------------------------------- opening balances


def test_a_new_customer_with_an_opening_balance_gets_one_adjustment_entry(
    database: Database,
) -> None:
    ann = customer(database, balance=42_00)

    assert entries(database, ann) == [("adjustment", 42_00, 42_00, "opening balance")]
    assert no_drift(database)


def test_a_new_customer_without_a_balance_has_no_entries(database: Database) -> None:
    ann = customer(database, balance=0)

    assert entries(database, ann) == []
    assert no_drift(database)


def test_opening_entries_records_many_balances_at_once_skipping_zero(database: Database) -> None:
    # Customers written straight into the table, the way seeding and imports do
    with database.write() as session:
        ids = [
            session.execute(
                customers.insert()
                .values(name=f"C{n}", email=f"c{n}@example.com", balance=balance)
                .returning(customers.c.id)
            ).scalar_one()
            for n, balance in enumerate([5_00, 0, -3_00])
        ]
        ledger.opening_entries(session, [(ids[0], 5_00), (ids[1], 0), (ids[2], -3_00)], "imported")

    assert entries(database, ids[0]) == [("adjustment", 5_00, 5_00, "imported")]
    assert entries(database, ids[1]) == []
    assert entries(database, ids[2]) == [("adjustment", -3_00, -3_00, "imported")]
    assert no_drift(database)


# ---------------------------------------------------------------- changes


def test_adjusting_a_balance_writes_an_adjustment_entry_with_reason_and_actor(
    database: Database,
) -> None:
    ann = customer(database, balance=10_00)

    with database.write() as session:
        new_balance = catalog.adjust_balance(
            session, ann, -4_00, reason="goodwill reversed", actor=ADMIN
        )

    assert new_balance == 6_00 == balance_of(database, ann)
    assert entries(database, ann)[-1] == ("adjustment", -4_00, 6_00, "goodwill reversed")
    with database.read() as session:
        newest = ledger.list_entries(session, ann, limit=1).items[0]
    assert (newest.actor, newest.order_id) == (ADMIN.label, None)
    assert no_drift(database)


def test_each_entry_records_the_balance_after_it(database: Database) -> None:
    ann = customer(database, balance=10_00)

    assert post(database, ann, EntryKind.CREDIT, 2_50) == 12_50
    assert post(database, ann, EntryKind.CHARGE, -20_00) == -7_50
    assert post(database, ann, EntryKind.REFUND, 7_50) == 0

    assert [(kind, after) for kind, _, after, _ in entries(database, ann)] == [
        ("adjustment", 10_00),
        ("credit", 12_50),
        ("charge", -7_50),
        ("refund", 0),
    ]
    assert balance_of(database, ann) == sum(amount for _, amount, _, _ in entries(database, ann))
    assert no_drift(database)


@pytest.mark.parametrize("balance", [0, -1_00])
def test_a_charge_only_if_positive_does_nothing_on_a_balance_that_is_not_positive(
    database: Database, balance: int
) -> None:
    ann = customer(database, balance=balance)
    before = entries(database, ann)

    with database.write() as session:
        result = ledger.post(
            session, ann, EntryKind.CHARGE, -5_00, actor=ADMIN, only_if_positive=True
        )

    assert result is None
    assert balance_of(database, ann) == balance
    assert entries(database, ann) == before


def test_posting_to_an_unknown_customer_is_not_found_and_writes_nothing(
    database: Database,
) -> None:
    before = entry_count(database)

    with pytest.raises(NotFound) as exc, database.write() as session:
        ledger.post(session, 999_999, EntryKind.ADJUSTMENT, 1_00, actor=ADMIN)

    assert exc.value.code == "customer_not_found"
    assert entry_count(database) == before


def test_orders_move_the_balance_only_through_the_ledger(database: Database) -> None:
    ann = customer(database, balance=50_00)
    pen = product(database, price=10_00, stock=10)
    first = order(database, ann, (pen, 2))
    second = order(database, ann, (pen, 1))
    with database.write() as session:
        processing.process_order(session, first, actor=ADMIN)
        processing.process_order(session, second, actor=ADMIN)
        workflow.cancel(session, second, reason="duplicate", actor=ADMIN)

    assert [(kind, amount, after) for kind, amount, after, _ in entries(database, ann)] == [
        ("adjustment", 50_00, 50_00),
        ("charge", -20_00, 30_00),
        ("charge", -10_00, 20_00),
        ("refund", 10_00, 30_00),
    ]
    assert balance_of(database, ann) == 30_00
    assert no_drift(database)


# ---------------------------------------------------------------- drift


def test_drift_finds_a_balance_changed_behind_the_ledgers_back(database: Database) -> None:
    ann = customer(database, balance=10_00)
    bob = customer(database, balance=0)
    assert no_drift(database)

    with database.write() as session:
        session.execute(update(customers).where(customers.c.id == ann).values(balance=99_00))
        session.execute(update(customers).where(customers.c.id == bob).values(balance=1))
    with database.read() as session:
        drifting = ledger.drift(session)

    assert drifting == [(ann, 99_00, 10_00), (bob, 1, 0)]


# ---------------------------------------------------------------- customers with history


def test_a_customer_with_ledger_entries_cannot_be_deleted(database: Database) -> None:
    ann = customer(database, balance=0)
    with database.write() as session:
        catalog.adjust_balance(session, ann, 5_00, reason="welcome")
        catalog.adjust_balance(session, ann, -5_00, reason="welcome reversed")

    with pytest.raises(Conflict) as exc, database.write() as session:
        catalog.delete_customer(session, ann)

    assert exc.value.code == "customer_has_ledger"
    assert balance_of(database, ann) == 0
    assert len(entries(database, ann)) == 2


def test_a_customer_without_ledger_entries_can_be_deleted(database: Database) -> None:
    ann = customer(database, balance=0)

    with database.write() as session:
        catalog.delete_customer(session, ann)

    with pytest.raises(NotFound), database.read() as session:
        catalog.get_customer(session, ann)


# ---------------------------------------------------------------- immutability


def only_entry(database: Database, customer_id: int) -> tuple[int, int, int, str | None]:
    with database.read() as session:
        row = session.execute(
            select(
                ledger_entries.c.id,
                ledger_entries.c.amount,
                ledger_entries.c.balance_after,
                ledger_entries.c.reason,
            ).where(ledger_entries.c.customer_id == customer_id)
        ).one()
    return tuple(row)  # type: ignore[return-value]


def test_the_database_refuses_to_update_a_ledger_entry(database: Database) -> None:
    ann = customer(database, balance=10_00)
    before = only_entry(database, ann)

    with pytest.raises(DBAPIError, match="ledger entries are immutable"), database.write() as s:
        s.execute(
            update(ledger_entries)
            .where(ledger_entries.c.id == before[0])
            .values(amount=1_000_00, reason="forged")
        )

    assert only_entry(database, ann) == before


def test_the_database_refuses_to_delete_a_ledger_entry(database: Database) -> None:
    ann = customer(database, balance=10_00)
    before = only_entry(database, ann)

    with pytest.raises(DBAPIError, match="ledger entries are immutable"), database.write() as s:
        s.execute(delete(ledger_entries).where(ledger_entries.c.id == before[0]))

    assert only_entry(database, ann) == before


def test_raw_sql_cannot_rewrite_the_ledger_either(database: Database) -> None:
    ann = customer(database, balance=10_00)
    before = only_entry(database, ann)

    with pytest.raises(DBAPIError), database.write() as session:
        session.execute(text("UPDATE ledger_entries SET balance_after = 0"))
    with pytest.raises(DBAPIError), database.write() as session:
        session.execute(text("DELETE FROM ledger_entries"))

    assert only_entry(database, ann) == before


# ---------------------------------------------------------------- listing


def test_entries_are_listed_newest_first_a_page_at_a_time(database: Database) -> None:
    ann = customer(database, balance=1_00)
    customer(database, balance=7_00)  # someone else's entries stay out
    for amount in (2_00, 3_00, 4_00, 5_00):
        post(database, ann, EntryKind.CREDIT, amount, reason=f"+{amount}", now=AT)

    pages = []
    cursor: str | None = None
    with database.read() as session:
        while True:
            page = ledger.list_entries(session, ann, limit=2, cursor=cursor)
            pages.append([e.amount for e in page.items])
            if page.next_cursor is None:
                break
            cursor = page.next_cursor

    assert pages == [[5_00, 4_00], [3_00, 2_00], [1_00]]
    with database.read() as session:
        everything = ledger.list_entries(session, ann, limit=100)
    assert everything.next_cursor is None
    assert [e.balance_after for e in everything.items] == [15_00, 10_00, 6_00, 3_00, 1_00]
    assert {e.customer_id for e in everything.items} == {ann}
    assert [e.id for e in everything.items] == sorted(
        (e.id for e in everything.items), reverse=True
    )
    assert everything.items[0].at == AT
    assert everything.items[0].reason == "+500"


def test_a_page_exactly_full_has_no_next_cursor(database: Database) -> None:
    ann = customer(database, balance=1_00)
    post(database, ann, EntryKind.CREDIT, 1_00)

    with database.read() as session:
        page = ledger.list_entries(session, ann, limit=2)

    assert len(page.items) == 2
    assert page.next_cursor is None


def test_listing_the_entries_of_an_unknown_customer_is_not_found(database: Database) -> None:
    with pytest.raises(NotFound) as exc, database.read() as session:
        ledger.list_entries(session, 999_999, limit=10)

    assert exc.value.code == "customer_not_found"


def test_a_tampered_cursor_is_invalid_input(database: Database) -> None:
    ann = customer(database, balance=1_00)

    with pytest.raises(InvalidInput) as exc, database.read() as session:
        ledger.list_entries(session, ann, limit=10, cursor="not-a-cursor!")

    assert exc.value.code == "invalid_cursor"
