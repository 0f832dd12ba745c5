"""Finding customers by a part of their name or email, page by page."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

from ordermill.db import Database
from ordermill.errors import InvalidInput
from ordermill.migrate import upgrade
from ordermill.models import Customer
from ordermill.services import catalog
from ordermill.services.search import contains
from tests.factories import customer
from tests.integration.test_migrations import head_revision


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


@pytest.mark.postgres_only
def test_where_the_server_refuses_pg_trgm_the_migration_goes_on_without_the_index(
    pg_database: Database,
) -> None:
    # A database whose owner is the server's admin, migrated by a role that may create
    # tables but not extensions (as on a managed server with a restricted account).
    admin_url = make_url(pg_database.url).set(database="postgres")
    name = f"ordermill_notrgm_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE ROLE {name} LOGIN PASSWORD 'not-secret'"))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        owner = create_engine(admin_url.set(database=name), isolation_level="AUTOCOMMIT")
        with owner.connect() as conn:
            conn.execute(text(f"GRANT USAGE, CREATE ON SCHEMA public TO {name}"))
        owner.dispose()
        restricted = admin_url.set(database=name, username=name, password="not-secret")

        upgrade(restricted.render_as_string(hide_password=False))

        limited = create_engine(restricted)
        with limited.connect() as conn:
            indexes = {index["name"] for index in inspect(conn).get_indexes("customers")}
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        limited.dispose()
        assert "ix_customers_search" not in indexes
        assert revision == head_revision(restricted.render_as_string(hide_password=False))
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f"DROP ROLE IF EXISTS {name}"))
        admin.dispose()
