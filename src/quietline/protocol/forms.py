"""Signed forms: a JSON body, the signing key and an Ed25519 signature over the body.

Services authenticate their writes to the edge with them (a journalist posting a J2C,
the mixer pulling its queue, the admin publishing a profile). The body carries the
time it was signed; a form older than ``max_age`` or from the future is refused, which
bounds how long a captured form can be replayed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from quietline.protocol.constants import ED25519_PUBLIC_KEY_LEN, ED25519_SIGNATURE_LEN
from quietline.protocol.encoding import (
    b64_decode,
    b64_encode,
    format_rfc3339,
    hex_decode,
    parse_rfc3339,
)
from quietline.protocol.errors import KeyExpired, MalformedInput, UntrustedKey
from quietline.protocol.jsonvalues import load_json, require_object
from quietline.protocol.keys import PublicSigningKey, SigningKeyPair

FORM_MAX_AGE = timedelta(minutes=5)
FORM_MAX_SKEW = timedelta(minutes=1)
FORM_MAX_BODY = 64 * 1024


@dataclass(frozen=True, slots=True)
class SignedForm:
    body: bytes
    signing_key: PublicSigningKey
    signature: bytes

    @classmethod
    def from_json(cls, obj: object) -> SignedForm:
        """Parse ``{"body", "signing_pk", "signature"}``; raises MalformedInput."""
        fields = require_object(obj, "a signed form")
        body = b64_decode(fields.get("body"))
        if len(body) > FORM_MAX_BODY:
            raise MalformedInput("a signed form body is at most 64 KiB")
        return cls(
            body,
            PublicSigningKey(hex_decode(fields.get("signing_pk"), ED25519_PUBLIC_KEY_LEN)),
            hex_decode(fields.get("signature"), ED25519_SIGNATURE_LEN),
        )

    def to_json(self) -> dict[str, str]:
        return {
            "body": b64_encode(self.body),
            "signing_pk": self.signing_key.hex(),
            "signature": self.signature.hex(),
        }


def sign_form(payload: Mapping[str, Any], key: SigningKeyPair, now: datetime) -> SignedForm:
    """Sign ``payload`` (JSON-serialisable) with the time ``now``."""
    body = json.dumps({**payload, "signed_at": format_rfc3339(now)}, sort_keys=True).encode()
    return SignedForm(body, key.public, key.sign(body))


def open_form(
    form: SignedForm,
    allowed: Iterable[PublicSigningKey],
    now: datetime,
    max_age: timedelta = FORM_MAX_AGE,
) -> dict[str, Any]:
    """The payload of a form signed by one of ``allowed`` within ``max_age`` of ``now``.

    Raises UntrustedKey for a key not allowed, BadSignature, KeyExpired for a stale or
    future form, MalformedInput for a body that is not a JSON object with ``signed_at``.
    """
    if form.signing_key not in set(allowed):
        raise UntrustedKey("the form is signed by a key not allowed to send it")
    form.signing_key.verify(form.body, form.signature)
    fields = require_object(load_json(form.body), "a signed form body")
    signed_at = parse_rfc3339(fields.pop("signed_at", None))
    if signed_at < now - max_age or signed_at > now + FORM_MAX_SKEW:
        raise KeyExpired("the signed form is stale or from the future")
    return fields
