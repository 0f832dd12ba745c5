"""The error catalogue: every code has one row, every kind an HTTP status and an exit code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ordermill.domain.workflow import REASONS, TRANSITIONS
from ordermill.errors import (
    CATALOGUE,
    KINDS,
    Code,
    Conflict,
    InvalidInput,
    NotFound,
    OrdermillError,
    error,
    kind_of,
)


def test_every_code_has_a_row_with_a_known_kind_and_a_meaning() -> None:
    assert set(CATALOGUE) == set(Code)
    for code, info in CATALOGUE.items():
        assert info.kind in KINDS, code
        assert info.meaning.endswith("."), code


def test_each_kind_default_code_belongs_to_that_kind() -> None:
    for kind in KINDS:
        assert CATALOGUE[kind.code].kind is kind, kind


def test_an_error_made_from_a_code_has_its_kind_and_meaning() -> None:
    made = error(Code.CART_EMPTY)
    assert isinstance(made, Conflict)
    assert made.code == "cart_empty"
    assert made.message == "The cart is empty."
    assert kind_of(made).status == 409
    assert kind_of(made).exit_code == 4


def test_a_code_raised_with_the_wrong_kind_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="order_not_found is a NotFound"):
        InvalidInput("nope", code=Code.ORDER_NOT_FOUND)


def test_exit_codes_tell_apart_bad_input_missing_things_and_refusals() -> None:
    assert kind_of(InvalidInput("x")).exit_code == 2
    assert kind_of(NotFound("x")).exit_code == 3
    assert kind_of(Conflict("x")).exit_code == 4
    assert kind_of(OrdermillError("x")).exit_code == 1


def test_every_workflow_refusal_reason_is_a_conflict_code_in_the_catalogue() -> None:
    used = {reason for t in TRANSITIONS.values() for reason in t.refusals.values()}
    assert used <= set(REASONS)
    for reason in REASONS:
        assert CATALOGUE[reason].kind is Conflict
        assert REASONS[reason] == CATALOGUE[reason].meaning


def test_a_plugin_may_raise_a_code_of_its_own() -> None:
    refusal = Conflict("The shop is closed today.", code="store_closed")
    assert refusal.code == "store_closed"
    assert refusal.hint is None
    assert kind_of(refusal).status == 409


def test_no_error_code_is_written_as_a_string_literal_in_the_package() -> None:
    package = Path(__file__).resolve().parents[2] / "src" / "ordermill"
    literal = re.compile(r"""code=["'][a-z_]+["']""")
    offenders = [
        f"{path.relative_to(package)}:{number}"
        for path in package.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if literal.search(line)
    ]
    assert offenders == []
