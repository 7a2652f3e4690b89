"""Padded compressed string: a UTF-8 text gzipped and padded to a fixed length.

Layout: ``u16 big-endian length of the gzip stream ‖ the stream ‖ random padding``.
Decoding refuses a stream that inflates more than 100:1, so a hostile peer cannot
turn 512 bytes into a memory bomb; encoding refuses a text that would (say, a long run
of one character), since no recipient could read it.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import nacl.utils

from quietline.protocol.boxes import RandomBytes, require_length
from quietline.protocol.constants import MESSAGE_PADDING_LEN, PCS_MAX_DECOMPRESSION_RATIO
from quietline.protocol.errors import MalformedInput, MessageTooLong

_HEADER_LEN = 2
# The most gzip bytes one message holds.
MAX_STREAM_LEN = MESSAGE_PADDING_LEN - _HEADER_LEN


def _gzip(text: str) -> bytes:
    # zlib's own gzip wrapper: no file name, mtime 0 and the same header bytes whatever
    # the Python version, so equal texts compress to equal streams everywhere.
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return compressor.compress(text.encode("utf-8")) + compressor.flush()


@dataclass(frozen=True, slots=True)
class PaddedCompressedString:
    """The 512 bytes of a padded compressed string, as sent."""

    raw: bytes

    def __post_init__(self) -> None:
        require_length(self.raw, MESSAGE_PADDING_LEN, "a padded compressed string")

    @classmethod
    def from_text(
        cls, text: str, random_bytes: RandomBytes = nacl.utils.random
    ) -> PaddedCompressedString:
        """Compress and pad ``text``; raises MessageTooLong when it cannot fit."""
        stream = _gzip(text)
        free = MAX_STREAM_LEN - len(stream)
        if free < 0:
            raise MessageTooLong(
                f"the message compresses to {len(stream)} bytes; at most {MAX_STREAM_LEN} fit"
            )
        if _inflates_too_much(text, stream):
            raise MessageTooLong(
                "the message repeats itself so much that it inflates more than "
                f"{PCS_MAX_DECOMPRESSION_RATIO}:1, which no recipient unpacks"
            )
        return cls(struct.pack(">H", len(stream)) + stream + random_bytes(free))

    @classmethod
    def fits(cls, text: str) -> bool:
        """Whether ``text`` fits in one message (and a recipient would unpack it)."""
        stream = _gzip(text)
        return len(stream) <= MAX_STREAM_LEN and not _inflates_too_much(text, stream)

    @staticmethod
    def space_needed(text: str) -> float:
        """The share of one message's space ``text`` takes after compression (at most 1.0
        fits, unless the text inflates more than 100:1: see :meth:`fits`)."""
        return len(_gzip(text)) / MAX_STREAM_LEN

    def text(self) -> str:
        """The text; raises MalformedInput on a bad length, stream, ratio or encoding."""
        (length,) = struct.unpack_from(">H", self.raw)
        if length == 0 or length > MAX_STREAM_LEN:
            raise MalformedInput("padded compressed string has an impossible length")
        stream = self.raw[_HEADER_LEN : _HEADER_LEN + length]
        limit = length * PCS_MAX_DECOMPRESSION_RATIO
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            data = inflater.decompress(stream, limit + 1)
        except zlib.error as error:
            raise MalformedInput("padded compressed string is not a gzip stream") from error
        if len(data) > limit:
            raise MalformedInput("padded compressed string inflates more than 100:1")
        if not inflater.eof or inflater.unused_data:
            raise MalformedInput("padded compressed string has a truncated or trailing stream")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise MalformedInput("padded compressed string is not UTF-8") from error

    def __repr__(self) -> str:
        return "PaddedCompressedString(…)"


def _inflates_too_much(text: str, stream: bytes) -> bool:
    return len(text.encode("utf-8")) > len(stream) * PCS_MAX_DECOMPRESSION_RATIO
