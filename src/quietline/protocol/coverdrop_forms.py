"""CoverDrop's signed ``Form``, as its journalist client and admin tools post them.

CoverDrop (``common/src/form.rs``) serialises a form as ``{"body": base64 (padded) of the
form data's JSON, "signature": hex, "created_at", "not_valid_after": RFC 3339,
"signing_pk": hex}``. The Ed25519 signature is over the body bytes followed by both
timestamps as chrono's ``to_rfc3339()`` writes them: UTC with ``+00:00`` and the fraction
in 0, 3, 6 or 9 digits, the fewest that hold it exactly. The timestamps in the JSON carry
``Z`` instead (chrono's serde format), and a client may send nanoseconds, so each is kept
to the nanosecond here, as text would lose it.

A form is accepted (``Form::to_verified_form_data``) when its signing key is one the
reader trusts for the form's role, ``now`` is not after ``not_valid_after`` and the
signature verifies. Quietline adds one rule CoverDrop's clients always meet: a form may
not be valid for longer than ``FORM_TTL`` after it was made (``DEFAULT_FORM_TTL``, the
lifetime every CoverDrop client gives the forms Quietline reads), which bounds how long a
captured form can be replayed.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from quietline.protocol.constants import ED25519_PUBLIC_KEY_LEN, ED25519_SIGNATURE_LEN
from quietline.protocol.encoding import b64_decode, hex_decode, parse_rfc3339
from quietline.protocol.errors import KeyExpired, MalformedInput, UntrustedKey
from quietline.protocol.forms import FORM_MAX_BODY
from quietline.protocol.jsonvalues import require_object
from quietline.protocol.keys import PublicSigningKey, SigningKeyPair

FORM_TTL = timedelta(hours=1)
FIELDS = frozenset({"body", "signature", "created_at", "not_valid_after", "signing_pk"})
_FRACTION = re.compile(r"\.(\d{1,9})(?=[Zz+-])")
_NANOS_PER_MICRO = 1000


@dataclass(frozen=True, slots=True, order=True)
class Instant:
    """A moment as chrono's ``DateTime<Utc>`` holds it: whole seconds (UTC) and the
    nanoseconds past them."""

    seconds: datetime
    nanos: int

    def __post_init__(self) -> None:
        if self.seconds.microsecond or not 0 <= self.nanos < 10**9:
            raise MalformedInput("an instant is whole seconds and nanoseconds below one second")

    @classmethod
    def parse(cls, text: object) -> Instant:
        """An RFC 3339 timestamp with any offset; raises MalformedInput."""
        moment = parse_rfc3339(text)
        fraction = _FRACTION.search(str(text))
        digits = fraction.group(1) if fraction else ""
        return cls(moment.replace(microsecond=0), int(digits.ljust(9, "0") or "0"))

    @classmethod
    def of(cls, moment: datetime) -> Instant:
        """``moment`` (aware) to the microsecond."""
        utc = moment.astimezone(UTC)
        return cls(utc.replace(microsecond=0), utc.microsecond * _NANOS_PER_MICRO)

    @property
    def moment(self) -> datetime:
        """The moment, to the microsecond (nanoseconds truncated), for comparisons."""
        return self.seconds + timedelta(microseconds=self.nanos // _NANOS_PER_MICRO)

    def _text(self, zone: str) -> str:
        base = self.seconds.replace(tzinfo=None).isoformat()
        if self.nanos == 0:
            return base + zone
        for digits in (3, 6, 9):
            unit = 10 ** (9 - digits)
            if self.nanos % unit == 0:
                return f"{base}.{self.nanos // unit:0{digits}d}{zone}"
        raise AssertionError("unreachable: nine digits hold every nanosecond count")

    def signed_text(self) -> str:
        """As chrono's ``to_rfc3339()``: the form the signature covers."""
        return self._text("+00:00")

    def json_text(self) -> str:
        """As chrono's serde writes a ``DateTime<Utc>``."""
        return self._text("Z")


@dataclass(frozen=True, slots=True)
class CoverDropForm:
    """One CoverDrop ``Form``: the form data's JSON bytes, signed with its lifetime."""

    body: bytes
    signature: bytes
    created_at: Instant
    not_valid_after: Instant
    signing_key: PublicSigningKey

    def signed_bytes(self) -> bytes:
        """What the signature covers."""
        return _signed_bytes(self.body, self.created_at, self.not_valid_after)

    @classmethod
    def from_json(cls, obj: object) -> CoverDropForm:
        """Parse a form, refusing unknown fields as CoverDrop does; raises MalformedInput."""
        fields = require_object(obj, "a CoverDrop form")
        if set(fields) != FIELDS:
            raise MalformedInput(f"a CoverDrop form has exactly the fields {sorted(FIELDS)}")
        body = b64_decode(fields["body"])
        if len(body) > FORM_MAX_BODY:
            raise MalformedInput("a signed form body is at most 64 KiB")
        return cls(
            body,
            hex_decode(fields["signature"], ED25519_SIGNATURE_LEN),
            Instant.parse(fields["created_at"]),
            Instant.parse(fields["not_valid_after"]),
            PublicSigningKey(hex_decode(fields["signing_pk"], ED25519_PUBLIC_KEY_LEN)),
        )

    def to_json(self) -> dict[str, Any]:
        """As CoverDrop serialises it (padded base64 body, ``Z`` timestamps)."""
        return {
            "body": base64.b64encode(self.body).decode("ascii"),
            "signature": self.signature.hex(),
            "created_at": self.created_at.json_text(),
            "not_valid_after": self.not_valid_after.json_text(),
            "signing_pk": self.signing_key.hex(),
        }


def _signed_bytes(body: bytes, created_at: Instant, not_valid_after: Instant) -> bytes:
    """``Form::new_signing_buf``: the body, then both times as ``to_rfc3339()`` writes them."""
    return body + (created_at.signed_text() + not_valid_after.signed_text()).encode()


def is_coverdrop_form(obj: object) -> bool:
    """Whether ``obj`` is shaped as a CoverDrop form rather than one of Quietline's."""
    return isinstance(obj, dict) and "not_valid_after" in obj


def sign_coverdrop_form(
    body: bytes, key: SigningKeyPair, now: datetime, ttl: timedelta = FORM_TTL
) -> CoverDropForm:
    """A form over ``body`` made at ``now``, valid for ``ttl`` (``Form::new_from_form_data``)."""
    created_at = Instant.of(now)
    not_valid_after = Instant.of(now + ttl)
    signature = key.sign(_signed_bytes(body, created_at, not_valid_after))
    return CoverDropForm(body, signature, created_at, not_valid_after, key.public)


def open_coverdrop_form(
    form: CoverDropForm, allowed: Iterable[PublicSigningKey], now: datetime
) -> bytes:
    """The form data (JSON bytes) of a form signed by one of ``allowed`` and valid at ``now``.

    Raises UntrustedKey for a key not allowed, KeyExpired for a form past its
    ``not_valid_after`` or valid for longer than FORM_TTL, BadSignature.
    """
    if form.signing_key not in set(allowed):
        raise UntrustedKey("the form is signed by a key not allowed to send it")
    if now > form.not_valid_after.moment:
        raise KeyExpired("the signed form is past its not_valid_after")
    if form.not_valid_after.moment - form.created_at.moment > FORM_TTL:
        raise KeyExpired("a signed form may be valid for at most an hour after it was made")
    form.signing_key.verify(form.signed_bytes(), form.signature)
    return form.body
