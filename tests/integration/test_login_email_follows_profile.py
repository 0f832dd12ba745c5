"""A customer's login is their email, so it follows the profile."""

from __future__ import annotations

import pytest

from ordermill.db import Database
from ordermill.errors import Conflict
from ordermill.services import accounts, catalog
from tests import factories


def test_changing_a_customers_email_moves_their_login_with_it(database: Database) -> None:
    customer_id, _user_id = factories.customer_login(database)

    with database.write() as session:
        customer = catalog.get_customer(session, customer_id)
        catalog.update_customer(session, customer, catalog.CustomerChanges(email="New@Example.com"))

    with database.read() as session:
        user = accounts.authenticate(session, email="new@example.com", password=factories.PASSWORD)
        assert user.customer_id == customer_id


def test_a_customer_can_not_take_the_email_of_a_staff_login(database: Database) -> None:
    factories.user(database, role="staff", email="clerk@example.com")
    customer_id, _user_id = factories.customer_login(database)

    taking_the_staff_email = catalog.CustomerChanges(email="clerk@example.com")

    with database.write() as session:
        customer = catalog.get_customer(session, customer_id)
        with pytest.raises(Conflict) as exc:
            catalog.update_customer(session, customer, taking_the_staff_email)

    assert exc.value.code == "email_taken"
