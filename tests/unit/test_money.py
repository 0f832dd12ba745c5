"""Money is exact: integer minor units inside, decimal strings outside."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ordermill.domain.money import MAX_AMOUNT_MINOR, format_amount, parse_amount
from ordermill.errors import InvalidInput

# ---------------------------------------------------------------- parse_amount: accepted


@pytest.mark.parametrize(
    ("value", "minor"),
    [
        (12.5, 1250),
        (0.1, 10),
        (0.01, 1),
        (19.99, 1999),
        (1234.56, 123456),
        (0.0, 0),
        (100.0, 10000),
    ],
)
def test_parse_amount_reads_json_numbers_as_the_client_wrote_them(value: float, minor: int) -> None:
    # Given a JSON number, which Python's json module hands over as a float
    # When it is parsed
    # Then it becomes the exact number of minor units, with no binary rounding
    assert parse_amount(value) == minor


@pytest.mark.parametrize(
    ("value", "minor"),
    [
        ("12.50", 1250),
        ("12.5", 1250),
        ("12", 1200),
        ("0.05", 5),
        ("0", 0),
        ("0.00", 0),
        ("  7.25  ", 725),
        ("1000000.00", 100000000),
    ],
)
def test_parse_amount_reads_decimal_strings(value: str, minor: int) -> None:
    assert parse_amount(value) == minor


@pytest.mark.parametrize(("value", "minor"), [(0, 0), (1, 100), (12, 1200), (250000, 25000000)])
def test_parse_amount_reads_integers_as_whole_major_units(value: int, minor: int) -> None:
    assert parse_amount(value) == minor


def test_parse_amount_reads_decimals() -> None:
    assert parse_amount(Decimal("3.07")) == 307


def test_parse_amount_accepts_trailing_zeros_beyond_two_decimals() -> None:
    # "12.500" is exactly 12.50: the extra zero adds no precision.
    assert parse_amount("12.500") == 1250


def test_parse_amount_sums_float_inputs_without_drift() -> None:
    # 0.1 + 0.2 != 0.3 in binary floating point; in minor units it is exact.
    assert parse_amount(0.1) + parse_amount(0.2) == parse_amount(0.3) == 30


def test_parse_amount_accepts_the_largest_amount() -> None:
    assert parse_amount("100000000000.00") == MAX_AMOUNT_MINOR


# ---------------------------------------------------------------- parse_amount: refused


@pytest.mark.parametrize("value", ["12.345", "0.001", 12.345, 0.001, Decimal("1.005")])
def test_parse_amount_refuses_a_third_decimal(value: object) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_amount(value, field="price")
    assert exc.value.code == "validation_error"
    assert exc.value.detail == {"field": "price"}
    assert "2 decimal places" in exc.value.message


def test_parse_amount_refuses_float_noise() -> None:
    # 0.1 + 0.2 is 0.30000000000000004 as a float: not an amount a client meant.
    with pytest.raises(InvalidInput):
        parse_amount(0.1 + 0.2)


@pytest.mark.parametrize("value", ["-0.01", "-12.50", -1, -12.5])
def test_parse_amount_refuses_negative_amounts_by_default(value: object) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_amount(value, field="price")
    assert exc.value.detail == {"field": "price"}
    assert "negative" in exc.value.message


@pytest.mark.parametrize(("value", "minor"), [("-0.01", -1), ("-12.50", -1250), (-12.5, -1250)])
def test_parse_amount_accepts_negative_amounts_when_allowed(value: object, minor: int) -> None:
    assert parse_amount(value, allow_negative=True) == minor


def test_parse_amount_still_refuses_a_third_decimal_when_negatives_are_allowed() -> None:
    with pytest.raises(InvalidInput):
        parse_amount("-1.005", allow_negative=True)


@pytest.mark.parametrize(
    "value",
    [True, False, None, [], {}, [12.5], {"amount": "1.00"}, object(), b"12.50"],
    ids=["true", "false", "none", "list", "dict", "list-of-number", "object", "object()", "bytes"],
)
def test_parse_amount_refuses_values_that_are_not_numbers(value: object) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_amount(value, field="balance")
    assert exc.value.detail == {"field": "balance"}


@pytest.mark.parametrize(
    "value", ["", "   ", "abc", "12,50", "12.50 USD", "$12.50", "1.2.3", "0x10", "12 50"]
)
def test_parse_amount_refuses_garbage_text(value: str) -> None:
    with pytest.raises(InvalidInput):
        parse_amount(value)


@pytest.mark.parametrize(
    "value",
    ["1_000", "1_0.00", "\u0661\u0662", "\uff11\uff12.\uff15\uff10", "+5", "12.", ".5", "1,5"],
    ids=[
        "underscore-grouping",
        "underscore-inside",
        "arabic-indic-digits",
        "fullwidth-digits",
        "plus-sign",
        "trailing-dot",
        "leading-dot",
        "decimal-comma",
    ],
)
def test_parse_amount_refuses_text_that_is_not_a_plain_decimal(value: str) -> None:
    # Python's Decimal() is lenient (digit grouping with "_", any Unicode digit);
    # an amount is plain ASCII digits, as the API's schema advertises.
    with pytest.raises(InvalidInput):
        parse_amount(value)


@pytest.mark.parametrize(
    "value",
    [float("nan"), float("inf"), float("-inf"), "NaN", "nan", "Infinity", "-Infinity", "sNaN"],
)
def test_parse_amount_refuses_values_that_are_not_finite(value: object) -> None:
    with pytest.raises(InvalidInput):
        parse_amount(value, allow_negative=True)


@pytest.mark.parametrize(
    "value",
    ["100000000000.01", "99999999999999999999", 10**15, 1e15, 1e20, "-100000000000.01"],
)
def test_parse_amount_refuses_amounts_that_are_too_large(value: object) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_amount(value, allow_negative=True)
    assert "too large" in exc.value.message


@pytest.mark.parametrize("text", ["1e999999", "1e20", "1E2"])
def test_parse_amount_refuses_exponent_notation_in_strings_without_arithmetic(text: str) -> None:
    # A client can send any string; "1e999999" would overflow Decimal arithmetic.
    # Strings must be plain decimals, so these are refused before any arithmetic.
    with pytest.raises(InvalidInput) as exc:
        parse_amount(text)
    assert exc.value.message == "amount must be a decimal number such as 12.50"


def test_parse_amount_refuses_an_integer_too_long_to_print() -> None:
    # Python refuses str() of integers above 4300 digits (a ValueError).
    with pytest.raises(InvalidInput) as exc:
        parse_amount(10**5000)
    assert "too large" in exc.value.message


def test_parse_amount_names_the_field_in_its_message() -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_amount("abc", field="unit_price")
    assert exc.value.message.startswith("unit_price ")


# ---------------------------------------------------------------- format_amount


@pytest.mark.parametrize(
    ("minor", "text"),
    [
        (1250, "12.50"),
        (5, "0.05"),
        (-5, "-0.05"),
        (0, "0.00"),
        (100, "1.00"),
        (1, "0.01"),
        (99, "0.99"),
        (10, "0.10"),
        (-100, "-1.00"),
        (-1250, "-12.50"),
        (123456789, "1234567.89"),
        (MAX_AMOUNT_MINOR, "100000000000.00"),
    ],
)
def test_format_amount_renders_two_decimals(minor: int, text: str) -> None:
    assert format_amount(minor) == text


@pytest.mark.parametrize("minor", [0, 1, 5, 99, 100, 1250, -5, -1250, 123456789])
def test_format_amount_round_trips_through_parse_amount(minor: int) -> None:
    assert parse_amount(format_amount(minor), allow_negative=True) == minor
