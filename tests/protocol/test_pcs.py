"""Tests for quietline.protocol.pcs: the padded compressed string (PCS).

Round trips and the 512-byte size under Hypothesis; a hand-built gzip stream pins
the 100:1 decompression limit exactly; every malformed PCS raises MalformedInput.
"""

import contextlib
import gzip
import random
import struct
import zlib

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from quietline.protocol.constants import MESSAGE_PADDING_LEN
from quietline.protocol.errors import MalformedInput, MessageTooLong
from quietline.protocol.pcs import PaddedCompressedString

MAX_STREAM = MESSAGE_PADDING_LEN - 2  # 510


def zeros(n: int) -> bytes:
    return bytes(n)


def gzip_stream(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


def pcs_of_stream(stream: bytes, declared: int | None = None, filler: int = 0) -> bytes:
    """512 raw bytes: a declared length (default: the stream's), the stream, then filler."""
    length = len(stream) if declared is None else declared
    body = struct.pack(">H", length) + stream
    return body + bytes([filler]) * (MESSAGE_PADDING_LEN - len(body))


def gzip_stream_of_length(data: bytes, total: int) -> bytes:
    """A valid gzip member of exactly ``total`` bytes, padded out with a header comment."""
    deflated = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = deflated.compress(data) + deflated.flush()
    comment_len = total - 10 - 1 - len(body) - 8
    assert comment_len >= 0
    header = b"\x1f\x8b\x08\x10" + bytes(4) + b"\x02\xff" + b"c" * comment_len + b"\x00"
    trailer = struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)
    return header + body + trailer


def incompressible_text(seed: int) -> str:
    return random.Random(seed).randbytes(2000).hex()


# --- round trips and sizes ----------------------------------------------------------------


@settings(max_examples=200)
@given(st.text(max_size=1200))
def test_round_trip_for_text_that_fits(text: str) -> None:
    assume(PaddedCompressedString.fits(text))
    pcs = PaddedCompressedString.from_text(text)
    assert len(pcs.raw) == MESSAGE_PADDING_LEN
    assert pcs.text() == text
    assert PaddedCompressedString(pcs.raw).text() == text


@given(st.text(max_size=3000))
def test_fits_agrees_with_from_text(text: str) -> None:
    if PaddedCompressedString.fits(text):
        assert len(PaddedCompressedString.from_text(text, zeros).raw) == MESSAGE_PADDING_LEN
    else:
        with pytest.raises(MessageTooLong):
            PaddedCompressedString.from_text(text, zeros)


@pytest.mark.parametrize("seed", range(3))
def test_incompressible_text_is_too_long(seed: int) -> None:
    text = incompressible_text(seed)
    assert not PaddedCompressedString.fits(text)
    with pytest.raises(MessageTooLong):
        PaddedCompressedString.from_text(text)


def test_long_but_compressible_text_fits() -> None:
    text = "Quietline " * 500
    assert PaddedCompressedString.fits(text)
    assert PaddedCompressedString.from_text(text).text() == text


def test_empty_text_round_trips() -> None:
    assert PaddedCompressedString.from_text("").text() == ""


@given(st.text(max_size=300))
def test_layout_is_length_then_gzip_stream_then_requested_padding(text: str) -> None:
    requested: list[int] = []

    def recording_random(n: int) -> bytes:
        requested.append(n)
        return b"\xaa" * n

    stream = gzip_stream(text.encode("utf-8"))
    assume(len(stream) <= MAX_STREAM)
    raw = PaddedCompressedString.from_text(text, recording_random).raw
    assert raw[:2] == struct.pack(">H", len(stream))
    assert raw[2 : 2 + len(stream)] == stream
    assert requested == [MAX_STREAM - len(stream)]
    assert raw[2 + len(stream) :] == b"\xaa" * requested[0]


def test_fixed_randomness_gives_reproducible_bytes() -> None:
    first = PaddedCompressedString.from_text("a reproducible message", zeros)
    second = PaddedCompressedString.from_text("a reproducible message", zeros)
    assert first == second


def test_only_the_padding_differs_with_real_randomness() -> None:
    first = PaddedCompressedString.from_text("hello")
    second = PaddedCompressedString.from_text("hello")
    used = 2 + struct.unpack(">H", first.raw[:2])[0]
    # gzip's mtime is pinned to 0, so the stream itself never varies.
    assert first.raw[:used] == second.raw[:used]
    assert first.raw[used:] != second.raw[used:]


def test_repr_hides_the_text() -> None:
    pcs = PaddedCompressedString.from_text("a secret source name")
    assert "secret" not in repr(pcs)
    assert "secret" not in str(pcs)


# --- malformed input ----------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 511, 513, 1024])
def test_wrong_size_is_malformed(size: int) -> None:
    with pytest.raises(MalformedInput):
        PaddedCompressedString(bytes(size))


@pytest.mark.parametrize("declared", [0, MAX_STREAM + 1, 0xFFFF])
def test_impossible_declared_length_is_malformed(declared: int) -> None:
    raw = pcs_of_stream(gzip_stream(b"hello"), declared=declared)
    with pytest.raises(MalformedInput, match="impossible length"):
        PaddedCompressedString(raw).text()


@pytest.mark.parametrize(
    "stream",
    [
        zlib.compress(b"a zlib stream is not a gzip stream"),
        b"plain text, not compressed at all",
        bytes(40),
    ],
)
def test_non_gzip_stream_is_malformed(stream: bytes) -> None:
    with pytest.raises(MalformedInput):
        PaddedCompressedString(pcs_of_stream(stream)).text()


def test_corrupted_checksum_is_malformed() -> None:
    stream = bytearray(gzip_stream(b"hello, checksum"))
    stream[-8] ^= 0x01  # first byte of the CRC-32 trailer
    with pytest.raises(MalformedInput, match="not a gzip stream"):
        PaddedCompressedString(pcs_of_stream(bytes(stream))).text()


def test_a_decompression_bomb_is_malformed() -> None:
    stream = gzip_stream(bytes(60_000))
    assert len(stream) <= MAX_STREAM
    with pytest.raises(MalformedInput, match="inflates more than 100:1"):
        PaddedCompressedString(pcs_of_stream(stream)).text()


def test_exactly_100_to_1_is_accepted() -> None:
    stream = gzip_stream_of_length(bytes(6000), 60)
    assert len(stream) == 60
    assert PaddedCompressedString(pcs_of_stream(stream)).text() == "\x00" * 6000


def test_just_over_100_to_1_is_malformed() -> None:
    stream = gzip_stream_of_length(bytes(6001), 60)
    assert len(stream) == 60
    with pytest.raises(MalformedInput, match="inflates more than 100:1"):
        PaddedCompressedString(pcs_of_stream(stream)).text()


def test_trailing_garbage_inside_the_declared_length_is_malformed() -> None:
    stream = gzip_stream(b"hello") + b"garbage"
    with pytest.raises(MalformedInput, match="trailing"):
        PaddedCompressedString(pcs_of_stream(stream)).text()


def test_a_second_gzip_member_is_malformed() -> None:
    stream = gzip_stream(b"hello") + gzip_stream(b"world")
    with pytest.raises(MalformedInput, match="trailing"):
        PaddedCompressedString(pcs_of_stream(stream)).text()


def test_declared_length_shorter_than_the_stream_is_malformed() -> None:
    stream = gzip_stream(b"a message long enough to be cut short")
    raw = pcs_of_stream(stream, declared=len(stream) - 4)
    with pytest.raises(MalformedInput, match="truncated"):
        PaddedCompressedString(raw).text()


@pytest.mark.parametrize("content", [b"\xff\xfe", b"caf\xe9", b"\xed\xa0\x80"])
def test_non_utf8_content_is_malformed(content: bytes) -> None:
    with pytest.raises(MalformedInput, match="not UTF-8"):
        PaddedCompressedString(pcs_of_stream(gzip_stream(content))).text()


@settings(max_examples=300)
@given(st.binary(min_size=MESSAGE_PADDING_LEN, max_size=MESSAGE_PADDING_LEN))
def test_any_512_bytes_give_text_or_malformed(raw: bytes) -> None:
    with contextlib.suppress(MalformedInput):
        assert isinstance(PaddedCompressedString(raw).text(), str)


@settings(max_examples=300)
@given(st.binary(max_size=300), st.integers(min_value=0, max_value=0xFFFF))
def test_gzip_shaped_garbage_gives_text_or_malformed(tail: bytes, declared: int) -> None:
    # A gzip header makes Hypothesis explore inflate errors rather than header errors.
    stream = b"\x1f\x8b\x08\x00" + bytes(4) + b"\x02\xff" + tail
    raw = pcs_of_stream(stream, declared=declared)
    with contextlib.suppress(MalformedInput):
        assert isinstance(PaddedCompressedString(raw).text(), str)


# --- what the encoder refuses -----------------------------------------------------------


def test_a_text_no_recipient_would_unpack_does_not_fit() -> None:
    # 100,000 bytes of one character compress to about 130 bytes: 750:1, over the limit
    # every recipient applies, so sending it would only lose it.
    text = "a" * 100_000
    assert PaddedCompressedString.space_needed(text) < 1.0
    assert not PaddedCompressedString.fits(text)
    with pytest.raises(MessageTooLong, match="inflates more than 100:1"):
        PaddedCompressedString.from_text(text, zeros)


@given(st.text(max_size=1200))
def test_space_needed_is_the_compressed_share_of_the_message(text: str) -> None:
    needed = PaddedCompressedString.space_needed(text)
    assert needed == len(gzip_stream(text.encode("utf-8"))) / MAX_STREAM
    if PaddedCompressedString.fits(text):
        assert needed <= 1.0
