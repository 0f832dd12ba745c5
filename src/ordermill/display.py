"""How ordermill writes money, moments and the store's name for people (emails, pages)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parseaddr
from zoneinfo import ZoneInfo

from ordermill.config import Settings
from ordermill.domain.money import format_amount

# Currencies written with their sign in front (€12.50); any other as "12.50 CHF".
SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£"}

_LINE_BREAKS = re.compile(r"\s+")


def money(minor: int, currency: str) -> str:
    """Minor units as people read them: 1250 EUR -> "€12.50", 1250 CHF -> "12.50 CHF"."""
    symbol = SYMBOLS.get(currency.upper())
    if symbol is None:
        return f"{format_amount(minor)} {currency.upper()}"
    sign = "-" if minor < 0 else ""
    return f"{sign}{symbol}{format_amount(abs(minor))}"


def one_line(text: str) -> str:
    """Text fit for a header: line breaks and runs of spaces become one space."""
    return _LINE_BREAKS.sub(" ", text).strip()


def when(moment: datetime | str | None, zone: ZoneInfo) -> str:
    """A moment in the store's time zone: "2 December 2026, 15:32 CET"."""
    if moment is None:
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(zone)
    return f"{local.day} {local:%B %Y, %H:%M} {local.tzname()}"


def store_name(settings: Settings) -> str:
    """The store's name: ``ORDERMILL_STORE_NAME``, else the display name of ``mail_from``,
    else its domain."""
    if settings.store_name:
        return one_line(settings.store_name)
    name, address = parseaddr(settings.mail_from)
    return one_line(name) or address.rpartition("@")[2] or "ordermill"


_ADDRESS_BREAKS = re.compile(r"\r\n|\r|\n|\\n")


def address_lines(text: str | None) -> list[str]:
    """A postal address as its lines: split at line breaks, or at a written ``\\n`` (how
    ``ORDERMILL_STORE_ADDRESS`` holds several lines in one environment variable)."""
    if not text:
        return []
    return [line.strip() for line in _ADDRESS_BREAKS.split(text) if line.strip()]
