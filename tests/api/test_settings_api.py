"""The app follows its settings."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ordermill.config import Settings
from ordermill.db import Database
from ordermill.web.app import create_app
from tests import factories


def test_new_orders_take_the_configured_currency(database: Database) -> None:
    customer = factories.customer(database)
    product = factories.product(database)
    app_in_euros = create_app(Settings(database_url=database.url, currency="EUR"), database)

    admin_token = factories.token_for(database, factories.user(database, role="admin"))

    with TestClient(app_in_euros) as client:
        client.headers["Authorization"] = f"Bearer {admin_token}"
        response = client.post(
            "/api/orders",
            json={"customer_id": customer, "items": [{"product_id": product, "quantity": 1}]},
        )

    assert response.status_code == 201, response.text
    assert response.json()["currency"] == "EUR"
