"""Text encodings used on the wire: hex keys, unpadded base64, RFC 3339 times."""

import base64
import binascii
import re
import struct
from datetime import UTC, datetime, timedelta

from quietline.protocol.errors import MalformedInput

_RFC3339 = re.compile(
    r"(?P<main>\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2})"
    r"(?:\.(?P<frac>\d{1,9}))?"
    r"(?P<tz>[Zz]|[+-]\d{2}:\d{2})"
)
UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HEX = re.compile(r"[0-9a-fA-F]*")
_B64 = re.compile(r"[A-Za-z0-9+/]*")


def hex_decode(text: object, length: int | None = None) -> bytes:
    """Decode lowercase or uppercase hex; raise MalformedInput on anything else."""
    if not isinstance(text, str) or len(text) % 2 or not _HEX.fullmatch(text):
        raise MalformedInput("expected a hex string")
    raw = bytes.fromhex(text)
    if length is not None and len(raw) != length:
        raise MalformedInput(f"expected {length} bytes of hex, got {len(raw)}")
    return raw


def b64_encode(data: bytes) -> str:
    """Standard base64 without padding, as CoverDrop writes it."""
    return base64.b64encode(data).decode("ascii").rstrip("=")


def b64_decode(text: object) -> bytes:
    """Decode standard base64 without padding (padding tolerated); strict alphabet."""
    if not isinstance(text, str):
        raise MalformedInput("expected a base64 string")
    body = text.rstrip("=")
    if len(text) - len(body) > 2 or not _B64.fullmatch(body) or len(body) % 4 == 1:
        raise MalformedInput("expected standard base64 without padding")
    try:
        return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except binascii.Error as error:
        raise MalformedInput("expected standard base64 without padding") from error


def parse_rfc3339(text: object) -> datetime:
    """Parse an RFC 3339 timestamp with a zone into an aware UTC datetime.

    Fractions beyond microseconds (CoverDrop writes nanoseconds) are truncated.
    """
    match = _RFC3339.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise MalformedInput("expected an RFC 3339 timestamp with a time zone")
    frac = (match["frac"] or "")[:6].ljust(6, "0")
    tz = "+00:00" if match["tz"] in "Zz" else match["tz"]
    try:
        return datetime.fromisoformat(f"{match['main'].upper()}.{frac}{tz}").astimezone(UTC)
    except (ValueError, OverflowError) as error:
        raise MalformedInput("timestamp out of range") from error


def format_rfc3339(moment: datetime) -> str:
    """Format an aware datetime as RFC 3339 in UTC with a ``Z``."""
    text = moment.astimezone(UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"


def unix_seconds(moment: datetime) -> int:
    """Whole seconds since the epoch, truncated toward the past (as certificates sign)."""
    return (moment - UNIX_EPOCH) // timedelta(seconds=1)


def unix_micros(moment: datetime) -> int:
    """Whole microseconds since the epoch: how stores keep a moment exactly, as an integer."""
    return (moment - UNIX_EPOCH) // timedelta(microseconds=1)


def from_unix_micros(micros: int) -> datetime:
    """The moment :func:`unix_micros` gave ``micros`` for, in UTC."""
    return UNIX_EPOCH + timedelta(microseconds=micros)


def i64be(value: int) -> bytes:
    return struct.pack(">q", value)


def i32be(value: int) -> bytes:
    return struct.pack(">i", value)
