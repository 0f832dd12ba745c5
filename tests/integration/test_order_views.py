"""The order read model: an order found by what a person types, its id or its number."""

from __future__ import annotations

import pytest

from ordermill.db import Database
from ordermill.errors import InvalidInput, NotFound
from ordermill.services import order_views
from tests import factories


@pytest.fixture
def placed(database: Database) -> tuple[int, str]:
    """One order: (id, number)."""
    buyer = factories.customer(database)
    pen = factories.product(database, stock=5)
    order_id = factories.order(database, buyer, (pen, 2))
    with database.read() as session:
        return order_id, order_views.get_order(session, order_id).number


@pytest.mark.parametrize("form", ["id", "number", "padded id"])
def test_an_order_is_resolved_by_its_id_or_its_number(
    database: Database, placed: tuple[int, str], form: str
) -> None:
    order_id, number = placed
    ref = {"id": str(order_id), "number": number, "padded id": f" {order_id} "}[form]

    with database.read() as session:
        view = order_views.resolve_order(session, ref)
        resolved_id = order_views.resolve_order_id(session, ref)

    assert (view.id, view.number, resolved_id) == (order_id, number, order_id)
    assert [line.quantity for line in view.lines] == [2]


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("99999", "Order 99999 does not exist."),
        ("2026-99999", "Order 2026-99999 does not exist."),
        ("99999999999999999999", "Order 99999999999999999999 does not exist."),
        ("0", "Order 0 does not exist."),
    ],
)
def test_an_unknown_order_is_not_found_in_the_same_words_by_id_or_number(
    database: Database, placed: tuple[int, str], ref: str, message: str
) -> None:
    for resolve in (order_views.resolve_order, order_views.resolve_order_id):
        with database.read() as session, pytest.raises(NotFound) as exc:
            resolve(session, ref)

        assert (exc.value.code, exc.value.message) == ("order_not_found", message)


NEITHER = ["", "abc", "12a", "2026-", "2026-1", "-5", "2026/00001", "\uff11\uff12"]  # fullwidth


@pytest.mark.parametrize("ref", NEITHER)
def test_a_reference_that_is_neither_an_id_nor_a_number_is_invalid_input(
    database: Database, ref: str
) -> None:
    for resolve in (order_views.resolve_order, order_views.resolve_order_id):
        with database.read() as session, pytest.raises(InvalidInput) as exc:
            resolve(session, ref)

        assert exc.value.code == "validation_error"
        assert exc.value.message == (
            f"'{ref}' is neither an order id (digits, like 42) nor an order number "
            "(like 2026-00042)"
        )
