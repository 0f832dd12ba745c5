"""The dashboard's SVG charts: axes that end on round numbers, shapes in proportion."""

from __future__ import annotations

import pytest

from ordermill.web.pages import charts
from ordermill.web.pages.charts import Item, Point


@pytest.mark.parametrize(
    ("largest", "top"),
    [(0, 4), (1, 4), (3, 4), (4, 4), (5, 8), (7, 8), (9, 20), (41, 80), (100, 100),
     (101, 200), (1250, 2000), (99_999, 100_000)],
)  # fmt: skip
def test_the_axis_ends_on_four_equal_whole_steps_that_reach_the_largest_value(
    largest: int, top: int
) -> None:
    assert charts.nice_top(largest) == top
    assert top % charts.GRID_STEPS == 0


def test_columns_are_in_proportion_and_an_empty_day_has_no_height() -> None:
    points = [Point(f"d{n}", f"{n}", f"day {n}: {v}", v) for n, v in enumerate([0, 2, 4, 1])]

    chart = charts.column_chart("c", "Caption", "Title", points, str)

    heights = [column.height for column in chart.columns]
    assert heights[0] == 0
    assert heights[2] == pytest.approx(2 * heights[1]) == pytest.approx(4 * heights[3])
    assert all(c.y + c.height == pytest.approx(chart.baseline) for c in chart.columns)
    assert [line.label for line in chart.gridlines] == ["0", "1", "2", "3", "4"]
    xs = [column.x for column in chart.columns]
    assert xs == sorted(xs)
    assert xs[0] >= chart.left
    assert xs[-1] <= chart.right


def test_a_long_period_labels_only_some_days_under_its_columns() -> None:
    points = [Point(f"d{n}", f"{n}", f"day {n}", n) for n in range(90)]

    chart = charts.column_chart("c", "Caption", "Title", points, str)

    ticks = [column.tick for column in chart.columns if column.tick]
    assert 1 < len(ticks) <= charts.MAX_TICKS
    assert ticks[0] == "0"


def test_bars_are_in_proportion_and_long_names_are_cut_short_in_the_chart_only() -> None:
    long_name = "Organic olive oil, extra virgin, cold pressed, 1 litre"
    items = [
        Item("1", long_name, 10, "10", f"1. {long_name}: 10 units"),
        Item("2", "Tea", 5, "5", "2. Tea: 5 units"),
    ]

    chart = charts.bar_chart("b", "Caption", "Title", items)

    first, second = chart.bars
    assert first.width == pytest.approx(2 * second.width)
    assert first.name.endswith("…")
    assert len(first.name) == charts.NAME_CHARS
    assert first.label == f"1. {long_name}: 10 units"
    assert second.y > first.y
