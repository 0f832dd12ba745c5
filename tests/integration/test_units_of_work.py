"""Units of work: one transaction each, committed once or not at all."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ordermill.db import Database
from ordermill.errors import Conflict
from ordermill.services import catalog
from tests import factories


def test_a_write_that_fails_leaves_nothing_behind(database: Database) -> None:
    def register_ada_twice() -> None:
        with database.write() as session:
            catalog.create_customer(session, name="Ada", email="ada@example.com")
            catalog.create_customer(session, name="Ada again", email="ada@example.com")

    with pytest.raises(Conflict):
        register_ada_twice()

    with database.read() as session:
        assert catalog.list_customers(session, limit=10).items == []


def test_nesting_write_units_of_work_on_sqlite_fails_at_once_instead_of_waiting_forever(
    tmp_path: Path, sqlite_template: Path
) -> None:
    path = tmp_path / "nested.db"
    shutil.copy(sqlite_template, path)
    database = Database(f"sqlite:///{path}")

    with database.write(), pytest.raises(RuntimeError, match="don't nest"):
        factories.customer(database)

    factories.customer(database)  # the outer unit of work released everything
    database.dispose()
