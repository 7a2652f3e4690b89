"""Secret key files: JSON, written 0600, whole, by an atomic rename.

A certified key file holds ``{"role", "secret", "published", "created_at"}``: the secret
half (an Ed25519 seed or an X25519 secret, hex), the published certified half, and when
the holder made it (rotation counts from then).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from quietline.protocol.certificates import KeyRole, SignedKey, require_object
from quietline.protocol.encoding import format_rfc3339, hex_decode, parse_rfc3339
from quietline.protocol.errors import MalformedInput
from quietline.protocol.keygen import CertifiedEncryptionKey, CertifiedKey, CertifiedSigningKey
from quietline.protocol.keys import EncryptionKeyPair, SigningKeyPair

AnyCertifiedKey = CertifiedSigningKey | CertifiedEncryptionKey


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``, readable by its owner only, never half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(handle, 0o600)
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_private_json(path: Path, document: object) -> None:
    write_private(path, json.dumps(document, indent=2).encode() + b"\n")


def write_public_json(path: Path, document: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def read_json(path: Path) -> Any:
    """Read a JSON file; raises MalformedInput on bad JSON (OSError passes through)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise MalformedInput(f"{path} is not a JSON file") from error


def certified_key_to_json(key: CertifiedKey[Any]) -> dict[str, Any]:
    secret = key.pair.seed if isinstance(key.pair, SigningKeyPair) else key.pair.secret
    return {
        "role": key.role.value,
        "secret": secret.hex(),
        "published": key.published.to_json(),
        "created_at": format_rfc3339(key.created_at),
    }


def certified_key_from_json(obj: object) -> AnyCertifiedKey:
    """Parse a certified key file; raises MalformedInput when the halves disagree."""
    fields = require_object(obj, "a certified key")
    try:
        role = KeyRole(fields.get("role"))
    except ValueError as error:
        raise MalformedInput("unknown key role") from error
    published = SignedKey.from_json(fields.get("published"))
    created_at = parse_rfc3339(fields.get("created_at"))
    secret = hex_decode(fields.get("secret"), 32)
    key: AnyCertifiedKey
    if role.is_encryption_key:
        key = CertifiedEncryptionKey(
            role, EncryptionKeyPair.from_secret(secret), published, created_at
        )
        public = key.pair.public.raw
    else:
        key = CertifiedSigningKey(role, SigningKeyPair.from_seed(secret), published, created_at)
        public = key.pair.public.raw
    if public != published.key:
        raise MalformedInput("the key file's secret does not match its published key")
    return key


def read_certified_key(path: Path) -> AnyCertifiedKey:
    return certified_key_from_json(read_json(path))


def read_signing_key(path: Path) -> CertifiedSigningKey:
    key = read_certified_key(path)
    if not isinstance(key, CertifiedSigningKey):
        raise MalformedInput(f"{path} holds a messaging key, not a signing key")
    return key
