"""CoverDrop's JSON shapes for key pairs: ``{"public_key": {"key": hex}, "secret_key": hex}``."""

from __future__ import annotations

from typing import Any

from quietline.protocol.encoding import hex_decode
from quietline.protocol.errors import MalformedInput
from quietline.protocol.jsonvalues import require_object
from quietline.protocol.keys import EncryptionKeyPair


def encryption_key_pair_from_json(obj: object) -> EncryptionKeyPair:
    """Parse an X25519 key pair; raises MalformedInput when the halves do not match."""
    fields = require_object(obj, "a key pair")
    public = hex_decode(require_object(fields.get("public_key"), "public_key").get("key"), 32)
    pair = EncryptionKeyPair.from_secret(hex_decode(fields.get("secret_key"), 32))
    if pair.public.raw != public:
        raise MalformedInput("the key pair's public key does not match its secret key")
    return pair


def encryption_key_pair_to_json(pair: EncryptionKeyPair) -> dict[str, Any]:
    return {"public_key": {"key": pair.public.hex()}, "secret_key": pair.secret.hex()}
