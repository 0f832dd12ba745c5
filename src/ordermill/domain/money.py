"""Exact money: integer minor units inside, decimal strings outside."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from ordermill.errors import InvalidInput

MINOR_PER_MAJOR = 100
# 10^13 minor units (100 billion in major units) keeps every sum far inside a signed 64-bit column.
MAX_AMOUNT_MINOR = 10**13


def parse_amount(value: object, *, field: str = "amount", allow_negative: bool = False) -> int:
    """Turn a JSON number or decimal string with at most 2 decimals into minor units."""
    if isinstance(value, bool) or value is None:
        raise InvalidInput(f"{field} must be a decimal number such as 12.50", field=field)
    if isinstance(value, float):
        # JSON numbers arrive as floats; repr() gives back the shortest text that round-trips,
        # which is what the client wrote for any amount a store deals in.
        text = repr(value)
    elif isinstance(value, int | Decimal):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise InvalidInput(f"{field} must be a decimal number such as 12.50", field=field)
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise InvalidInput(f"{field} must be a decimal number such as 12.50", field=field) from None
    if not amount.is_finite():
        raise InvalidInput(f"{field} must be a finite number", field=field)
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise InvalidInput(f"{field} may have at most 2 decimal places", field=field)
    if amount < 0 and not allow_negative:
        raise InvalidInput(f"{field} must not be negative", field=field)
    minor = int(amount * MINOR_PER_MAJOR)
    if abs(minor) > MAX_AMOUNT_MINOR:
        raise InvalidInput(f"{field} is too large", field=field)
    return minor


def format_amount(minor: int) -> str:
    """Render minor units as a decimal string: 1250 -> "12.50", -5 -> "-0.05"."""
    sign = "-" if minor < 0 else ""
    major, cents = divmod(abs(minor), MINOR_PER_MAJOR)
    return f"{sign}{major}.{cents:02d}"
