"""Settings read from ``ORDERMILL_*`` environment variables."""

from __future__ import annotations

from enum import Enum
from functools import lru_cache
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from annotated_types import Ge, Le
from pydantic import Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ordermill.domain.events import EventType
from ordermill.domain.workflow import PaymentFlow
from ordermill.errors import Code, Misconfigured

ENV_PREFIX = "ORDERMILL_"
# The schemes of the databases ordermill runs on (psycopg 3 is the PostgreSQL driver shipped).
SQLITE_SCHEMES = ("sqlite", "sqlite+pysqlite")
POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
SMTP_SCHEMES = ("smtp", "smtp+starttls", "smtps")
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


class Settings(BaseSettings):
    """Runtime configuration; every field maps to ``ORDERMILL_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

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
    db_pool_size: int = Field(
        default=10,
        ge=1,
        le=500,
        description="PostgreSQL connections a process keeps for its threads, and at most as"
        " many for its event loop",
    )
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
    log_level: str = Field(default="info", description="Server log level: " + ", ".join(LOG_LEVELS))
    signup_enabled: bool = Field(default=True, description="Let customers create accounts")
    token_ttl_minutes: int = Field(
        default=480, ge=1, le=60 * 24 * 30, description="Lifetime of a login token"
    )
    token_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        le=60,
        description="How long a server process trusts a token it has checked before checking"
        " it again (0: on every request); changes reach every process at once regardless",
    )
    admin_email: str = Field(
        default="admin@example.com", description="Email of the first-run admin account"
    )

    low_stock_default: int = Field(
        default=5,
        ge=0,
        description="Staff hear of a product when its stock falls to this or below,"
        " unless the product has a threshold of its own",
    )

    # ------------------------------------------------------------ the store
    store_name: str | None = Field(
        default=None,
        description="The store's name on pages and invoices (default: the name in mail_from)",
    )
    store_address: str = Field(
        default="",
        description="The store's postal address on invoices and delivery notes (lines: \\n)",
    )

    # ------------------------------------------------------------ notifications
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The store's address as customers reach it, for links in messages",
    )
    timezone: str = Field(default="UTC", description="Time zone dates in messages are shown in")
    smtp_url: str | None = Field(
        default=None,
        description="smtp://USER:PASSWORD@HOST:PORT, smtp+starttls://… or smtps://…;"
        " unset: emails are written as .eml files into ORDERMILL_MAIL_DIR",
    )
    mail_from: str = Field(
        default="ordermill <orders@localhost>", description="Sender of the store's emails"
    )
    mail_dir: str = Field(default="./mail", description="Where emails go without an SMTP URL")
    staff_emails: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated addresses staff emails go to"
    )
    templates_dir: str | None = Field(
        default=None, description="The store's own message templates, used before the built-in"
    )
    notify_customer_email: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [
            "order.created",
            "order.processed",
            "order.awaiting_payment",
            "order.paid",
            "order.fulfilled",
            "order.delivered",
            "order.cancelled",
            "order.returned",
        ],
        description="Events the customer gets an email about (comma-separated)",
    )
    notify_staff_email: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["order.created", "product.low_stock"],
        description="Events staff get an email about (comma-separated)",
    )
    notify_customer_sms: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["order.fulfilled"],
        description="Events the customer gets a text message about, if they gave a phone",
    )
    twilio_account_sid: str | None = Field(default=None, description="Twilio account SID")
    twilio_auth_token: str | None = Field(default=None, description="Twilio auth token")
    twilio_from: str | None = Field(
        default=None, description="Sender: whatsapp:+15551234567 or an SMS number"
    )
    twilio_api_url: str = Field(
        default="https://api.twilio.com",
        description="Twilio's API address (a proxy's, or a test's)",
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="Allow webhooks to loopback, private and link-local addresses",
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="How long a webhook receiver may take to answer"
    )
    webhook_disable_after_hours: float = Field(
        default=72.0, gt=0, description="A webhook failing this long is disabled"
    )
    delivery_retry_schedule: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0],
        description="Seconds between attempts (comma-separated; the last repeats), with jitter",
    )
    delivery_max_attempts: int = Field(
        default=30, ge=1, le=1000, description="Attempts before a delivery is marked failed"
    )
    worker_in_server: bool = Field(
        default=True, description="`ordermill serve` delivers the outbox itself"
    )
    worker_concurrency: int = Field(
        default=4, ge=1, le=64, description="Messages a worker sends at once"
    )
    worker_poll_seconds: float = Field(
        default=1.0, gt=0, le=60, description="How often an idle worker looks for work"
    )
    worker_lease_seconds: float = Field(
        default=120.0, ge=5, le=3600, description="How long a claimed message is a worker's"
    )
    retention_days: int = Field(
        default=30, ge=1, le=3650, description="Days sent messages and idempotency keys are kept"
    )
    password_reset_minutes: int = Field(
        default=60, ge=5, le=60 * 24, description="How long a password reset link works"
    )

    @field_validator(
        "staff_emails",
        "notify_customer_email",
        "notify_staff_email",
        "notify_customer_sms",
        "delivery_retry_schedule",
        mode="before",
    )
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("notify_customer_email", "notify_staff_email", "notify_customer_sms")
    @classmethod
    def _known_events(cls, value: list[str]) -> list[str]:
        known = {t.value for t in EventType}
        unknown = [item for item in value if item not in known]
        if unknown:
            raise PydanticCustomError("events", "event types from: " + ", ".join(sorted(known)))
        return value

    @field_validator("delivery_retry_schedule")
    @classmethod
    def _schedule(cls, value: list[float]) -> list[float]:
        if not value or any(gap <= 0 for gap in value):
            raise PydanticCustomError("schedule", "positive numbers of seconds, comma-separated")
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            parts = urlsplit(value.strip())
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            parts = None
        if parts is None or parts.scheme.lower() not in SMTP_SCHEMES or not parts.hostname:
            raise PydanticCustomError(
                "smtp_url", "smtp://USER:PASSWORD@HOST:PORT, smtp+starttls://… or smtps://…"
            )
        return value.strip()

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value.strip())
        except (ZoneInfoNotFoundError, ValueError):
            raise PydanticCustomError(
                "timezone", "an IANA time zone such as Europe/Paris or UTC"
            ) from None
        return value.strip()

    @field_validator("currency")
    @classmethod
    def _currency_code(cls, value: str) -> str:
        code = value.strip().upper()
        if len(code) != 3 or not code.isalpha():
            raise PydanticCustomError("currency", "a three-letter ISO 4217 code such as USD")
        return code

    @field_validator("database_url")
    @classmethod
    def _driver(cls, value: str) -> str:
        scheme, separator, rest = value.strip().partition("://")
        if separator and scheme.lower() in SQLITE_SCHEMES:
            return value.strip()
        if separator and scheme.lower() in POSTGRES_SCHEMES:
            # Accept the plain scheme users type; the driver is the one shipped.
            return "postgresql+psycopg://" + rest
        raise PydanticCustomError(
            Code.UNSUPPORTED_DATABASE.value,
            "unsupported database URL ({scheme}); ordermill runs on SQLite and PostgreSQL",
            {"scheme": f"{scheme}://…" if separator else "no scheme"},
        )

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.strip().lower()
        if level not in LOG_LEVELS:
            raise PydanticCustomError("log_level", "one of " + ", ".join(LOG_LEVELS))
        return level


def _accepts(name: str) -> str:
    """What the setting ``name`` accepts, in words, from its type and bounds."""
    field = Settings.model_fields[name]
    kind = field.annotation
    if isinstance(kind, type) and issubclass(kind, Enum):
        return "one of " + ", ".join(str(member.value) for member in kind)
    if kind is bool:
        return "true or false"
    if kind is int:
        low = next((m.ge for m in field.metadata if isinstance(m, Ge)), None)
        high = next((m.le for m in field.metadata if isinstance(m, Le)), None)
        if low is not None and high is not None:
            return f"a whole number from {low} to {high}"
        if low is not None:
            return f"a whole number, at least {low}"
        return "a whole number"
    return "a text value"


def settings_error(exc: ValidationError) -> Misconfigured:
    """One line per wrong setting: its variable, what it accepts, and the value given."""
    code = Code.INVALID_SETTING
    problems: list[str] = []
    for problem in exc.errors(include_url=False):
        name = str(problem["loc"][0]) if problem["loc"] else "?"
        variable = ENV_PREFIX + name.upper()
        given: Any = problem.get("input")
        if problem["type"] == Code.UNSUPPORTED_DATABASE:
            code = Code.UNSUPPORTED_DATABASE
            problems.append(f"{variable}: {problem['msg']}")
            continue
        if problem["type"] in (
            "currency",
            "log_level",
            "events",
            "schedule",
            "timezone",
            "smtp_url",
        ):
            accepts = problem["msg"]
        elif name in Settings.model_fields:
            accepts = _accepts(name)
        else:
            accepts = problem["msg"]
        problems.append(f"{variable} must be {accepts}, not {given!r}")
    return Misconfigured("; ".join(problems), code=code)


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings (read once from the environment).

    A wrong value raises ``Misconfigured`` naming the variable and what it accepts.
    """
    try:
        return Settings()
    except ValidationError as exc:
        raise settings_error(exc) from None
