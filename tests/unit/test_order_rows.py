"""Orders and lines are read from rows by position: each field comes from its own column."""

from __future__ import annotations

from dataclasses import fields

from ordermill.services.order_views import (
    LineView,
    OrderView,
    line_columns,
    line_view,
    order_columns,
    order_view,
)

# The view's field where its name differs from the column's.
RENAMED = {"product_name": "name"}


def test_each_order_field_comes_from_the_column_of_its_name() -> None:
    names = [column.name for column in order_columns()]

    view = order_view((*names, "a column after the order's"))

    read = {f.name: getattr(view, f.name) for f in fields(OrderView) if f.name != "lines"}
    assert read == {name: name for name in names}


def test_each_line_field_comes_from_the_column_of_its_name() -> None:
    names = [column.name for column in line_columns()]

    view = line_view(tuple(names))

    read = {f.name: getattr(view, f.name) for f in fields(LineView)}
    assert read == {RENAMED.get(name, name): name for name in names if name != "order_id"}
