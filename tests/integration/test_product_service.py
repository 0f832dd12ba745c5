"""Products on a real database: their description, and the ones on sale to customers."""

from __future__ import annotations

import pytest

from ordermill.db import Database
from ordermill.errors import InvalidInput, NotFound
from ordermill.services import audit
from ordermill.services import products as product_service
from ordermill.services.products import ProductChanges
from tests.factories import product


def description_of(database: Database, product_id: int) -> str | None:
    with database.read() as session:
        return product_service.get_product(session, product_id).description


def change(database: Database, product_id: int, changes: ProductChanges) -> None:
    with database.write() as session:
        found = product_service.get_product(session, product_id, for_update=True)
        product_service.update_product(session, found, changes)


def on_sale(database: Database, *, search: str | None = None, limit: int = 10) -> list[int]:
    with database.read() as session:
        page = product_service.list_products(session, limit=limit, active=True, search=search)
        return [p.id for p in page.items]


# ================================================================ descriptions


def test_a_description_is_stored_with_its_line_breaks_and_without_blank_edges(
    database: Database,
) -> None:
    mug = product(database, description="  Stoneware.\r\nDishwasher safe.\r\n\r\n350 ml \n")

    assert description_of(database, mug) == "Stoneware.\nDishwasher safe.\n\n350 ml"


def test_a_product_without_a_description_has_none(database: Database) -> None:
    assert description_of(database, product(database)) is None
    assert description_of(database, product(database, description=" \n ")) is None


def test_a_description_can_be_changed_and_cleared_and_is_kept_when_not_named(
    database: Database,
) -> None:
    mug = product(database, description="Old words")

    change(database, mug, ProductChanges(price=12_00))
    kept = description_of(database, mug)
    change(database, mug, ProductChanges(description="New words"))
    changed = description_of(database, mug)
    change(database, mug, ProductChanges(clear_description=True, description="ignored"))
    cleared = description_of(database, mug)

    assert (kept, changed, cleared) == ("Old words", "New words", None)


def test_changing_the_description_is_in_the_audit_log(database: Database) -> None:
    mug = product(database)

    change(database, mug, ProductChanges(description="Fresh"))
    change(database, mug, ProductChanges(clear_description=True))

    with database.read() as session:
        entries = audit.list_entries(session, limit=10, entity="product", entity_id=mug).items
    details = [e.detail for e in entries if e.action == "product.updated"]
    assert {"description": "Fresh"} in details
    assert {"description": ""} in details


@pytest.mark.parametrize("length", [5_001, 20_000])
def test_a_description_longer_than_5000_characters_is_refused_and_changes_nothing(
    database: Database, length: int
) -> None:
    mug = product(database, description="Short", price=5_00)

    with pytest.raises(InvalidInput) as refused:
        change(database, mug, ProductChanges(price=9_00, description="x" * length))
    with pytest.raises(InvalidInput), database.write() as session:
        product_service.create_product(
            session, name="Long", sku="LONG", price=1_00, description="x" * length
        )

    assert refused.value.detail["field"] == "description"
    assert description_of(database, mug) == "Short"
    with database.read() as session:
        assert product_service.get_product(session, mug).price == 5_00
        assert product_service.list_products(session, limit=10, sku="LONG").items == []


# ================================================================ on sale


def test_a_product_on_sale_is_found_and_an_archived_one_is_as_unknown_as_a_missing_one(
    database: Database,
) -> None:
    sold = product(database, name="Tea")
    archived = product(database, active=False)

    with database.read() as session:
        assert product_service.get_product_on_sale(session, sold).name == "Tea"
        for hidden in (archived, 999_999):
            with pytest.raises(NotFound) as missing:
                product_service.get_product_on_sale(session, hidden)
            assert missing.value.code == "product_not_found"


def test_the_products_on_sale_are_searched_by_name_or_sku_without_archived_ones(
    database: Database,
) -> None:
    green = product(database, name="Green Tea", sku="TEA-G")
    product(database, name="Black Tea", sku="TEA-B", active=False)
    mug = product(database, name="Tea Mug", sku="MUG-1")
    rub = product(database, name="Spice Rub", sku="RUB-tea-2")
    product(database, name="Coffee", sku="COF-1")

    assert on_sale(database, search="tea") == [green, mug, rub]
    assert on_sale(database, search="mug-1") == [mug]
    assert on_sale(database, search="%") == []  # a wildcard is a character like any other


def test_the_products_on_sale_come_a_page_at_a_time(database: Database) -> None:
    ids = [product(database, active=n != 2) for n in range(5)]

    with database.read() as session:
        first = product_service.list_products(session, limit=2, active=True)
        second = product_service.list_products(
            session, limit=2, active=True, cursor=first.next_cursor
        )
        pages = [[p.id for p in first.items], [p.id for p in second.items]]

    assert pages == [[ids[0], ids[1]], [ids[3], ids[4]]]
    assert second.next_cursor is None
