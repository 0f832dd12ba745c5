"""Settings come from ORDERMILL_* variables, with safe defaults."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ordermill.config import Settings, get_settings
from ordermill.errors import Misconfigured


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


@pytest.mark.parametrize(
    "url", ["mysql://root@127.0.0.1/db", "mysql+pymysql://x@y/z", "oracle://a@b/c", "garbage"]
)
def test_a_database_ordermill_does_not_run_on_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="unsupported database URL"):
        Settings(database_url=url)


@pytest.mark.parametrize("url", ["sqlite:///shop.db", "sqlite://", "sqlite+pysqlite:///x.db"])
def test_sqlite_urls_are_kept_as_given(url: str) -> None:
    assert Settings(database_url=url).database_url == url


def test_the_log_level_is_one_of_the_servers_and_case_does_not_matter() -> None:
    assert Settings(log_level="DEBUG").log_level == "debug"
    with pytest.raises(ValidationError, match="one of critical, error, warning, info, debug"):
        Settings(log_level="loud")


def test_wrong_settings_in_the_environment_stop_the_store_with_one_line_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORDERMILL_PORT", "abc")
    monkeypatch.setenv("ORDERMILL_WORKERS", "100")
    get_settings.cache_clear()

    with pytest.raises(Misconfigured) as caught:
        get_settings()

    get_settings.cache_clear()
    assert caught.value.code == "invalid_setting"
    assert caught.value.message == (
        "ORDERMILL_PORT must be a whole number from 1 to 65535, not 'abc'; "
        "ORDERMILL_WORKERS must be a whole number from 1 to 64, not '100'"
    )


def test_an_unsupported_database_in_the_environment_has_its_own_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORDERMILL_DATABASE_URL", "mysql://root:secret@db/shop")
    get_settings.cache_clear()

    with pytest.raises(Misconfigured) as caught:
        get_settings()

    get_settings.cache_clear()
    assert caught.value.code == "unsupported_database"
    assert "secret" not in caught.value.message
