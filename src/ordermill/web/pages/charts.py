"""Charts drawn on the server as SVG: the geometry here, the markup in ``admin/_charts.html``.

No script and no inline style (the pages' CSP forbids both): shapes are placed with SVG
attributes and coloured by classes in the stylesheet. Every shape carries its figure
in words (``label``: the ``<title>`` a pointer shows and the ``aria-label``), and the
page prints the same figures in a table beside the chart. Text is escaped by the
template, like any other text on a page.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

WIDTH = 720
COLUMN_HEIGHT = 220
ROW_HEIGHT = 26
GRID_STEPS = 4
MAX_TICKS = 8  # day labels under a column chart
NAME_CHARS = 28  # a product name longer than this is cut short in the chart (not the table)


@dataclass(frozen=True, slots=True)
class Gridline:
    y: float
    label: str


@dataclass(frozen=True, slots=True)
class Column:
    key: str  # what the column stands for (a day: 2026-01-31), for links and tests
    x: float
    y: float
    width: float
    height: float
    label: str  # the figure in words
    tick: str | None  # the label under the column, on some columns only
    tick_x: float


@dataclass(frozen=True, slots=True)
class ColumnChart:
    id: str
    caption: str  # shown above the chart
    title: str  # the chart in words (its SVG title)
    width: int
    height: int
    left: float
    baseline: float
    right: float
    gridlines: list[Gridline]
    columns: list[Column]


@dataclass(frozen=True, slots=True)
class Bar:
    key: str
    y: float
    width: float
    height: float
    name: str  # shown before the bar (shortened)
    value: str  # shown after the bar
    label: str


@dataclass(frozen=True, slots=True)
class BarChart:
    id: str
    caption: str
    title: str
    width: int
    height: int
    left: float
    bar_height: float
    bars: list[Bar]


def nice_top(largest: int, steps: int = GRID_STEPS) -> int:
    """The axis' top: ``steps`` equal whole steps of 1, 2, 2.5 or 5 times a power of ten
    that reach ``largest`` (at least 1 per step)."""
    if largest <= 0:
        return steps
    raw = largest / steps
    power = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    for factor in (1, 2, 2.5, 5, 10):
        step = factor * power
        if step >= raw and step == int(step):
            return int(step) * steps
    return int(10 * power) * steps  # pragma: no cover - 10 times power always reaches raw


@dataclass(frozen=True, slots=True)
class Point:
    key: str
    tick: str  # short label under the axis
    label: str  # the figure in words
    value: int


def column_chart(
    chart_id: str,
    caption: str,
    title: str,
    points: Sequence[Point],
    axis_label: Callable[[int], str],
) -> ColumnChart:
    """Vertical columns, one per point, on a grid labelled with ``axis_label``."""
    left, right, top, bottom = 70.0, WIDTH - 8.0, 10.0, COLUMN_HEIGHT - 26.0
    plot = bottom - top
    peak = nice_top(max((p.value for p in points), default=0))
    band = (right - left) / max(len(points), 1)
    width = max(band * 0.72, 1.0)
    every = max(math.ceil(len(points) / MAX_TICKS), 1)
    columns = []
    for n, point in enumerate(points):
        height = plot * max(point.value, 0) / peak
        x = left + n * band + (band - width) / 2
        columns.append(
            Column(
                key=point.key,
                x=round(x, 2),
                y=round(bottom - height, 2),
                width=round(width, 2),
                height=round(height, 2),
                label=point.label,
                tick=point.tick if n % every == 0 else None,
                tick_x=round(left + n * band + band / 2, 2),
            )
        )
    gridlines = [
        Gridline(round(bottom - plot * step / GRID_STEPS, 2), axis_label(peak * step // GRID_STEPS))
        for step in range(GRID_STEPS + 1)
    ]
    return ColumnChart(
        chart_id, caption, title, WIDTH, COLUMN_HEIGHT, left, bottom, right, gridlines, columns
    )


@dataclass(frozen=True, slots=True)
class Item:
    key: str
    name: str
    value: int
    value_text: str
    label: str


def shorten(text: str, limit: int = NAME_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def bar_chart(chart_id: str, caption: str, title: str, items: Sequence[Item]) -> BarChart:
    """Horizontal bars, longest first as given, the name before each and its value after."""
    left, right, top = 230.0, WIDTH - 110.0, 6.0
    peak = max((item.value for item in items), default=0) or 1
    bar_height = ROW_HEIGHT * 0.7
    bars = [
        Bar(
            key=item.key,
            y=round(top + n * ROW_HEIGHT + (ROW_HEIGHT - bar_height) / 2, 2),
            width=round(max((right - left) * item.value / peak, 1.0), 2),
            height=round(bar_height, 2),
            name=shorten(item.name),
            value=item.value_text,
            label=item.label,
        )
        for n, item in enumerate(items)
    ]
    height = int(top * 2 + ROW_HEIGHT * max(len(items), 1))
    return BarChart(chart_id, caption, title, WIDTH, height, left, bar_height, bars)
