"""Settings come from ORDERMILL_* variables, with safe defaults."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ordermill.config import Settings


def test_defaults_are_an_embedded_sqlite_store_in_dollars(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ORDERMILL_DATABASE_URL", "ORDERMILL_CURRENCY", "ORDERMILL_PORT"):
        monkeypatch.delenv(name, raising=False)

    settings = Settings()

    assert settings.database_url == "sqlite:///./ordermill.db"
    assert settings.currency == "USD"
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)


def test_environment_variables_override_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERMILL_CURRENCY", "eur")
    monkeypatch.setenv("ORDERMILL_PORT", "9000")

    settings = Settings()

    assert settings.currency == "EUR"
    assert settings.port == 9000


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_a_plain_postgresql_url_uses_the_psycopg_driver(scheme: str) -> None:
    settings = Settings(database_url=f"{scheme}://shop:secret@db:5432/orders")

    assert settings.database_url == "postgresql+psycopg://shop:secret@db:5432/orders"


@pytest.mark.parametrize("currency", ["EURO", "E1", ""])
def test_a_currency_must_be_a_three_letter_code(currency: str) -> None:
    with pytest.raises(ValidationError):
        Settings(currency=currency)
