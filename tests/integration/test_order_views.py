"""The order read model: an order found by what a person types, its id or its number."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ordermill.db import Database
from ordermill.errors import InvalidInput, NotFound
from ordermill.services import order_views
from ordermill.services import orders as order_service
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


# ---------------------------------------------------------------- a customer's own orders


def _place(
    database: Database, buyer: int, *, address: str | None = None, at: datetime | None = None
) -> str:
    """An order for ``buyer`` shipped to ``address``, placed at ``at``: its number."""
    pen = factories.product(database, stock=5)
    with database.write() as session:
        view = order_service.place_order(
            session,
            customer_id=buyer,
            items=[order_service.ItemRequest(pen, 1)],
            currency="USD",
            shipping_address=address,
            now=at,
        )
        return view.number


def test_a_customer_finds_their_own_order_by_its_number_with_its_lines(
    database: Database, placed: tuple[int, str]
) -> None:
    order_id, number = placed
    with database.read() as session:
        owner = order_views.get_order(session, order_id).customer_id
        view = order_views.get_customer_order(session, number, owner)

    assert (view.id, view.number) == (order_id, number)
    assert [line.quantity_ordered for line in view.lines] == [2]


def test_another_customers_order_is_not_found_in_the_words_of_a_number_no_order_has(
    database: Database, placed: tuple[int, str]
) -> None:
    _, number = placed
    stranger = factories.customer(database)
    unknown = "2000-99999"

    with database.read() as session:
        with pytest.raises(NotFound) as theirs:
            order_views.get_customer_order(session, number, stranger)
        with pytest.raises(NotFound) as nobodys:
            order_views.get_customer_order(session, unknown, stranger)

    assert theirs.value.code == nobodys.value.code == "order_not_found"
    assert theirs.value.message == f"Order {number} does not exist."
    assert nobodys.value.message == f"Order {unknown} does not exist."


@pytest.mark.parametrize("number", ["42", "abc", "2026-1", ""])
def test_what_is_not_an_order_number_is_not_found_either(
    database: Database, placed: tuple[int, str], number: str
) -> None:
    order_id, _ = placed
    with database.read() as session:
        owner = order_views.get_order(session, order_id).customer_id
        with pytest.raises(NotFound) as exc:
            order_views.get_customer_order(session, number, owner)

    assert exc.value.code == "order_not_found"


def test_checkout_offers_the_address_of_the_most_recent_order_that_gave_one(
    database: Database,
) -> None:
    buyer, other = factories.customer(database), factories.customer(database)
    start = datetime(2026, 3, 1, 12, tzinfo=UTC)
    _place(database, buyer, address="1 Old Road\nTown", at=start)
    _place(database, buyer, address="2 New Street\nCity", at=start + timedelta(days=1))
    _place(database, buyer, address=None, at=start + timedelta(days=2))
    _place(database, other, address="9 Elsewhere", at=start + timedelta(days=3))

    with database.read() as session:
        offered = order_views.last_shipping_address(session, buyer)

    assert offered == "2 New Street\nCity"


def test_a_customer_without_orders_is_offered_no_address(database: Database) -> None:
    buyer = factories.customer(database)

    with database.read() as session:
        assert order_views.last_shipping_address(session, buyer) is None
