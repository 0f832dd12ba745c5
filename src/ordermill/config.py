"""Settings read from ``ORDERMILL_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ordermill.domain.workflow import PaymentFlow


class Settings(BaseSettings):
    """Runtime configuration; every field maps to ``ORDERMILL_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="ORDERMILL_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./ordermill.db",
        description="SQLAlchemy URL: sqlite:///PATH or postgresql://USER@HOST/DB",
    )
    currency: str = Field(default="USD", description="ISO 4217 code stamped on new orders")
    payment_flow: PaymentFlow = Field(
        default=PaymentFlow.BALANCE,
        description="How processed orders are paid: balance (charged at once) or advance",
    )
    host: str = Field(default="127.0.0.1", description="Address `ordermill serve` binds to")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `ordermill serve` binds to")
    workers: int = Field(default=1, ge=1, le=64, description="Server worker processes")
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Proxies whose X-Forwarded-For is trusted for the client address",
    )
    db_pool_size: int = Field(default=10, ge=1, le=500, description="PostgreSQL pool size")
    db_max_overflow: int = Field(default=10, ge=0, le=500, description="Extra connections")
    db_pre_ping: bool = Field(
        default=False, description="Test each pooled connection before use (a round trip)"
    )
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0, description="SQLite lock wait")
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest request body the API reads; a larger one is refused with 413",
    )
    page_size_default: int = Field(default=50, ge=1, le=500)
    page_size_max: int = Field(default=500, ge=1, le=10_000)
    log_level: str = Field(default="info")
    signup_enabled: bool = Field(default=True, description="Let customers create accounts")
    token_ttl_minutes: int = Field(
        default=480, ge=1, le=60 * 24 * 30, description="Lifetime of a login token"
    )
    admin_email: str = Field(
        default="admin@example.com", description="Email of the first-run admin account"
    )

    @field_validator("currency")
    @classmethod
    def _currency_code(cls, value: str) -> str:
        code = value.strip().upper()
        if len(code) != 3 or not code.isalpha():
            raise ValueError("currency must be a three-letter ISO 4217 code")
        return code

    @field_validator("database_url")
    @classmethod
    def _driver(cls, value: str) -> str:
        # psycopg 3 is the PostgreSQL driver we ship; accept the plain scheme users type.
        for plain in ("postgresql://", "postgres://"):
            if value.startswith(plain):
                return "postgresql+psycopg://" + value[len(plain) :]
        return value


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings (read once from the environment)."""
    return Settings()
