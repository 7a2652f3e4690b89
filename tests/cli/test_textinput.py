"""Message text from a person: any bytes become a sendable text or a clear BadMessage,
and the limit a person is told is what really fits."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quietline.cli.textinput import (
    CHINESE_SAMPLE,
    ENGLISH_SAMPLE,
    MAX_INPUT_BYTES,
    BadMessage,
    capacity,
    decode_message,
    read_limited,
)
from quietline.protocol.pcs import PaddedCompressedString


@given(st.binary(max_size=4000))
def test_any_bytes_become_a_sendable_text_or_a_clear_error(raw: bytes) -> None:
    try:
        text = decode_message(raw)
    except BadMessage as error:
        refusal = str(error)
    else:
        refusal = ""
    if refusal:
        assert refusal.startswith("the message ")
        return
    assert text.strip()
    assert PaddedCompressedString.fits(text)
    assert PaddedCompressedString.from_text(text).text() == text
    assert raw.decode("utf-8").rstrip("\r\n") == text


@given(st.text(st.characters(codec="utf-8"), min_size=1, max_size=1500))
def test_text_that_fits_comes_back_as_written(text: str) -> None:
    text = text.rstrip("\r\n")
    fits = bool(text.strip()) and PaddedCompressedString.fits(text)
    if fits:
        assert decode_message(text.encode("utf-8") + b"\n") == text
    else:
        with pytest.raises(BadMessage):
            decode_message(text.encode("utf-8"))


@given(st.binary(min_size=1, max_size=200).filter(lambda raw: not _is_utf8(raw)))
def test_bytes_that_are_not_utf8_say_so_and_where(raw: bytes) -> None:
    with pytest.raises(BadMessage, match=r"not UTF-8 text \(byte \d+ of \d+ is not valid\)"):
        decode_message(raw)


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_the_stated_capacity_is_what_fits() -> None:
    limits = capacity()
    assert (limits.english, limits.chinese) == (900, 240)
    for sample, limit in ((ENGLISH_SAMPLE, limits.english), (CHINESE_SAMPLE, limits.chinese)):
        assert PaddedCompressedString.fits(sample[:limit])
        # "About": rounding down keeps the stated number within 10% of the true one.
        assert not PaddedCompressedString.fits(sample[: int(limit * 1.1)])


def test_too_long_text_is_told_the_limit_and_its_share() -> None:
    text = ENGLISH_SAMPLE + ENGLISH_SAMPLE[::-1]
    share = PaddedCompressedString.space_needed(text)
    with pytest.raises(BadMessage) as error:
        decode_message(text.encode())
    said = str(error.value)
    assert "about 900 characters of English text or 240 of Chinese" in said
    assert f"this one needs {share:.0%} of the space" in said


def test_more_than_any_message_can_hold_is_refused_before_decoding() -> None:
    with pytest.raises(BadMessage, match="more than 51,000 bytes"):
        decode_message(b"\xff" * (MAX_INPUT_BYTES + 1))


def test_reading_stops_one_byte_past_the_limit() -> None:
    stream = io.BytesIO(b"x" * (MAX_INPUT_BYTES * 3))
    assert len(read_limited(stream)) == MAX_INPUT_BYTES + 1
    assert read_limited(io.BytesIO(b"short")) == b"short"
