"""Tests for quietline.protocol.jsonvalues: one loader and one checker per JSON type.

Whatever bytes arrive, ``load_json`` returns a value or raises MalformedInput; each
``require_*`` accepts exactly its type (an integer is never ``true``, and stays in its
range) and raises MalformedInput, naming what was expected, for anything else.
"""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quietline.protocol.errors import MalformedInput
from quietline.protocol.jsonvalues import (
    I64_MAX,
    load_json,
    require_bool,
    require_int,
    require_list,
    require_object,
    require_string,
)


def test_load_json_reads_bytes_and_text() -> None:
    assert load_json(b'{"a": [1, "b"]}') == {"a": [1, "b"]}
    assert load_json('"x"') == "x"


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"\xff\xfe", b"[" * 100_000 + b"]" * 100_000, b"1" * 5000, b"NaN x"],
)
def test_load_json_refuses_what_is_not_a_json_document(raw: bytes) -> None:
    with pytest.raises(MalformedInput, match="JSON"):
        load_json(raw)


@given(st.binary())
def test_load_json_raises_only_malformed_input(raw: bytes) -> None:
    with contextlib.suppress(MalformedInput):
        load_json(raw)


def test_each_checker_accepts_exactly_its_type() -> None:
    assert require_object({"a": 1}, "a thing") == {"a": 1}
    assert require_list([1], "things") == [1]
    assert require_string("s", "name") == "s"
    assert require_bool(False, "flag") is False
    assert require_int(7, "count") == 7
    for check in (require_object, require_list, require_string, require_bool, require_int):
        with pytest.raises(MalformedInput):
            check(None, "it")


@pytest.mark.parametrize("value", [True, False, 1.0, "1", None, -1, I64_MAX + 1])
def test_an_integer_is_never_a_bool_a_float_or_out_of_range(value: object) -> None:
    with pytest.raises(MalformedInput, match="integer from 0 to"):
        require_int(value, "count")


def test_an_integer_range_is_inclusive() -> None:
    assert require_int(1, "limit", 1, 10) == 1
    assert require_int(10, "limit", 1, 10) == 10
    for value in (0, 11):
        with pytest.raises(MalformedInput, match="limit must be an integer from 1 to 10"):
            require_int(value, "limit", 1, 10)
