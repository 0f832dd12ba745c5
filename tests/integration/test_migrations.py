"""Migrations: an empty database migrates to exactly the schema the models describe.

Each test gets its own empty database (the ``empty_database_url`` fixture): a new
SQLite file, or a throwaway PostgreSQL database when ``ORDERMILL_TEST_POSTGRES_URL``
is set.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.migrate import alembic_config, downgrade, upgrade
from ordermill.models import Base, built_on
from ordermill.services import carts, catalog
from ordermill.services.products import ProductChanges
from tests import factories

MODEL_TABLES = set(Base.metadata.tables)


def schema_differences(url: str) -> list[Any]:
    """What autogenerate would change to make the database match the models."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={"compare_type": True, "include_object": built_on(conn.dialect.name)},
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def tables_and_revision(url: str) -> tuple[set[str], str | None]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            revision = MigrationContext.configure(conn).get_current_revision()
            return tables, revision
    finally:
        engine.dispose()


def head_revision(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def test_upgrade_on_an_empty_database_creates_every_model_table_at_head(
    empty_database_url: str,
) -> None:
    # Given an empty database
    assert tables_and_revision(empty_database_url) == (set(), None)

    # When it is migrated
    upgrade(empty_database_url)

    # Then it holds every table of the models and is stamped with the head revision
    tables, revision = tables_and_revision(empty_database_url)
    assert tables == MODEL_TABLES | {"alembic_version"}
    assert revision is not None
    assert revision == head_revision(empty_database_url)


def test_migrated_schema_has_no_difference_from_the_models(empty_database_url: str) -> None:
    # Given an empty database migrated to head
    upgrade(empty_database_url)

    # When autogenerate compares it with the models (types included)
    differences = schema_differences(empty_database_url)

    # Then there is nothing to change
    assert differences == []


def test_downgrade_to_base_removes_the_schema_and_upgrade_rebuilds_it(
    empty_database_url: str,
) -> None:
    # Given a database migrated to head
    upgrade(empty_database_url)

    # When it is downgraded to base
    downgrade(empty_database_url, "base")

    # Then no model table is left and no revision is recorded
    tables, revision = tables_and_revision(empty_database_url)
    assert tables & MODEL_TABLES == set()
    assert revision is None

    # And upgrading again gives the models' schema back
    upgrade(empty_database_url)
    tables, revision = tables_and_revision(empty_database_url)
    assert tables == MODEL_TABLES | {"alembic_version"}
    assert revision == head_revision(empty_database_url)
    assert schema_differences(empty_database_url) == []


def product_columns(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {column["name"] for column in inspect(conn).get_columns("products")}
    finally:
        engine.dispose()


def run(url: str, sql: str, **params: Any) -> list[Any]:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql), params)
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def test_0008_gives_the_products_already_there_no_description_and_its_downgrade_keeps_them(
    empty_database_url: str,
) -> None:
    # Given a store at 0007 with a product
    upgrade(empty_database_url, "0007")
    run(
        empty_database_url,
        "INSERT INTO products (name, sku, price, stock, stock_received, active, created, updated)"
        " VALUES ('Mug', 'MUG-1', 850, 3, 3, :yes, :now, :now)",
        yes=True,
        now=datetime(2026, 12, 1, tzinfo=UTC),
    )
    assert "description" not in product_columns(empty_database_url)

    # When it is upgraded to 0008, the product has no description and may be given one
    upgrade(empty_database_url, "0008")
    before = run(empty_database_url, "SELECT id, description FROM products")
    (product_id, description), *_ = before
    database = Database(empty_database_url, Settings(database_url=empty_database_url))
    try:
        buyer = factories.customer(database)
        with database.write() as session:
            carts.set_cart_item(session, buyer, product_id, 2)
            found = catalog.get_product(session, product_id)
            catalog.update_product(session, found, ProductChanges(description="Two\nlines"))
    finally:
        database.dispose()

    assert len(before) == 1
    assert description is None
    assert run(empty_database_url, "SELECT description FROM products")[0][0] == "Two\nlines"

    # And downgrading to 0007 drops the column and keeps the product and the carts holding it
    downgrade(empty_database_url, "0007")

    assert "description" not in product_columns(empty_database_url)
    rows = run(empty_database_url, "SELECT sku, price, stock FROM products")
    assert [tuple(row) for row in rows] == [("MUG-1", 850, 3)]
    held = run(empty_database_url, "SELECT product_id, quantity FROM cart_items")
    assert [tuple(row) for row in held] == [(product_id, 2)]


def audit_foreign_keys(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            keys = inspect(conn).get_foreign_keys("audit_log")
            return sorted(key["referred_table"] for key in keys)
    finally:
        engine.dispose()


def test_0009_keeps_the_audit_log_s_ids_of_users_and_tokens_deleted_later(
    empty_database_url: str,
) -> None:
    # Given a store at 0008 whose audit log names a staff user and their token
    upgrade(empty_database_url, "0008")
    now = datetime(2026, 12, 1, tzinfo=UTC)
    for sql in (
        "INSERT INTO users (id, email, password_hash, role, disabled, created)"
        " VALUES (7, 'sam@example.com', 'x', 'staff', :no, :now)",
        "INSERT INTO api_tokens (id, user_id, kind, token_hash, created)"
        " VALUES (9, 7, 'api', 'h', :now)",
        "INSERT INTO audit_log (at, actor, user_id, token_id, action, entity, entity_id, detail)"
        " VALUES (:now, 'sam@example.com', 7, 9, 'order.created', 'order', 1, '{}')",
    ):
        run(empty_database_url, sql, no=False, now=now)
    assert audit_foreign_keys(empty_database_url) == ["api_tokens", "users"]

    # When it is upgraded to 0009 and the user and token are deleted
    upgrade(empty_database_url, "0009")
    assert audit_foreign_keys(empty_database_url) == []
    run(empty_database_url, "DELETE FROM api_tokens")
    run(empty_database_url, "DELETE FROM users")

    # Then the entry still names them
    entry = "SELECT actor, user_id, token_id FROM audit_log"
    assert [tuple(row) for row in run(empty_database_url, entry)] == [("sam@example.com", 7, 9)]

    # And downgrading to 0008 brings the foreign keys back, with the ids they can't hold
    # set to NULL as they would have set them
    downgrade(empty_database_url, "0008")
    assert audit_foreign_keys(empty_database_url) == ["api_tokens", "users"]
    rows = run(empty_database_url, entry)
    assert [tuple(row) for row in rows] == [("sam@example.com", None, None)]
