"""Customers and products on a real database."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ordermill.db import Database
from ordermill.errors import Conflict, NotFound
from ordermill.services import carts, catalog
from ordermill.services.catalog import CustomerChanges, ProductChanges
from ordermill.services.order_views import OrderView, get_order
from ordermill.services.processing import process_order
from ordermill.services.tables import carts as carts_table
from tests.factories import customer, order, product


def fetch_order(database: Database, order_id: int) -> OrderView:
    with database.read() as session:
        return get_order(session, order_id)


def change_customer(database: Database, customer_id: int, changes: CustomerChanges) -> None:
    with database.write() as session:
        catalog.update_customer(session, catalog.get_customer(session, customer_id), changes)


def change_product(database: Database, product_id: int, changes: ProductChanges) -> None:
    with database.write() as session:
        catalog.update_product(session, catalog.get_product(session, product_id), changes)


def customer_row(database: Database, customer_id: int) -> tuple[str, str, int]:
    with database.read() as session:
        found = catalog.get_customer(session, customer_id)
        return found.name, found.email, found.balance


def product_row(database: Database, product_id: int) -> tuple[str, str, int, int, bool]:
    with database.read() as session:
        found = catalog.get_product(session, product_id)
        return found.name, found.sku, found.price, found.stock, found.active


# ================================================================ customers


def test_a_new_customer_is_stored_with_a_normalized_email(database: Database) -> None:
    with database.write() as session:
        created = catalog.create_customer(
            session, name="  Ann Smith ", email="  Ann.Smith@Example.COM ", balance=25_50
        )
        customer_id = created.id

    assert customer_row(database, customer_id) == ("Ann Smith", "ann.smith@example.com", 25_50)
    with database.read() as session:
        found = catalog.get_customer(session, customer_id)
        assert found.created.tzinfo is not None


def test_a_new_customer_starts_with_a_zero_balance_by_default(database: Database) -> None:
    with database.write() as session:
        customer_id = catalog.create_customer(session, name="Ann", email="ann@example.com").id

    assert customer_row(database, customer_id)[2] == 0


@pytest.mark.parametrize("email", ["ann@example.com", "ANN@EXAMPLE.COM", " Ann@Example.com "])
def test_an_email_belongs_to_one_customer_whatever_its_case(database: Database, email: str) -> None:
    # Given Ann registered as ann@example.com
    customer(database, email="Ann@example.com")

    # When someone registers the same address, in any case
    with pytest.raises(Conflict) as exc, database.write() as session:
        catalog.create_customer(session, name="Other Ann", email=email)

    # Then it is refused and there is still one customer
    assert exc.value.code == "email_taken"
    with database.read() as session:
        emails = [c.email for c in catalog.list_customers(session, limit=10).items]
    assert emails == ["ann@example.com"]


def test_a_customer_can_be_found_by_email_in_any_case(database: Database) -> None:
    ann = customer(database, email="ann@example.com")
    customer(database, email="bob@example.com")

    with database.read() as session:
        page = catalog.list_customers(session, limit=10, email="ANN@Example.com")
        found = [c.id for c in page.items]

    assert found == [ann]


def test_a_customer_cannot_take_another_customers_email(database: Database) -> None:
    customer(database, email="ann@example.com")
    bob = customer(database, email="bob@example.com")

    with pytest.raises(Conflict) as exc:
        change_customer(database, bob, CustomerChanges(email="ANN@example.com"))

    assert exc.value.code == "email_taken"
    assert customer_row(database, bob)[1] == "bob@example.com"


def test_a_customer_can_change_name_and_email(database: Database) -> None:
    ann = customer(database, name="Ann", email="ann@example.com", balance=5_00)

    change_customer(database, ann, CustomerChanges(name=" Ann Lee ", email="Ann.Lee@Example.com"))

    assert customer_row(database, ann) == ("Ann Lee", "ann.lee@example.com", 5_00)


def test_a_customer_can_keep_their_own_email_in_another_case(database: Database) -> None:
    ann = customer(database, email="ann@example.com")

    change_customer(database, ann, CustomerChanges(email="ANN@example.com"))

    assert customer_row(database, ann)[1] == "ann@example.com"


def test_a_customer_without_orders_can_be_deleted_with_their_cart(database: Database) -> None:
    # Given a customer with a cart but no orders (and no balance history in the ledger)
    ann = customer(database, balance=0)
    pen = product(database)
    with database.write() as session:
        carts.set_cart_item(session, ann, pen, 2)

    # When deleted
    with database.write() as session:
        catalog.delete_customer(session, ann)

    # Then they and their cart are gone
    with pytest.raises(NotFound) as exc, database.read() as session:
        catalog.get_customer(session, ann)
    assert exc.value.code == "customer_not_found"
    with database.read() as session:
        remaining = session.execute(select(func.count()).select_from(carts_table)).scalar_one()
    assert remaining == 0


def test_a_customer_with_orders_cannot_be_deleted(database: Database) -> None:
    # Given a customer with two orders
    ann = customer(database, name="Ann", email="ann@example.com", balance=7_00)
    pen = product(database)
    first = order(database, ann, (pen, 1))
    order(database, ann, (pen, 2))

    # When deletion is attempted
    with pytest.raises(Conflict) as exc, database.write() as session:
        catalog.delete_customer(session, ann)

    # Then it is refused and the customer and orders stay
    assert exc.value.code == "customer_has_orders"
    assert exc.value.detail == {"orders": 2}
    assert customer_row(database, ann) == ("Ann", "ann@example.com", 7_00)
    assert fetch_order(database, first).customer_id == ann


def test_a_customer_with_only_processed_orders_cannot_be_deleted(database: Database) -> None:
    ann = customer(database)
    pen = product(database)
    placed = order(database, ann, (pen, 1))
    with database.write() as session:
        process_order(session, placed)

    with pytest.raises(Conflict) as exc, database.write() as session:
        catalog.delete_customer(session, ann)

    assert exc.value.code == "customer_has_orders"


def test_deleting_an_unknown_customer_is_not_found(database: Database) -> None:
    with pytest.raises(NotFound) as exc, database.write() as session:
        catalog.delete_customer(session, 31337)

    assert exc.value.code == "customer_not_found"


def test_customers_are_listed_page_by_page(database: Database) -> None:
    ids = [customer(database) for _ in range(5)]

    seen: list[int] = []
    cursor: str | None = None
    for _ in range(5):
        with database.read() as session:
            page = catalog.list_customers(session, limit=2, cursor=cursor)
            seen.extend(c.id for c in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break

    assert seen == ids
    assert cursor is None


# ================================================================ products


def test_a_new_product_is_stored_as_given(database: Database) -> None:
    with database.write() as session:
        created = catalog.create_product(
            session, name=" Blue Pen ", sku=" PEN-1 ", price=2_50, stock=12
        )
        product_id = created.id

    assert product_row(database, product_id) == ("Blue Pen", "PEN-1", 2_50, 12, True)


def test_a_sku_belongs_to_one_product(database: Database) -> None:
    product(database, sku="PEN-1")

    with pytest.raises(Conflict) as exc, database.write() as session:
        catalog.create_product(session, name="Another pen", sku=" PEN-1", price=1_00)

    assert exc.value.code == "sku_taken"
    with database.read() as session:
        assert len(catalog.list_products(session, limit=10).items) == 1


def test_a_product_cannot_take_another_products_sku(database: Database) -> None:
    product(database, sku="PEN-1")
    ink = product(database, sku="INK-1")

    with pytest.raises(Conflict) as exc:
        change_product(database, ink, ProductChanges(sku="PEN-1"))

    assert exc.value.code == "sku_taken"
    assert product_row(database, ink)[1] == "INK-1"


def test_a_product_can_be_updated(database: Database) -> None:
    pen = product(database, name="Blue Pen", sku="PEN-1", price=2_50, stock=12)

    change_product(
        database,
        pen,
        ProductChanges(name="Red Pen", sku="PEN-2", price=3_10, stock=40, active=False),
    )

    assert product_row(database, pen) == ("Red Pen", "PEN-2", 3_10, 40, False)


def test_a_partial_update_changes_only_what_it_names(database: Database) -> None:
    pen = product(database, name="Blue Pen", sku="PEN-1", price=2_50, stock=12)

    change_product(database, pen, ProductChanges(price=2_75))

    assert product_row(database, pen) == ("Blue Pen", "PEN-1", 2_75, 12, True)


def test_a_product_can_keep_its_own_sku(database: Database) -> None:
    pen = product(database, sku="PEN-1", price=2_50)

    change_product(database, pen, ProductChanges(sku="PEN-1", price=2_60))

    assert product_row(database, pen)[1:3] == ("PEN-1", 2_60)


def test_products_can_be_listed_by_whether_they_are_sold(database: Database) -> None:
    pen = product(database)
    old = product(database, active=False)
    ink = product(database)

    with database.read() as session:
        active = [p.id for p in catalog.list_products(session, limit=10, active=True).items]
        archived = [p.id for p in catalog.list_products(session, limit=10, active=False).items]

    assert active == [pen, ink]
    assert archived == [old]


def test_deleting_a_product_keeps_the_orders_that_bought_it(database: Database) -> None:
    # Given a pending and a processed order for a pen
    buyer = customer(database, balance=100_00)
    pen = product(database, name="Blue Pen", sku="PEN-1", price=2_50, stock=10)
    pending = order(database, buyer, (pen, 2))
    processed = order(database, buyer, (pen, 3))
    with database.write() as session:
        process_order(session, processed)
    before = {oid: fetch_order(database, oid) for oid in (pending, processed)}

    # When the product is deleted
    with database.write() as session:
        catalog.delete_product(session, pen)

    # Then it is gone from the catalog, and each order is unchanged but for the link
    with pytest.raises(NotFound) as exc, database.read() as session:
        catalog.get_product(session, pen)
    assert exc.value.code == "product_not_found"
    for oid, was in before.items():
        now = fetch_order(database, oid)
        (line,) = now.lines
        assert line.product_id is None
        line.product_id = pen
        assert now == was


def test_deleting_an_unknown_product_is_not_found(database: Database) -> None:
    with pytest.raises(NotFound) as exc, database.write() as session:
        catalog.delete_product(session, 31337)

    assert exc.value.code == "product_not_found"
