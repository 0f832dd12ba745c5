"""The dashboard's period, as a GET form sends it: ``period=7|30|90|custom``, ``from``, ``to``.

Dates are whole days in the store's time zone, written ``YYYY-MM-DD`` (what a date
input sends). Anything else is explained in words, never a 500.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from ordermill.errors import InvalidInput
from ordermill.services.reports import MAX_DAYS, Period, last_days

LAST_DAYS = (7, 30, 90)
DEFAULT = "30"
CUSTOM = "custom"
CHOICES = (*(str(n) for n in LAST_DAYS), CUSTOM)
# Years a period may name (far enough from the calendar's ends for every time zone).
FIRST_YEAR, LAST_YEAR = 1970, 9000
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


@dataclass(frozen=True, slots=True)
class PeriodChoice:
    """What the form asked for, as typed (to fill the form again), and the period it means
    or why it means none."""

    kind: str  # one of CHOICES (what the form shows selected)
    first: str  # the "from" field as typed
    last: str  # the "to" field as typed
    period: Period | None
    error: str | None = None

    @property
    def query(self) -> str:
        """The query string that asks for this period again (for the CSV links)."""
        if self.kind != CUSTOM or self.period is None:
            return urlencode({"period": self.kind})
        return urlencode(
            {
                "period": CUSTOM,
                "from": self.period.first.isoformat(),
                "to": self.period.last.isoformat(),
            }
        )


def _parse_day(text: str, label: str) -> date:
    if not _DATE.fullmatch(text):
        raise InvalidInput(
            f"The {label} date “{text}” is not a date: write it as YYYY-MM-DD, e.g. 2026-01-31."
        )
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"The {label} date “{text}” does not exist.") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise InvalidInput(
            f"The {label} date “{text}” is out of range: years {FIRST_YEAR} to {LAST_YEAR}."
        )
    return day


def choose_period(
    kind: str | None, first: str | None, last: str | None, zone: ZoneInfo, today: date
) -> PeriodChoice:
    """The period the dashboard's form asks for; ``error`` says what is wrong with it."""
    first_text, last_text = (first or "").strip(), (last or "").strip()
    wanted = (kind or "").strip() or (CUSTOM if first_text or last_text else DEFAULT)
    shown = wanted if wanted in CHOICES else DEFAULT
    try:
        if wanted not in CHOICES:
            raise InvalidInput("Choose the last 7, 30 or 90 days, or a custom period.")
        if wanted != CUSTOM:
            period = last_days(int(wanted), today, zone)
        else:
            if not first_text or not last_text:
                raise InvalidInput("A custom period needs a start date and an end date.")
            start = _parse_day(first_text, "start")
            end = _parse_day(last_text, "end")
            if end < start:
                raise InvalidInput(
                    f"The period ends ({end.isoformat()}) before it starts ({start.isoformat()})."
                )
            if (end - start).days + 1 > MAX_DAYS:
                raise InvalidInput(f"A period is at most {MAX_DAYS} days long.")
            period = Period(start, end, zone)
    except InvalidInput as exc:
        return PeriodChoice(shown, first_text, last_text, None, exc.message)
    if wanted != CUSTOM:
        first_text, last_text = period.first.isoformat(), period.last.isoformat()
    return PeriodChoice(shown, first_text, last_text, period)
