"""Finding customers by a part of their name or email, page by page."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql

from ordermill.db import Database
from ordermill.errors import InvalidInput
from ordermill.models import Customer
from ordermill.services import catalog
from ordermill.services.search import contains
from tests.factories import customer


def names(database: Database, search: str | None, *, limit: int = 50) -> list[str]:
    with database.read() as session:
        page = catalog.list_customers(session, limit=limit, search=search)
        return [found.name for found in page.items]


def test_a_search_finds_a_part_of_a_name_or_an_email_in_any_case(database: Database) -> None:
    customer(database, name="Ada Lovelace", email="ada@engines.example")
    customer(database, name="Charles Babbage", email="charles@engines.example")
    customer(database, name="Grace Hopper", email="grace@navy.example")

    assert names(database, "LOVE") == ["Ada Lovelace"]
    assert names(database, "engines") == ["Ada Lovelace", "Charles Babbage"]
    assert names(database, "  hopper ") == ["Grace Hopper"]
    assert names(database, "nobody") == []
    assert len(names(database, "")) == 3
    assert len(names(database, None)) == 3


def test_percent_and_underscore_in_a_search_are_plain_characters(database: Database) -> None:
    customer(database, name="100% Cotton Ltd", email="cotton@example.com")
    customer(database, name="Cotton Ltd", email="first_last@example.com")
    customer(database, name="Firstxlast", email="other@example.com")

    assert names(database, "100%") == ["100% Cotton Ltd"]
    assert names(database, "%") == ["100% Cotton Ltd"]
    assert names(database, "first_last") == ["Cotton Ltd"]


def test_search_results_come_page_by_page_in_id_order(database: Database) -> None:
    for n in range(5):
        customer(database, name=f"Smith {n}")
        customer(database, name=f"Jones {n}")

    seen: list[str] = []
    cursor = None
    with database.read() as session:
        while True:
            page = catalog.list_customers(session, limit=2, cursor=cursor, search="smith")
            seen.extend(found.name for found in page.items)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor

    assert seen == [f"Smith {n}" for n in range(5)]


@pytest.mark.parametrize("search", ["x" * 321, "a\x00b", "tab\there"])
def test_a_search_too_long_or_with_control_characters_is_invalid_input(
    database: Database, search: str
) -> None:
    with database.read() as session, pytest.raises(InvalidInput) as refused:
        catalog.list_customers(session, limit=10, search=search)

    assert refused.value.detail["field"] == "search"


@pytest.mark.postgres_only
def test_on_postgresql_a_search_can_be_served_by_the_trigram_index(pg_database: Database) -> None:
    customer(pg_database, name="Ada Lovelace")
    stmt = select(Customer.id).where(contains([Customer.name, Customer.email], "lovelace"))
    query = str(
        stmt.order_by(Customer.id).compile(
            dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
        )
    )

    with pg_database.read() as session:
        # Without a table scan or a walk along the primary key, only the index is left.
        session.execute(text("SET LOCAL enable_seqscan = off"))
        session.execute(text("SET LOCAL enable_indexscan = off"))
        plan = "\n".join(session.execute(text(f"EXPLAIN {query}")).scalars())
        found = session.execute(text(query)).scalars().all()

    assert "Bitmap Index Scan on ix_customers_search" in plan
    assert len(found) == 1
