"""Tests for quietline.protocol.encoding: hex, unpadded base64, RFC 3339 times, integers.

Each encoder/decoder pair round-trips under Hypothesis, and each decoder answers
arbitrary text with a value or MalformedInput, never another exception.
"""

import base64
import contextlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quietline.protocol.encoding import (
    b64_decode,
    b64_encode,
    format_rfc3339,
    hex_decode,
    i32be,
    i64be,
    parse_rfc3339,
    unix_seconds,
)
from quietline.protocol.errors import MalformedInput

offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
# From the second day of year 1 to the second-last of 9999, so any offset stays in range.
aware_datetimes = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.just(UTC) | offsets,
)


# --- base64 -------------------------------------------------------------------------------


@given(st.binary(max_size=2000))
def test_b64_round_trip_without_padding(data: bytes) -> None:
    text = b64_encode(data)
    assert "=" not in text
    assert text == base64.b64encode(data).decode("ascii").rstrip("=")
    assert b64_decode(text) == data


@given(st.binary(max_size=200))
def test_b64_decode_tolerates_padding(data: bytes) -> None:
    assert b64_decode(base64.b64encode(data).decode("ascii")) == data


@pytest.mark.parametrize(
    "text",
    [
        "A",  # one character cannot hold a byte
        "AAAAA",
        "AA===",  # too much padding
        "AB-_",  # URL-safe alphabet
        "AA AA",
        "AAAA\n",
        "AA=A",
        "ÀÀÀÀ",
    ],
)
def test_b64_decode_rejects_malformed_text(text: str) -> None:
    with pytest.raises(MalformedInput):
        b64_decode(text)


@pytest.mark.parametrize("value", [None, 1234, b"AAAA", ["AAAA"]])
def test_b64_decode_rejects_non_strings(value: object) -> None:
    with pytest.raises(MalformedInput):
        b64_decode(value)


@given(st.text(max_size=50))
def test_b64_decode_of_any_text_is_bytes_or_malformed(text: str) -> None:
    with contextlib.suppress(MalformedInput):
        assert isinstance(b64_decode(text), bytes)


# --- hex ----------------------------------------------------------------------------------


@given(st.binary(max_size=200))
def test_hex_round_trip_either_case(data: bytes) -> None:
    assert hex_decode(data.hex()) == data
    assert hex_decode(data.hex().upper()) == data
    assert hex_decode(data.hex(), len(data)) == data


@pytest.mark.parametrize("text", ["abc", "zz", "0x00", " 00", "00 ", "00\n", "0-", "\u0660\u0660"])
def test_hex_decode_rejects_malformed_text(text: str) -> None:
    with pytest.raises(MalformedInput):
        hex_decode(text)


@pytest.mark.parametrize("value", [None, 0, b"00", ["00"]])
def test_hex_decode_rejects_non_strings(value: object) -> None:
    with pytest.raises(MalformedInput):
        hex_decode(value)


@pytest.mark.parametrize(("text", "length"), [("", 32), ("00" * 31, 32), ("00" * 33, 32)])
def test_hex_decode_enforces_the_length(text: str, length: int) -> None:
    with pytest.raises(MalformedInput, match=f"expected {length} bytes"):
        hex_decode(text, length)


@given(st.text(max_size=70), st.none() | st.integers(min_value=0, max_value=40))
def test_hex_decode_of_any_text_is_bytes_or_malformed(text: str, length: int | None) -> None:
    try:
        raw = hex_decode(text, length)
    except MalformedInput:
        return
    assert length is None or len(raw) == length


# --- RFC 3339 -----------------------------------------------------------------------------


@given(aware_datetimes)
def test_rfc3339_round_trip(moment: datetime) -> None:
    text = format_rfc3339(moment)
    assert text.endswith("Z")
    parsed = parse_rfc3339(text)
    assert parsed == moment
    assert parsed.tzinfo == UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-02-24T13:37:42+00:00", datetime(2023, 2, 24, 13, 37, 42, tzinfo=UTC)),
        ("2023-02-24T13:37:42Z", datetime(2023, 2, 24, 13, 37, 42, tzinfo=UTC)),
        ("2023-02-24t13:37:42z", datetime(2023, 2, 24, 13, 37, 42, tzinfo=UTC)),
        ("2023-02-24T15:37:42+02:00", datetime(2023, 2, 24, 13, 37, 42, tzinfo=UTC)),
        ("2023-02-24T13:37:42.5Z", datetime(2023, 2, 24, 13, 37, 42, 500000, tzinfo=UTC)),
        # CoverDrop writes nanoseconds; digits beyond microseconds are truncated.
        (
            "2023-10-04T12:00:00.123456789Z",
            datetime(2023, 10, 4, 12, 0, 0, 123456, tzinfo=UTC),
        ),
        ("2023-10-04T12:00:00.999999999-00:30", datetime(2023, 10, 4, 12, 30, 0, 999999, UTC)),
    ],
)
def test_parse_rfc3339_known_answers(text: str, expected: datetime) -> None:
    parsed = parse_rfc3339(text)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text",
    [
        "2023-02-24T13:37:42",  # no zone: naive times are refused
        "2023-02-24",
        "2023-02-24 13:37:42Z",
        "2023-02-24T13:37Z",
        "2023-13-01T00:00:00Z",
        "2023-02-30T00:00:00Z",
        "2023-02-24T24:00:00Z",
        "2023-02-24T23:59:60Z",
        "2023-02-24T13:37:42.Z",
        "2023-02-24T13:37:42.1234567890Z",
        "2023-02-24T13:37:42+0000",
        "2023-02-24T13:37:42+24:00",
        "0000-01-01T00:00:00Z",
        " 2023-02-24T13:37:42Z",
        "yesterday",
        "",
    ],
)
def test_parse_rfc3339_rejects_malformed_text(text: str) -> None:
    with pytest.raises(MalformedInput):
        parse_rfc3339(text)


@pytest.mark.parametrize("value", [None, 1677245862, b"2023-02-24T13:37:42Z"])
def test_parse_rfc3339_rejects_non_strings(value: object) -> None:
    with pytest.raises(MalformedInput):
        parse_rfc3339(value)


@given(st.text(max_size=40))
def test_parse_rfc3339_of_any_text_is_a_datetime_or_malformed(text: str) -> None:
    with contextlib.suppress(MalformedInput):
        assert parse_rfc3339(text).tzinfo == UTC


@given(
    st.integers(min_value=1, max_value=9999),
    st.integers(min_value=0, max_value=19),
    st.integers(min_value=0, max_value=39),
    st.integers(min_value=0, max_value=29),
    st.integers(min_value=0, max_value=69),
    st.integers(min_value=0, max_value=69),
    st.text(alphabet="0123456789", max_size=10),
    st.sampled_from(["Z", "z", "+", "-"]),
    st.integers(min_value=0, max_value=29),
    st.integers(min_value=0, max_value=69),
)
def test_parse_rfc3339_of_timestamp_shaped_text_is_a_datetime_or_malformed(
    year: int,
    month: int,
    day: int,
    hour: int,
    minute: int,
    second: int,
    fraction: str,
    sign: str,
    zone_hours: int,
    zone_minutes: int,
) -> None:
    zone = sign if sign in "Zz" else f"{sign}{zone_hours:02d}:{zone_minutes:02d}"
    dot = f".{fraction}" if fraction else ""
    text = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}{dot}{zone}"
    with contextlib.suppress(MalformedInput):
        assert parse_rfc3339(text).tzinfo == UTC


@pytest.mark.parametrize("text", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_parse_rfc3339_out_of_range_instant_is_malformed(text: str) -> None:
    with pytest.raises(MalformedInput):
        parse_rfc3339(text)


def test_rfc3339_round_trip_before_year_1000() -> None:
    moment = datetime(999, 1, 1, tzinfo=UTC)
    assert parse_rfc3339(format_rfc3339(moment)) == moment


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2023, 2, 24, 13, 37, 42, tzinfo=UTC), "2023-02-24T13:37:42Z"),
        (datetime(2023, 2, 24, 13, 37, 42, 1, tzinfo=UTC), "2023-02-24T13:37:42.000001Z"),
        (
            datetime(2023, 2, 24, 15, 37, 42, tzinfo=timezone(timedelta(hours=2))),
            "2023-02-24T13:37:42Z",
        ),
    ],
)
def test_format_rfc3339_writes_utc_with_z(moment: datetime, expected: str) -> None:
    assert format_rfc3339(moment) == expected


# --- integers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(1970, 1, 1, tzinfo=UTC), 0),
        (datetime(2023, 2, 24, 13, 37, 42, tzinfo=UTC), 0x63F8BDA6),
        (datetime(2023, 2, 24, 13, 37, 42, 999999, tzinfo=UTC), 0x63F8BDA6),
        (datetime(1970, 1, 1, 0, 0, 0, 999999, tzinfo=UTC), 0),
        # Truncation is toward the past, also before the epoch.
        (datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC), -1),
        (datetime(1970, 1, 1, 2, tzinfo=timezone(timedelta(hours=2))), 0),
    ],
)
def test_unix_seconds(moment: datetime, expected: int) -> None:
    assert unix_seconds(moment) == expected


@given(aware_datetimes)
def test_unix_seconds_is_the_whole_seconds_at_or_before_the_moment(moment: datetime) -> None:
    seconds = unix_seconds(moment)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert epoch + timedelta(seconds=seconds) <= moment < epoch + timedelta(seconds=seconds + 1)


def test_big_endian_integers() -> None:
    assert i64be(0x63F8BDA6) == bytes.fromhex("0000000063f8bda6")
    assert i64be(-1) == b"\xff" * 8
    assert i32be(1) == b"\x00\x00\x00\x01"
    assert i32be(-2) == b"\xff\xff\xff\xfe"


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_i64be_round_trip(value: int) -> None:
    raw = i64be(value)
    assert len(raw) == 8
    assert int.from_bytes(raw, "big", signed=True) == value
