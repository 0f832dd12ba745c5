"""Order rules in plain Python: strategies, stock shortages, totals, order numbers.

Whether an order may be processed at all (not processed yet, a positive balance) is the
workflow's job: see tests/unit/test_workflow_rules.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from ordermill.domain.orders import (
    DEFAULT_STRATEGY,
    LineToProcess,
    ProcessingFailed,
    ProcessingPlan,
    SettledLine,
    Shortage,
    Strategy,
    find_shortages,
    format_order_number,
    parse_order_number,
    parse_strategy,
    plan_processing,
)
from ordermill.errors import Conflict, InvalidInput

PEN = 101
INK = 202
PAD = 303


def line(
    line_id: int, product_id: int | None, quantity_ordered: int, unit_price: int = 10_00
) -> LineToProcess:
    return LineToProcess(line_id, product_id, quantity_ordered, unit_price)


def plan(
    lines: Sequence[LineToProcess],
    stock: Mapping[int, int],
    strategy: Strategy = DEFAULT_STRATEGY,
) -> ProcessingPlan:
    return plan_processing(lines=lines, stock=stock, strategy=strategy)


def quantities(result: ProcessingPlan) -> dict[int, int]:
    return {settled.line_id: settled.quantity for settled in result.lines}


# ---------------------------------------------------------------- enough stock


def test_an_order_with_enough_stock_is_sold_as_ordered() -> None:
    result = plan([line(1, PEN, 2, 1_50), line(2, INK, 3, 4_00)], {PEN: 10, INK: 3})

    assert quantities(result) == {1: 2, 2: 3}
    assert [settled.line_total for settled in result.lines] == [3_00, 12_00]
    assert result.total == 15_00
    assert result.stock_taken == {PEN: 2, INK: 3}
    assert not any(settled.adjusted for settled in result.lines)


@pytest.mark.parametrize("strategy", list(Strategy))
def test_every_strategy_sells_everything_when_stock_suffices(strategy: Strategy) -> None:
    result = plan([line(1, PEN, 4, 2_50)], {PEN: 4}, strategy)

    assert quantities(result) == {1: 4}
    assert result.total == 10_00
    assert result.stock_taken == {PEN: 4}


def test_the_default_strategy_is_adjust() -> None:
    assert DEFAULT_STRATEGY is Strategy.ADJUST
    result = plan([line(1, PEN, 5)], {PEN: 2})
    assert quantities(result) == {1: 2}


# ---------------------------------------------------------------- adjust


def test_adjust_sells_what_is_in_stock() -> None:
    # Given 5 pens ordered and 3 on the shelf, 2 inks ordered and 9 on the shelf
    lines = [line(1, PEN, 5, 2_00), line(2, INK, 2, 7_50)]

    # When processed with adjust
    result = plan(lines, {PEN: 3, INK: 9}, Strategy.ADJUST)

    # Then the short line sells the 3 there are and the other line is untouched
    pen, ink = result.lines
    assert (pen.quantity_ordered, pen.quantity, pen.line_total, pen.adjusted) == (5, 3, 6_00, True)
    assert (ink.quantity_ordered, ink.quantity, ink.line_total, ink.adjusted) == (
        2,
        2,
        15_00,
        False,
    )
    assert result.total == 21_00
    assert result.stock_taken == {PEN: 3, INK: 2}


def test_adjust_sets_a_line_to_zero_when_nothing_is_in_stock() -> None:
    result = plan([line(1, PEN, 5, 2_00), line(2, INK, 1, 3_00)], {PEN: 0, INK: 1}, Strategy.ADJUST)

    assert quantities(result) == {1: 0, 2: 1}
    assert result.total == 3_00
    assert result.stock_taken == {INK: 1}


# ---------------------------------------------------------------- ignore


def test_ignore_drops_a_short_line_entirely() -> None:
    # Given 5 pens ordered and 3 on the shelf
    lines = [line(1, PEN, 5, 2_00), line(2, INK, 2, 7_50)]

    # When processed with ignore
    result = plan(lines, {PEN: 3, INK: 9}, Strategy.IGNORE)

    # Then the pen line sells nothing (not even the 3 there are); ink is sold
    pen, ink = result.lines
    assert (pen.quantity_ordered, pen.quantity, pen.line_total, pen.adjusted) == (5, 0, 0, True)
    assert (ink.quantity, ink.line_total, ink.adjusted) == (2, 15_00, False)
    assert result.total == 15_00
    assert result.stock_taken == {INK: 2}


def test_ignore_leaves_the_stock_of_a_dropped_line_for_later_lines() -> None:
    # The first pen line (5) is dropped, so the second (3) can have the 3 pens.
    result = plan([line(1, PEN, 5), line(2, PEN, 3)], {PEN: 3}, Strategy.IGNORE)

    assert quantities(result) == {1: 0, 2: 3}
    assert result.stock_taken == {PEN: 3}


# ---------------------------------------------------------------- reject


def test_reject_refuses_the_order_listing_each_short_line() -> None:
    # Given two short lines and one that fits
    lines = [line(1, PEN, 5), line(2, INK, 1), line(3, PAD, 4)]

    # When processed with reject
    with pytest.raises(ProcessingFailed) as exc:
        plan(lines, {PEN: 3, INK: 1, PAD: 0}, Strategy.REJECT)

    # Then nothing is planned, and the reason names product, ordered and available
    assert exc.value.code == "insufficient_stock"
    assert exc.value.detail == {
        "short_lines": [
            {"line_id": 1, "product_id": PEN, "ordered": 5, "available": 3},
            {"line_id": 3, "product_id": PAD, "ordered": 4, "available": 0},
        ]
    }
    assert f"product {PEN} (5 ordered, 3 available)" in exc.value.message
    assert f"product {PAD} (4 ordered, 0 available)" in exc.value.message


def test_processing_failed_is_a_conflict() -> None:
    with pytest.raises(Conflict):
        plan([line(1, PEN, 2)], {PEN: 1}, Strategy.REJECT)


def test_reject_processes_an_order_whose_stock_suffices() -> None:
    result = plan([line(1, PEN, 3, 2_00)], {PEN: 3}, Strategy.REJECT)

    assert quantities(result) == {1: 3}
    assert result.total == 6_00


# ---------------------------------------------------------------- processing and the balance


def test_planning_ignores_the_balance_a_large_total_is_planned_in_full() -> None:
    # The balance rule ("> 0", not ">= total") is a workflow guard that runs before the plan
    # (tests/unit/test_workflow_rules.py); the plan settles the whole order against stock.
    result = plan([line(1, PEN, 3, 50_00)], {PEN: 5})

    assert result.total == 150_00


# ---------------------------------------------------------------- lines sharing a product


def test_two_lines_of_one_product_share_its_stock_first_line_first() -> None:
    # Given 5 pens on the shelf and two pen lines asking 3 and 4
    lines = [line(1, PEN, 3), line(2, PEN, 4)]

    # When adjusted
    result = plan(lines, {PEN: 5}, Strategy.ADJUST)

    # Then the first gets its 3 and the second the 2 left; 5 pens are taken, not 7
    assert quantities(result) == {1: 3, 2: 2}
    assert result.stock_taken == {PEN: 5}


def test_lines_are_served_in_line_order_whatever_order_they_arrive_in() -> None:
    result = plan([line(2, PEN, 4), line(1, PEN, 3)], {PEN: 5}, Strategy.ADJUST)

    assert quantities(result) == {1: 3, 2: 2}
    assert [settled.line_id for settled in result.lines] == [1, 2]


def test_reject_counts_stock_already_given_to_an_earlier_line_of_the_same_product() -> None:
    # Each line alone fits in 5, together they don't.
    with pytest.raises(ProcessingFailed) as exc:
        plan([line(1, PEN, 3), line(2, PEN, 4)], {PEN: 5}, Strategy.REJECT)

    assert exc.value.detail["short_lines"] == [
        {"line_id": 2, "product_id": PEN, "ordered": 4, "available": 2}
    ]


# ---------------------------------------------------------------- deleted products


def test_a_line_whose_product_was_deleted_has_nothing_available() -> None:
    # Given a line whose product left the catalog (product_id None)
    lines = [line(1, None, 2, 5_00), line(2, INK, 1, 3_00)]

    # When adjusted, it sells nothing and takes no stock; the other line is sold
    result = plan(lines, {INK: 4}, Strategy.ADJUST)

    assert quantities(result) == {1: 0, 2: 1}
    assert result.total == 3_00
    assert result.stock_taken == {INK: 1}
    assert result.lines[0].adjusted


def test_reject_reports_a_line_whose_product_was_deleted() -> None:
    with pytest.raises(ProcessingFailed) as exc:
        plan([line(1, None, 2)], {}, Strategy.REJECT)

    assert exc.value.detail["short_lines"] == [
        {"line_id": 1, "product_id": None, "ordered": 2, "available": 0}
    ]


def test_a_product_missing_from_the_stock_map_has_nothing_available() -> None:
    result = plan([line(1, PEN, 2)], {}, Strategy.ADJUST)

    assert quantities(result) == {1: 0}
    assert result.stock_taken == {}


# ---------------------------------------------------------------- totals and plan


def test_the_total_is_the_sum_of_quantity_times_unit_price() -> None:
    result = plan(
        [line(1, PEN, 3, 1_99), line(2, INK, 7, 5), line(3, PAD, 1, 1234_56)],
        {PEN: 3, INK: 7, PAD: 1},
    )

    assert [settled.line_total for settled in result.lines] == [5_97, 35, 1234_56]
    assert result.total == 5_97 + 35 + 1234_56 == 1240_88


def test_a_free_product_adds_nothing_to_the_total() -> None:
    result = plan([line(1, PEN, 2, 0), line(2, INK, 1, 4_00)], {PEN: 5, INK: 5})

    assert result.total == 4_00
    assert result.stock_taken == {PEN: 2, INK: 1}


def test_an_order_that_sells_nothing_totals_zero() -> None:
    result = plan([line(1, PEN, 2), line(2, INK, 1)], {PEN: 0, INK: 0}, Strategy.IGNORE)

    assert result.total == 0
    assert result.stock_taken == {}


def test_an_order_without_lines_totals_zero() -> None:
    result = plan([], {})

    assert result.lines == ()
    assert result.total == 0
    assert result.stock_taken == {}


def test_stock_taken_sums_lines_of_the_same_product() -> None:
    result = plan([line(1, PEN, 2), line(2, INK, 1), line(3, PEN, 4)], {PEN: 10, INK: 10})

    assert result.stock_taken == {PEN: 6, INK: 1}


def test_settled_line_is_adjusted_only_when_its_quantity_changed() -> None:
    assert SettledLine(1, PEN, 5, 3, 1_00).adjusted
    assert SettledLine(1, PEN, 5, 0, 1_00).adjusted
    assert not SettledLine(1, PEN, 5, 5, 1_00).adjusted
    assert SettledLine(1, PEN, 5, 3, 2_50).line_total == 7_50


def test_the_plan_does_not_change_the_stock_it_was_given() -> None:
    stock = {PEN: 5}
    plan([line(1, PEN, 3)], stock)
    assert stock == {PEN: 5}


# ---------------------------------------------------------------- parse_strategy


@pytest.mark.parametrize(
    ("value", "strategy"),
    [
        ("adjust", Strategy.ADJUST),
        ("reject", Strategy.REJECT),
        ("ignore", Strategy.IGNORE),
        (Strategy.IGNORE, Strategy.IGNORE),
    ],
)
def test_parse_strategy_accepts_the_three_names(value: object, strategy: Strategy) -> None:
    assert parse_strategy(value) is strategy


@pytest.mark.parametrize("value", ["", "ADJUST", "Reject", "drop", "whatever", None, 1, True, []])
def test_parse_strategy_refuses_anything_else(value: object) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_strategy(value)
    assert exc.value.code == "validation_error"
    assert exc.value.detail == {"field": "strategy"}
    assert "adjust, reject, ignore" in exc.value.message


# ---------------------------------------------------------------- find_shortages


def test_find_shortages_lists_products_wanted_beyond_their_stock_by_product_id() -> None:
    shortages = find_shortages({INK: 3, PEN: 5, PAD: 1}, {PEN: 2, INK: 3, PAD: 0})

    assert shortages == [
        Shortage(line_id=0, product_id=PEN, ordered=5, available=2),
        Shortage(line_id=0, product_id=PAD, ordered=1, available=0),
    ]


def test_find_shortages_treats_an_unknown_product_as_out_of_stock() -> None:
    assert find_shortages({PEN: 1}, {}) == [Shortage(0, PEN, 1, 0)]


def test_find_shortages_finds_nothing_when_stock_suffices_exactly() -> None:
    assert find_shortages({PEN: 5, INK: 1}, {PEN: 5, INK: 1}) == []


# ---------------------------------------------------------------- order numbers


@pytest.mark.parametrize(
    ("year", "sequence", "text"),
    [
        (2026, 1, "2026-00001"),
        (2026, 42, "2026-00042"),
        (2025, 99999, "2025-99999"),
        (2026, 100000, "2026-100000"),
        (2026, 1234567, "2026-1234567"),
    ],
)
def test_order_numbers_are_the_year_and_a_five_digit_sequence(
    year: int, sequence: int, text: str
) -> None:
    assert format_order_number(year, sequence) == text


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("2026-00001", (2026, 1)),
        ("2025-99999", (2025, 99999)),
        ("2026-100000", (2026, 100000)),
        ("  2026-00042  ", (2026, 42)),
    ],
)
def test_parse_order_number_reads_year_and_sequence(text: str, parsed: tuple[int, int]) -> None:
    assert parse_order_number(text) == parsed


@pytest.mark.parametrize(
    ("year", "sequence"), [(2026, 1), (2026, 99999), (2026, 100000), (1999, 7)]
)
def test_order_numbers_round_trip(year: int, sequence: int) -> None:
    assert parse_order_number(format_order_number(year, sequence)) == (year, sequence)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2026",
        "2026-",
        "2026-1",
        "2026-0001",
        "26-00001",
        "20260-00001",
        "2026_00001",
        "2026/00001",
        "202600001",
        "abcd-00001",
        "2026-0000a",
        "2026-00001-1",
        "-2026-00001",
        "2026 - 00001",
        "2026--00001",
    ],
)
def test_parse_order_number_refuses_anything_else(text: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_order_number(text)
    assert exc.value.detail == {"field": "number"}
    assert "2026-00001" in exc.value.message
