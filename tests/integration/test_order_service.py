"""Orders on a real database: placing, numbering, processing, deleting, listing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select, update

from ordermill.db import Database
from ordermill.domain.orders import ProcessingFailed, Strategy
from ordermill.domain.workflow import TransitionRefused
from ordermill.errors import Conflict, InvalidInput, NotFound, OrdermillError
from ordermill.services import catalog
from ordermill.services.order_views import (
    OrderFilters,
    OrderView,
    get_order,
    get_order_by_number,
    list_orders,
)
from ordermill.services.orders import (
    ItemRequest,
    count_orders,
    delete_order,
    place_order,
    place_order_to_process,
)
from ordermill.services.processing import process_order, process_placed
from ordermill.services.tables import order_counters, order_lines, outbox_events, products
from tests.factories import balance_of, customer, product, stock_of

JAN_2026 = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)
PROCESSED_AT = datetime(2026, 1, 16, 14, 0, 5, 123456, tzinfo=UTC)


class Abort(Exception):
    """Raised inside a unit of work to roll it back on purpose."""


def place(
    database: Database,
    customer_id: int,
    *items: tuple[int, int],
    now: datetime | None = None,
    **fields: Any,
) -> OrderView:
    with database.write() as session:
        return place_order(
            session,
            customer_id=customer_id,
            items=[ItemRequest(pid, qty) for pid, qty in items],
            currency="USD",
            now=now,
            **fields,
        )


def process(
    database: Database,
    order_id: int,
    strategy: Strategy = Strategy.ADJUST,
    now: datetime | None = PROCESSED_AT,
) -> OrderView:
    with database.write() as session:
        return process_order(session, order_id, strategy, now=now)


def fetch(database: Database, order_id: int) -> OrderView:
    with database.read() as session:
        return get_order(session, order_id)


def lines_by_sku(view: OrderView) -> dict[str, tuple[int, int, int]]:
    """sku -> (quantity_ordered, quantity, line_total)."""
    return {ln.sku: (ln.quantity_ordered, ln.quantity, ln.line_total) for ln in view.lines}


def line_rows(database: Database, order_id: int) -> int:
    with database.read() as session:
        count = session.execute(
            select(func.count()).select_from(order_lines).where(order_lines.c.order_id == order_id)
        ).scalar_one()
        return int(count)


def all_orders(database: Database) -> int:
    with database.read() as session:
        return count_orders(session)


# ================================================================ placing


def test_a_placed_order_is_pending_with_a_snapshot_of_each_product(database: Database) -> None:
    # Given a customer and two products
    buyer = customer(database, balance=50_00)
    pen = product(database, name="Blue Pen", sku="PEN-1", price=2_50, stock=10)
    ink = product(database, name="Black Ink", sku="INK-1", price=7_25, stock=3)

    # When they order 4 pens and 1 ink
    placed = place(
        database,
        buyer,
        (pen, 4),
        (ink, 1),
        shipping_address="1 Main St",
        note="gift wrap",
        extra={"channel": "phone"},
    )

    # Then the stored order is pending, totals the lines and keeps every detail
    stored = fetch(database, placed.id)
    assert stored == placed
    assert stored.status == "pending"
    assert stored.processed is None
    assert stored.strategy is None
    assert stored.customer_id == buyer
    assert stored.currency == "USD"
    assert (stored.shipping_address, stored.note) == ("1 Main St", "gift wrap")
    assert stored.extra == {"channel": "phone"}
    assert [(ln.product_id, ln.name, ln.sku, ln.unit_price) for ln in stored.lines] == [
        (pen, "Blue Pen", "PEN-1", 2_50),
        (ink, "Black Ink", "INK-1", 7_25),
    ]
    assert lines_by_sku(stored) == {"PEN-1": (4, 4, 10_00), "INK-1": (1, 1, 7_25)}
    assert stored.total == 17_25


def test_placing_an_order_takes_no_stock_and_charges_nothing(database: Database) -> None:
    buyer = customer(database, balance=50_00)
    pen = product(database, price=2_50, stock=10)

    place(database, buyer, (pen, 4))

    assert stock_of(database, pen) == 10
    assert balance_of(database, buyer) == 50_00


def test_an_order_may_ask_for_more_than_the_stock_holds(
    database: Database,
) -> None:
    buyer = customer(database)
    pen = product(database, stock=2)

    placed = place(database, buyer, (pen, 5))

    assert [ln.quantity_ordered for ln in placed.lines] == [5]


def test_the_snapshot_survives_a_change_of_the_products_price_name_and_sku(
    database: Database,
) -> None:
    # Given an order for a pen at 2.50
    buyer = customer(database)
    pen = product(database, name="Blue Pen", sku="PEN-1", price=2_50, stock=10)
    placed = place(database, buyer, (pen, 2))

    # When the product is renamed, re-skued and repriced
    with database.write() as session:
        catalog.update_product(
            session,
            catalog.get_product(session, pen),
            catalog.ProductChanges(name="Red Pen", sku="PEN-2", price=9_99),
        )

    # Then the order still says what was bought, at what price
    stored = fetch(database, placed.id)
    (line,) = stored.lines
    assert (line.product_id, line.name, line.sku, line.unit_price) == (
        pen,
        "Blue Pen",
        "PEN-1",
        2_50,
    )
    assert (line.line_total, stored.total) == (5_00, 5_00)


def test_processing_charges_the_snapshot_price_not_todays_price(database: Database) -> None:
    buyer = customer(database, balance=100_00)
    pen = product(database, price=2_50, stock=10)
    placed = place(database, buyer, (pen, 2))
    with database.write() as session:
        catalog.update_product(
            session, catalog.get_product(session, pen), catalog.ProductChanges(price=9_99)
        )

    processed = process(database, placed.id)

    assert processed.total == 5_00
    assert balance_of(database, buyer) == 95_00


def test_the_snapshot_survives_the_product_being_deleted(database: Database) -> None:
    # Given an order for a pen
    buyer = customer(database)
    pen = product(database, name="Blue Pen", sku="PEN-1", price=2_50, stock=10)
    placed = place(database, buyer, (pen, 3))

    # When the product leaves the catalog
    with database.write() as session:
        catalog.delete_product(session, pen)

    # Then the line no longer points at it but still reads as it was ordered
    stored = fetch(database, placed.id)
    (line,) = stored.lines
    assert line.product_id is None
    assert (line.name, line.sku, line.unit_price) == ("Blue Pen", "PEN-1", 2_50)
    assert (line.quantity_ordered, line.quantity, line.line_total) == (3, 3, 7_50)
    assert stored.total == 7_50


def test_items_for_the_same_product_are_merged_into_one_line(database: Database) -> None:
    buyer = customer(database)
    pen = product(database, sku="PEN-1", price=1_00)
    ink = product(database, sku="INK-1", price=3_00)

    placed = place(database, buyer, (pen, 2), (ink, 1), (pen, 3))

    stored = fetch(database, placed.id)
    assert lines_by_sku(stored) == {"PEN-1": (5, 5, 5_00), "INK-1": (1, 1, 3_00)}
    assert len(stored.lines) == 2
    assert stored.total == 8_00


def test_an_unknown_customer_cannot_order(database: Database) -> None:
    pen = product(database)

    with pytest.raises(NotFound) as exc:
        place(database, 9999, (pen, 1))

    assert exc.value.code == "customer_not_found"
    assert all_orders(database) == 0


def test_an_unknown_product_cannot_be_ordered(database: Database) -> None:
    buyer = customer(database)
    pen = product(database)

    with pytest.raises(OrdermillError) as exc:
        place(database, buyer, (pen, 1), (9999, 2), (8888, 1))

    assert exc.value.code == "product_not_found"
    assert exc.value.detail == {"product_ids": [8888, 9999]}
    assert all_orders(database) == 0


def test_an_archived_product_cannot_be_ordered(database: Database) -> None:
    buyer = customer(database)
    pen = product(database)
    old = product(database, active=False)

    with pytest.raises(Conflict) as exc:
        place(database, buyer, (pen, 1), (old, 1))

    assert exc.value.code == "product_inactive"
    assert exc.value.detail == {"product_ids": [old]}
    assert all_orders(database) == 0


# ---------------------------------------------------------------- placed to be processed at once


def place_to_process(database: Database, customer_id: int, *items: tuple[int, int]) -> Any:
    with database.write() as session:
        return place_order_to_process(
            session,
            customer_id=customer_id,
            items=[ItemRequest(pid, qty) for pid, qty in items],
            currency="USD",
        )


def test_an_order_placed_to_process_comes_with_the_balance_and_stock_it_holds(
    database: Database,
) -> None:
    # Given a customer with 50.00, 10 pens (low under 4) and 3 inks (the store's threshold)
    buyer = customer(database, balance=50_00)
    pen = product(database, sku="PEN-1", price=2_50, stock=10)
    ink = product(database, sku="INK-1", price=7_25, stock=3)
    with database.write() as session:
        session.execute(update(products).where(products.c.id == pen).values(low_stock_threshold=4))

    # When an order for 4 pens and 1 ink is placed to be processed next
    placed = place_to_process(database, buyer, (pen, 4), (ink, 1))

    # Then it is the pending order as stored, with what processing reads of its customer
    # and products, none of it taken yet
    assert placed.order == fetch(database, placed.order.id)
    assert (placed.order.status, placed.order.total) == ("pending", 17_25)
    assert placed.balance == 50_00
    assert placed.stock == {pen: 10, ink: 3}
    assert placed.thresholds == {pen: 4, ink: None}
    assert (stock_of(database, pen), balance_of(database, buyer)) == (10, 50_00)


@pytest.mark.parametrize(
    ("missing", "code"),
    [("customer", "customer_not_found"), ("product", "product_not_found"),
     ("archived", "product_inactive")],
)  # fmt: skip
def test_placing_to_process_refuses_what_placing_refuses(
    database: Database, missing: str, code: str
) -> None:
    buyer = customer(database) if missing != "customer" else 9999
    pen = product(database)
    other = {"customer": pen, "product": 8888, "archived": product(database, active=False)}

    with pytest.raises(OrdermillError) as exc:
        place_to_process(database, buyer, (pen, 1), (other[missing], 1))

    assert exc.value.code == code
    assert all_orders(database) == 0


def test_an_order_placed_and_processed_at_once_settles_as_one_processed_later(
    database: Database,
) -> None:
    # Given the same shop twice: 3 pens (low under 2) and 9 inks; a customer with 100.00
    def shop() -> tuple[int, int, int]:
        buyer = customer(database, balance=100_00)
        pen = product(database, price=2_00, stock=3)
        ink = product(database, price=7_50, stock=9)
        with database.write() as session:
            session.execute(
                update(products).where(products.c.id == pen).values(low_stock_threshold=2)
            )
        return buyer, pen, ink

    later, at_once = shop(), shop()

    # When each orders 5 pens and 2 inks with adjust: one placed now and processed later,
    # the other placed and processed in one transaction
    first = place(database, later[0], (later[1], 5), (later[2], 2))
    process(database, first.id, Strategy.ADJUST)
    with database.write() as session:
        placed = place_order_to_process(
            session,
            customer_id=at_once[0],
            items=[ItemRequest(at_once[1], 5), ItemRequest(at_once[2], 2)],
            currency="USD",
        )
        answered = process_placed(session, placed, Strategy.ADJUST, now=PROCESSED_AT)

    # Then both orders, stocks, balances and notifications end the same
    second = fetch(database, placed.order.id)
    assert answered == second
    settled = [(ln.quantity_ordered, ln.quantity, ln.line_total) for ln in second.lines]
    assert settled == [(5, 3, 6_00), (2, 2, 15_00)]
    assert [
        (ln.quantity_ordered, ln.quantity, ln.line_total) for ln in fetch(database, first.id).lines
    ] == settled
    assert (second.total, second.status) == (21_00, "processed")
    for shop_of in (later, at_once):
        assert (stock_of(database, shop_of[1]), stock_of(database, shop_of[2])) == (0, 7)
        assert balance_of(database, shop_of[0]) == 79_00
    with database.read() as session:
        low = session.execute(
            select(outbox_events.c.product_id).where(outbox_events.c.type == "product.low_stock")
        ).scalars()
        assert sorted(low) == [later[1], at_once[1]]


@pytest.mark.parametrize("quantity", [0, -1])
def test_a_quantity_must_be_at_least_one(database: Database, quantity: int) -> None:
    buyer = customer(database)
    pen = product(database)

    with pytest.raises(InvalidInput) as exc:
        place(database, buyer, (pen, quantity))

    assert exc.value.detail == {"field": "quantity"}
    assert all_orders(database) == 0


def test_an_order_needs_at_least_one_item(database: Database) -> None:
    buyer = customer(database)

    with pytest.raises(InvalidInput) as exc:
        place(database, buyer)

    assert exc.value.detail == {"field": "items"}


def test_require_stock_refuses_an_order_the_shelves_cannot_fill(database: Database) -> None:
    # Given 2 pens and 5 inks in stock
    buyer = customer(database)
    pen = product(database, stock=2)
    ink = product(database, stock=5)

    # When 3 pens and 5 inks are ordered with stock required
    with pytest.raises(ProcessingFailed) as exc:
        place(database, buyer, (pen, 3), (ink, 5), require_stock=True)

    # Then the order is refused, naming the short product, and nothing is stored
    assert exc.value.code == "insufficient_stock"
    assert exc.value.detail == {
        "short_lines": [{"line_id": 0, "product_id": pen, "ordered": 3, "available": 2}]
    }
    assert all_orders(database) == 0


def test_require_stock_counts_merged_items_together(database: Database) -> None:
    buyer = customer(database)
    pen = product(database, stock=4)

    with pytest.raises(ProcessingFailed) as exc:
        place(database, buyer, (pen, 3), (pen, 2), require_stock=True)

    assert exc.value.detail["short_lines"] == [
        {"line_id": 0, "product_id": pen, "ordered": 5, "available": 4}
    ]


def test_require_stock_accepts_an_order_that_takes_the_last_unit(database: Database) -> None:
    buyer = customer(database)
    pen = product(database, stock=3)

    placed = place(database, buyer, (pen, 3), require_stock=True)

    assert [ln.quantity for ln in placed.lines] == [3]
    assert stock_of(database, pen) == 3


# ================================================================ order numbers


def test_order_numbers_count_up_within_a_year(database: Database) -> None:
    buyer = customer(database)
    pen = product(database)

    numbers = [place(database, buyer, (pen, 1), now=JAN_2026).number for _ in range(3)]

    assert numbers == ["2026-00001", "2026-00002", "2026-00003"]


def test_order_numbers_take_the_current_year_by_default(database: Database) -> None:
    buyer = customer(database)
    pen = product(database)

    placed = place(database, buyer, (pen, 1))

    assert placed.number == f"{datetime.now(UTC).year}-00001"


def test_order_numbers_restart_every_year(database: Database) -> None:
    # Given two orders in 2025
    buyer = customer(database)
    pen = product(database)
    dec_2025 = datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)
    place(database, buyer, (pen, 1), now=dec_2025)
    place(database, buyer, (pen, 1), now=dec_2025)

    # When orders arrive in 2026, and one late for 2025
    first_2026 = place(database, buyer, (pen, 1), now=datetime(2026, 1, 1, tzinfo=UTC))
    second_2026 = place(database, buyer, (pen, 1), now=JAN_2026)
    third_2025 = place(database, buyer, (pen, 1), now=dec_2025)

    # Then each year keeps its own sequence
    assert (first_2026.number, second_2026.number) == ("2026-00001", "2026-00002")
    assert third_2025.number == "2025-00003"


def test_a_rolled_back_order_does_not_use_up_a_number(database: Database) -> None:
    # Given a first order numbered 2026-00001
    buyer = customer(database)
    pen = product(database)
    place(database, buyer, (pen, 1), now=JAN_2026)

    # When a second order is placed but its transaction is rolled back
    numbers: list[str] = []

    def place_then_roll_back() -> None:
        with database.write() as session:
            numbers.append(
                place_order(
                    session,
                    customer_id=buyer,
                    items=[ItemRequest(pen, 1)],
                    currency="USD",
                    now=JAN_2026,
                ).number
            )
            raise Abort

    with pytest.raises(Abort):
        place_then_roll_back()
    assert numbers == ["2026-00002"]

    # Then the next order gets the number the rolled-back one had
    assert place(database, buyer, (pen, 1), now=JAN_2026).number == "2026-00002"
    assert all_orders(database) == 2


def test_a_refused_order_does_not_use_up_a_number(database: Database) -> None:
    buyer = customer(database)
    pen = product(database, stock=1)
    with pytest.raises(ProcessingFailed):
        place(database, buyer, (pen, 2), require_stock=True, now=JAN_2026)

    assert place(database, buyer, (pen, 1), now=JAN_2026).number == "2026-00001"


def test_one_transaction_can_place_several_orders_with_consecutive_numbers(
    database: Database,
) -> None:
    buyer = customer(database)
    pen = product(database)

    with database.write() as session:
        numbers = [
            place_order(
                session,
                customer_id=buyer,
                items=[ItemRequest(pen, 1)],
                currency="USD",
                now=JAN_2026,
            ).number
            for _ in range(3)
        ]

    assert numbers == ["2026-00001", "2026-00002", "2026-00003"]
    with database.read() as session:
        last = session.execute(
            select(order_counters.c.last_value).where(order_counters.c.year == 2026)
        ).scalar_one()
    assert last == 3


def test_an_order_can_be_fetched_by_its_number(database: Database) -> None:
    buyer = customer(database)
    pen = product(database)
    place(database, buyer, (pen, 1), now=JAN_2026)
    second = place(database, buyer, (pen, 2), now=JAN_2026)

    with database.read() as session:
        found = get_order_by_number(session, "2026-00002")

    assert found == second


def test_fetching_an_unknown_number_is_not_found(database: Database) -> None:
    buyer = customer(database)
    pen = product(database)
    place(database, buyer, (pen, 1), now=JAN_2026)

    with pytest.raises(NotFound) as exc, database.read() as session:
        get_order_by_number(session, "2026-00002")

    assert exc.value.code == "order_not_found"


def test_fetching_by_a_malformed_number_is_invalid_input(database: Database) -> None:
    with pytest.raises(InvalidInput), database.read() as session:
        get_order_by_number(session, "2026-1")


def test_fetching_an_unknown_order_id_is_not_found(database: Database) -> None:
    with pytest.raises(NotFound) as exc:
        fetch(database, 12345)

    assert exc.value.code == "order_not_found"


# ================================================================ processing


def test_processing_takes_stock_charges_the_total_and_marks_the_order(database: Database) -> None:
    # Given a customer with 100.00 and an order for 4 pens at 2.50 and 1 ink at 7.25
    buyer = customer(database, balance=100_00)
    pen = product(database, sku="PEN-1", price=2_50, stock=10)
    ink = product(database, sku="INK-1", price=7_25, stock=3)
    placed = place(database, buyer, (pen, 4), (ink, 1))

    # When it is processed
    returned = process(database, placed.id, Strategy.ADJUST, now=PROCESSED_AT)

    # Then stock is taken, the customer is charged 17.25 and the order is processed
    assert stock_of(database, pen) == 6
    assert stock_of(database, ink) == 2
    assert balance_of(database, buyer) == 82_75
    stored = fetch(database, placed.id)
    assert stored.status == "processed"
    assert stored.processed == PROCESSED_AT
    assert stored.strategy == "adjust"
    assert stored.total == 17_25
    assert lines_by_sku(stored) == {"PEN-1": (4, 4, 10_00), "INK-1": (1, 1, 7_25)}
    assert returned == stored


def test_processing_stamps_the_current_time_by_default(database: Database) -> None:
    buyer = customer(database)
    pen = product(database)
    placed = place(database, buyer, (pen, 1))

    before = datetime.now(UTC)
    process(database, placed.id, now=None)
    after = datetime.now(UTC)

    processed = fetch(database, placed.id).processed
    assert processed is not None
    assert processed.tzinfo is not None
    assert before - timedelta(seconds=1) <= processed <= after + timedelta(seconds=1)


@pytest.mark.parametrize("strategy", list(Strategy))
def test_the_strategy_used_is_recorded(database: Database, strategy: Strategy) -> None:
    buyer = customer(database)
    pen = product(database)
    placed = place(database, buyer, (pen, 1))

    process(database, placed.id, strategy)

    assert fetch(database, placed.id).strategy == strategy.value


def test_adjust_sells_the_stock_there_is(database: Database) -> None:
    # Given 3 pens on the shelf and an order for 5 pens (2.00) and 2 inks (7.50)
    buyer = customer(database, balance=100_00)
    pen = product(database, sku="PEN-1", price=2_00, stock=3)
    ink = product(database, sku="INK-1", price=7_50, stock=9)
    placed = place(database, buyer, (pen, 5), (ink, 2))

    # When processed with adjust
    process(database, placed.id, Strategy.ADJUST)

    # Then 3 pens are sold, the line records 5 ordered, and the charge is 21.00
    stored = fetch(database, placed.id)
    assert lines_by_sku(stored) == {"PEN-1": (5, 3, 6_00), "INK-1": (2, 2, 15_00)}
    assert stored.total == 21_00
    assert stock_of(database, pen) == 0
    assert stock_of(database, ink) == 7
    assert balance_of(database, buyer) == 79_00


def test_ignore_drops_the_short_line(database: Database) -> None:
    # Given 3 pens on the shelf and an order for 5 pens (2.00) and 2 inks (7.50)
    buyer = customer(database, balance=100_00)
    pen = product(database, sku="PEN-1", price=2_00, stock=3)
    ink = product(database, sku="INK-1", price=7_50, stock=9)
    placed = place(database, buyer, (pen, 5), (ink, 2))

    # When processed with ignore
    process(database, placed.id, Strategy.IGNORE)

    # Then no pen is sold (the 3 stay on the shelf) and only the inks are charged
    stored = fetch(database, placed.id)
    assert lines_by_sku(stored) == {"PEN-1": (5, 0, 0), "INK-1": (2, 2, 15_00)}
    assert stored.total == 15_00
    assert stock_of(database, pen) == 3
    assert stock_of(database, ink) == 7
    assert balance_of(database, buyer) == 85_00


def test_reject_refuses_and_changes_nothing(database: Database) -> None:
    # Given 3 pens on the shelf and an order for 5 pens and 2 inks
    buyer = customer(database, balance=100_00)
    pen = product(database, sku="PEN-1", price=2_00, stock=3)
    ink = product(database, sku="INK-1", price=7_50, stock=9)
    placed = place(database, buyer, (pen, 5), (ink, 2))

    # When processed with reject
    with pytest.raises(ProcessingFailed) as exc:
        process(database, placed.id, Strategy.REJECT)

    # Then the short line is reported and the database is as it was
    assert exc.value.code == "insufficient_stock"
    pen_line = next(ln for ln in placed.lines if ln.product_id == pen)
    assert exc.value.detail == {
        "short_lines": [{"line_id": pen_line.id, "product_id": pen, "ordered": 5, "available": 3}]
    }
    assert fetch(database, placed.id) == placed
    assert stock_of(database, pen) == 3
    assert stock_of(database, ink) == 9
    assert balance_of(database, buyer) == 100_00


def test_reject_processes_an_order_that_fits(database: Database) -> None:
    buyer = customer(database, balance=100_00)
    pen = product(database, price=2_00, stock=3)
    placed = place(database, buyer, (pen, 3))

    process(database, placed.id, Strategy.REJECT)

    assert fetch(database, placed.id).status == "processed"
    assert stock_of(database, pen) == 0
    assert balance_of(database, buyer) == 94_00


@pytest.mark.parametrize("balance", [0, -1_00])
def test_a_customer_without_a_positive_balance_is_refused(database: Database, balance: int) -> None:
    # Given a customer whose balance is not positive
    buyer = customer(database, balance=balance)
    pen = product(database, price=2_00, stock=3)
    placed = place(database, buyer, (pen, 1))

    # When the order is processed
    with pytest.raises(TransitionRefused) as exc:
        process(database, placed.id)

    # Then it fails on balance, and nothing changes
    assert exc.value.code == "insufficient_balance"
    assert fetch(database, placed.id) == placed
    assert stock_of(database, pen) == 3
    assert balance_of(database, buyer) == balance


def test_insufficient_balance_is_reported_before_insufficient_stock(database: Database) -> None:
    buyer = customer(database, balance=0)
    pen = product(database, stock=0)
    placed = place(database, buyer, (pen, 1))

    with pytest.raises(TransitionRefused) as exc:
        process(database, placed.id, Strategy.REJECT)

    assert exc.value.code == "insufficient_balance"


def test_a_processed_order_is_not_processed_again(database: Database) -> None:
    # Given an order processed once
    buyer = customer(database, balance=100_00)
    pen = product(database, price=2_00, stock=10)
    placed = place(database, buyer, (pen, 2))
    first = process(database, placed.id, Strategy.ADJUST)

    # When it is processed again, with any strategy
    for strategy in Strategy:
        with pytest.raises(TransitionRefused) as exc:
            process(database, placed.id, strategy, now=PROCESSED_AT + timedelta(days=1))
        assert exc.value.code == "already_processed"
        assert placed.number in exc.value.message

    # Then it was charged and took stock once, and keeps its first processing
    assert stock_of(database, pen) == 8
    assert balance_of(database, buyer) == 96_00
    assert fetch(database, placed.id) == first


def test_already_processed_is_reported_before_insufficient_balance(database: Database) -> None:
    # A customer whose balance the processing drove to zero
    buyer = customer(database, balance=4_00)
    pen = product(database, price=2_00, stock=10)
    placed = place(database, buyer, (pen, 2))
    process(database, placed.id)
    assert balance_of(database, buyer) == 0

    with pytest.raises(TransitionRefused) as exc:
        process(database, placed.id)

    assert exc.value.code == "already_processed"


def test_a_charge_may_take_the_balance_below_zero(database: Database) -> None:
    # Given a balance of 1.00 and an order for 30.00
    buyer = customer(database, balance=1_00)
    pen = product(database, price=10_00, stock=5)
    placed = place(database, buyer, (pen, 3))

    # When processed
    process(database, placed.id)

    # Then the full total is charged
    assert balance_of(database, buyer) == -29_00
    assert fetch(database, placed.id).total == 30_00


def test_a_negative_balance_blocks_the_next_order(database: Database) -> None:
    buyer = customer(database, balance=1_00)
    pen = product(database, price=10_00, stock=5)
    first = place(database, buyer, (pen, 1))
    second = place(database, buyer, (pen, 1))
    process(database, first.id)

    with pytest.raises(TransitionRefused) as exc:
        process(database, second.id)

    assert exc.value.code == "insufficient_balance"
    assert balance_of(database, buyer) == -9_00
    assert stock_of(database, pen) == 4


def test_orders_for_the_same_product_are_served_until_the_stock_runs_out(
    database: Database,
) -> None:
    buyer = customer(database, balance=1000_00)
    pen = product(database, price=1_00, stock=5)
    first = place(database, buyer, (pen, 3))
    second = place(database, buyer, (pen, 3))
    third = place(database, buyer, (pen, 3))

    process(database, first.id)
    process(database, second.id)
    process(database, third.id)

    assert [fetch(database, o.id).lines[0].quantity for o in (first, second, third)] == [3, 2, 0]
    assert stock_of(database, pen) == 0
    assert balance_of(database, buyer) == 995_00


def test_an_order_whose_product_was_deleted_sells_nothing_of_it(database: Database) -> None:
    # Given an order for pens and inks, then the pen leaves the catalog
    buyer = customer(database, balance=100_00)
    pen = product(database, sku="PEN-1", price=2_00, stock=10)
    ink = product(database, sku="INK-1", price=7_50, stock=9)
    placed = place(database, buyer, (pen, 2), (ink, 1))
    with database.write() as session:
        catalog.delete_product(session, pen)

    # When processed with adjust
    process(database, placed.id, Strategy.ADJUST)

    # Then the pen line sells nothing, the inks are sold and charged
    stored = fetch(database, placed.id)
    assert lines_by_sku(stored) == {"PEN-1": (2, 0, 0), "INK-1": (1, 1, 7_50)}
    assert [ln.product_id for ln in stored.lines] == [None, ink]
    assert stored.total == 7_50
    assert stock_of(database, ink) == 8
    assert balance_of(database, buyer) == 92_50


def test_reject_refuses_an_order_whose_product_was_deleted(database: Database) -> None:
    buyer = customer(database, balance=100_00)
    pen = product(database, price=2_00, stock=10)
    placed = place(database, buyer, (pen, 2))
    with database.write() as session:
        catalog.delete_product(session, pen)

    with pytest.raises(ProcessingFailed) as exc:
        process(database, placed.id, Strategy.REJECT)

    assert exc.value.detail == {
        "short_lines": [
            {"line_id": placed.lines[0].id, "product_id": None, "ordered": 2, "available": 0}
        ]
    }
    assert fetch(database, placed.id).status == "pending"
    assert balance_of(database, buyer) == 100_00


def test_an_archived_product_is_still_sold_to_an_order_placed_before(database: Database) -> None:
    buyer = customer(database, balance=100_00)
    pen = product(database, price=2_00, stock=10)
    placed = place(database, buyer, (pen, 2))
    with database.write() as session:
        catalog.update_product(
            session, catalog.get_product(session, pen), catalog.ProductChanges(active=False)
        )

    process(database, placed.id)

    assert stock_of(database, pen) == 8
    assert fetch(database, placed.id).total == 4_00


def test_processing_an_unknown_order_is_not_found(database: Database) -> None:
    with pytest.raises(NotFound) as exc:
        process(database, 4242)

    assert exc.value.code == "order_not_found"


def test_a_failed_processing_rolls_back_the_whole_unit_of_work(database: Database) -> None:
    # Given two orders, the second of which can't be fully served
    buyer = customer(database, balance=100_00)
    pen = product(database, price=1_00, stock=4)
    first = place(database, buyer, (pen, 2))
    second = place(database, buyer, (pen, 3))

    # When both are processed in one unit of work and the second is rejected
    def process_both() -> None:
        with database.write() as session:
            process_order(session, first.id, Strategy.REJECT)
            process_order(session, second.id, Strategy.REJECT)

    with pytest.raises(ProcessingFailed):
        process_both()

    # Then the first processing is undone with it
    assert fetch(database, first.id).status == "pending"
    assert stock_of(database, pen) == 4
    assert balance_of(database, buyer) == 100_00


# ================================================================ deleting


def test_deleting_a_pending_order_removes_it_and_its_lines(database: Database) -> None:
    buyer = customer(database)
    pen = product(database)
    ink = product(database)
    doomed = place(database, buyer, (pen, 1), (ink, 2))
    kept = place(database, buyer, (pen, 1))
    assert line_rows(database, doomed.id) == 2

    with database.write() as session:
        delete_order(session, doomed.id)

    with pytest.raises(NotFound):
        fetch(database, doomed.id)
    assert line_rows(database, doomed.id) == 0
    assert fetch(database, kept.id) == kept


def test_a_processed_order_cannot_be_deleted(database: Database) -> None:
    buyer = customer(database)
    pen = product(database)
    placed = place(database, buyer, (pen, 1))
    processed = process(database, placed.id)

    with pytest.raises(Conflict) as exc, database.write() as session:
        delete_order(session, placed.id)

    assert exc.value.code == "order_not_deletable"
    assert exc.value.detail == {"status": "processed"}
    assert fetch(database, placed.id) == processed


def test_deleting_an_unknown_order_is_not_found(database: Database) -> None:
    with pytest.raises(NotFound) as exc, database.write() as session:
        delete_order(session, 777)

    assert exc.value.code == "order_not_found"


def test_deleting_a_pending_order_gives_back_no_stock_or_money(database: Database) -> None:
    buyer = customer(database, balance=10_00)
    pen = product(database, stock=5)
    placed = place(database, buyer, (pen, 2))

    with database.write() as session:
        delete_order(session, placed.id)

    assert stock_of(database, pen) == 5
    assert balance_of(database, buyer) == 10_00


# ================================================================ listing


def at(day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def listed(database: Database, limit: int = 100, **filters: Any) -> list[str]:
    with database.read() as session:
        page = list_orders(session, OrderFilters(**filters), limit=limit)
    return [view.number for view in page.items]


def walk(database: Database, limit: int, **filters: Any) -> list[list[str]]:
    """Every page of a listing, following the cursors to the end."""
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        with database.read() as session:
            page = list_orders(session, OrderFilters(**filters), limit=limit, cursor=cursor)
        pages.append([view.number for view in page.items])
        cursor = page.next_cursor
        if cursor is None:
            return pages
        assert len(pages) < 50, "the cursor never ends"


@pytest.fixture
def shop(database: Database) -> dict[str, int]:
    """Two customers with orders on 1, 2, 3 and 4 March; Ann's 2 March order is processed."""
    ann = customer(database, balance=100_00)
    bob = customer(database, balance=100_00)
    pen = product(database, price=1_00, stock=100)
    place(database, ann, (pen, 1), now=at(1))  # 2026-00001
    done = place(database, ann, (pen, 2), now=at(2))  # 2026-00002
    place(database, bob, (pen, 3), now=at(3))  # 2026-00003
    place(database, ann, (pen, 4), now=at(4))  # 2026-00004
    process(database, done.id)
    return {"ann": ann, "bob": bob}


def test_orders_are_listed_newest_first(database: Database, shop: dict[str, int]) -> None:
    assert listed(database) == ["2026-00004", "2026-00003", "2026-00002", "2026-00001"]


def test_listed_orders_carry_their_lines(database: Database, shop: dict[str, int]) -> None:
    with database.read() as session:
        page = list_orders(session, OrderFilters(), limit=10)

    assert [[ln.quantity_ordered for ln in view.lines] for view in page.items] == [
        [4],
        [3],
        [2],
        [1],
    ]


def test_orders_can_be_listed_by_status(database: Database, shop: dict[str, int]) -> None:
    assert listed(database, status="processed") == ["2026-00002"]
    assert listed(database, status="pending") == ["2026-00004", "2026-00003", "2026-00001"]


def test_orders_can_be_listed_by_customer(database: Database, shop: dict[str, int]) -> None:
    assert listed(database, customer_id=shop["ann"]) == ["2026-00004", "2026-00002", "2026-00001"]
    assert listed(database, customer_id=shop["bob"]) == ["2026-00003"]
    assert listed(database, customer_id=9999) == []


def test_orders_can_be_listed_by_whether_they_were_processed(
    database: Database, shop: dict[str, int]
) -> None:
    assert listed(database, processed=True) == ["2026-00002"]
    assert listed(database, processed=False) == ["2026-00004", "2026-00003", "2026-00001"]


def test_created_from_includes_its_instant(database: Database, shop: dict[str, int]) -> None:
    assert listed(database, created_from=at(2)) == ["2026-00004", "2026-00003", "2026-00002"]
    assert listed(database, created_from=at(2, 12, 1)) == ["2026-00004", "2026-00003"]


def test_created_to_excludes_its_instant(database: Database, shop: dict[str, int]) -> None:
    assert listed(database, created_to=at(3)) == ["2026-00002", "2026-00001"]
    assert listed(database, created_to=at(3, 12, 1)) == ["2026-00003", "2026-00002", "2026-00001"]


def test_a_created_range_takes_from_inclusive_to_exclusive(
    database: Database, shop: dict[str, int]
) -> None:
    assert listed(database, created_from=at(2), created_to=at(4)) == ["2026-00003", "2026-00002"]


def test_created_bounds_compare_instants_whatever_the_time_zone(
    database: Database, shop: dict[str, int]
) -> None:
    # 14:00 at UTC+2 is 12:00 UTC, the instant of the 2 March order.
    two_pm_at_plus_two = datetime(2026, 3, 2, 14, 0, tzinfo=timezone(timedelta(hours=2)))

    assert listed(database, created_from=two_pm_at_plus_two) == [
        "2026-00004",
        "2026-00003",
        "2026-00002",
    ]
    assert listed(database, created_to=two_pm_at_plus_two) == ["2026-00001"]


def test_filters_combine(database: Database, shop: dict[str, int]) -> None:
    assert listed(database, customer_id=shop["ann"], status="pending", created_from=at(2)) == [
        "2026-00004"
    ]


def test_pages_walk_every_order_once_newest_first(database: Database) -> None:
    # Given 11 orders, several created at the very same instant
    buyer = customer(database)
    pen = product(database)
    times = [at(1), at(2), at(2), at(2), at(3), at(3), at(5), at(5), at(5), at(5), at(6)]
    placed = [place(database, buyer, (pen, 1), now=when) for when in times]
    newest_first = [o.number for o in sorted(placed, key=lambda o: (o.created, o.id), reverse=True)]

    # When they are listed 3 at a time
    pages = walk(database, limit=3)

    # Then the pages hold every order exactly once, in order
    assert [len(page) for page in pages] == [3, 3, 3, 2]
    assert [number for page in pages for number in page] == newest_first


def test_pages_walk_orders_stamped_to_the_microsecond(database: Database) -> None:
    # Orders stamped with the clock, microseconds and all, page like any others.
    buyer = customer(database)
    pen = product(database)
    placed = [place(database, buyer, (pen, 1)) for _ in range(5)]
    assert len({o.created for o in placed}) > 1

    pages = walk(database, limit=2)

    newest_first = [o.number for o in sorted(placed, key=lambda o: (o.created, o.id), reverse=True)]
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [number for page in pages for number in page] == newest_first


def test_a_last_page_that_is_exactly_full_has_no_next_cursor(database: Database) -> None:
    buyer = customer(database)
    pen = product(database)
    for day in (1, 2, 3, 4):
        place(database, buyer, (pen, 1), now=at(day))

    pages = walk(database, limit=2)

    assert pages == [["2026-00004", "2026-00003"], ["2026-00002", "2026-00001"]]


def test_pages_keep_the_filters(database: Database) -> None:
    ann = customer(database)
    bob = customer(database)
    pen = product(database)
    for day in range(1, 8):
        place(database, ann if day % 2 else bob, (pen, 1), now=at(day))

    pages = walk(database, limit=2, customer_id=ann)

    assert pages == [["2026-00007", "2026-00005"], ["2026-00003", "2026-00001"]]


def test_an_empty_listing_is_one_empty_page(database: Database) -> None:
    assert walk(database, limit=5) == [[]]


def test_a_tampered_cursor_is_invalid_input(database: Database) -> None:
    with pytest.raises(InvalidInput) as exc, database.read() as session:
        list_orders(session, OrderFilters(), limit=5, cursor="not-a-cursor")

    assert exc.value.code == "invalid_cursor"
