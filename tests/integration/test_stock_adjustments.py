"""Stock adjustments with a reason, finding products, and what the back office leans on
in the account and audit services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from ordermill.db import Database
from ordermill.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from ordermill.services import accounts, audit, catalog, inventory
from ordermill.services.audit import Actor
from ordermill.services.tables import outbox_events
from tests import factories
from tests.concurrency import run_at_once

CLERK = Actor("clerk@example.com", user_id=None)


def adjust(database: Database, product_id: int, delta: int, reason: str = "counted") -> int:
    with database.write() as session:
        return catalog.adjust_stock(session, product_id, delta, reason, actor=CLERK).stock


def audit_entries(database: Database, product_id: int) -> list[audit.AuditEntry]:
    with database.read() as session:
        page = audit.list_entries(session, limit=50, entity="product", entity_id=product_id)
    return page.items


def low_stock_events(database: Database) -> list[dict[str, object]]:
    with database.read() as session:
        rows = session.execute(
            select(outbox_events.c.product_id, outbox_events.c.data).where(
                outbox_events.c.type == "product.low_stock"
            )
        ).all()
    return [{"product_id": r.product_id, **r.data} for r in rows]


def test_a_delivery_adds_to_the_stock_and_a_write_off_takes_away(database: Database) -> None:
    pen = factories.product(database, stock=10)

    assert adjust(database, pen, 5, "delivery from the supplier") == 15
    assert adjust(database, pen, -3, "broken in the warehouse") == 12
    assert factories.stock_of(database, pen) == 12


def test_each_adjustment_is_in_the_audit_log_with_its_reason_and_who_made_it(
    database: Database,
) -> None:
    pen = factories.product(database, stock=10)

    adjust(database, pen, -2, "water damage")

    latest = audit_entries(database, pen)[0]
    assert latest.action == "product.stock_adjusted"
    assert latest.actor == "clerk@example.com"
    assert latest.detail == {"delta": -2, "stock": 8, "reason": "water damage"}


def test_the_stock_never_goes_below_zero_and_a_refusal_changes_nothing(
    database: Database,
) -> None:
    pen = factories.product(database, stock=3)
    entries_before = len(audit_entries(database, pen))

    with pytest.raises(Conflict) as refused:
        adjust(database, pen, -4, "miscounted")

    assert refused.value.code == "stock_below_zero"
    assert refused.value.detail["stock"] == 3
    assert factories.stock_of(database, pen) == 3
    assert len(audit_entries(database, pen)) == entries_before
    assert adjust(database, pen, -3, "all sold at the fair") == 0


@pytest.mark.parametrize(
    ("delta", "reason", "field"),
    [(5, "", "reason"), (5, "   ", "reason"), (5, "x" * 501, "reason"), (0, "nothing", "delta")],
)
def test_an_adjustment_needs_a_reason_and_a_number_of_units(
    database: Database, delta: int, reason: str, field: str
) -> None:
    pen = factories.product(database, stock=3)

    with pytest.raises(InvalidInput) as refused:
        adjust(database, pen, delta, reason)

    assert refused.value.detail["field"] == field
    assert factories.stock_of(database, pen) == 3


def test_an_adjustment_past_the_largest_stock_is_refused_without_an_overflow(
    database: Database,
) -> None:
    pen = factories.product(database, stock=2_000_000_000)

    with pytest.raises(InvalidInput):
        adjust(database, pen, 2_000_000_000)

    assert factories.stock_of(database, pen) == 2_000_000_000


def test_adjusting_an_unknown_product_is_not_found(database: Database) -> None:
    with pytest.raises(NotFound) as missing:
        adjust(database, 987_654, 1)

    assert missing.value.code == "product_not_found"


def test_falling_to_the_threshold_by_an_adjustment_raises_low_stock_once(
    database: Database,
) -> None:
    pen = factories.product(database, stock=8)
    with database.write() as session:
        catalog.update_product(
            session,
            catalog.get_product(session, pen),
            catalog.ProductChanges(low_stock_threshold=5),
        )

    adjust(database, pen, -2)  # 6: not yet
    adjust(database, pen, -2)  # 4: crosses 5
    adjust(database, pen, -1)  # 3: already low
    adjust(database, pen, 10)  # 13: back up

    assert low_stock_events(database) == [{"product_id": pen, "stock": 4, "threshold": 5}]


def test_adjusted_stock_still_reconciles_with_what_was_received(database: Database) -> None:
    pen = factories.product(database, stock=10)

    adjust(database, pen, 7)
    adjust(database, pen, -4)

    with database.read() as session:
        report = inventory.check_stock(session)
    assert report.ok, report.drifting


def test_a_product_read_in_the_same_transaction_shows_the_new_stock(database: Database) -> None:
    pen = factories.product(database, stock=10)

    with database.write() as session:
        before = catalog.get_product(session, pen)
        after = catalog.adjust_stock(session, pen, 4, "found a box")

        assert after is before
        assert before.stock == 14


def test_adjustments_at_once_all_count_and_never_take_the_stock_below_zero(
    database: Database,
) -> None:
    pen = factories.product(database, stock=5)

    def write_off(_: int) -> str:
        try:
            adjust(database, pen, -2, "damaged")
        except Conflict as refused:
            return refused.code
        return "done"

    outcomes = run_at_once(4, write_off)

    assert sorted(outcomes) == ["done", "done", "stock_below_zero", "stock_below_zero"]
    assert factories.stock_of(database, pen) == 1


# ---------------------------------------------------------------- finding products


def test_products_are_found_by_a_piece_of_their_name_or_sku_in_any_case(
    database: Database,
) -> None:
    teapot = factories.product(database, name="Blue Teapot", sku="TEA-POT-1")
    factories.product(database, name="Kettle", sku="KET-1")
    cup = factories.product(database, name="Cup", sku="CUP-FOR-TEA")

    with database.read() as session:
        found = [p.id for p in catalog.list_products(session, limit=10, search="tea").items]
        by_sku = [p.id for p in catalog.list_products(session, limit=10, search="pot-1").items]

    assert found == [teapot, cup]
    assert by_sku == [teapot]


def test_a_search_for_wildcards_finds_them_literally(database: Database) -> None:
    factories.product(database, name="Anything")
    percent = factories.product(database, name="100% cotton")

    with database.read() as session:
        found = [p.id for p in catalog.list_products(session, limit=10, search="%").items]
        underscore = catalog.list_products(session, limit=10, search="_").items

    assert found == [percent]
    assert underscore == []


# ---------------------------------------------------------------- accounts and audit


def resolves(database: Database, token: str) -> bool:
    try:
        with database.read() as session:
            accounts.resolve_token(session, token)
    except Unauthenticated:
        return False
    return True


def test_disabling_a_login_revokes_its_sessions_for_good_and_pauses_its_api_tokens(
    database: Database,
) -> None:
    user_id = factories.user(database, role="staff")
    with database.write() as session:
        user = accounts.get_user(session, user_id)
        login = accounts.open_session(session, user_id, ttl=timedelta(hours=1)).token
        api = accounts.issue_token(session, user, kind=accounts.API, ttl=None, name="sync").token

    for disabled in (True, False):
        with database.write() as session:
            accounts.set_disabled(session, accounts.get_user(session, user_id), disabled)

    assert not resolves(database, login)
    assert resolves(database, api)


def test_the_audit_log_can_be_narrowed_to_one_action(database: Database) -> None:
    pen = factories.product(database, stock=10)
    adjust(database, pen, 1)
    with database.write() as session:
        catalog.update_product(
            session, catalog.get_product(session, pen), catalog.ProductChanges(price=1_00)
        )

    with database.read() as session:
        page = audit.list_entries(session, limit=10, action="product.stock_adjusted")

    assert [(e.action, e.entity_id) for e in page.items] == [("product.stock_adjusted", pen)]
