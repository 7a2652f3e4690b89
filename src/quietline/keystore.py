"""Secret key files: JSON, written 0600, whole, by an atomic rename.

A certified key file holds ``{"role", "secret", "published", "created_at"}``: the secret
half (an Ed25519 seed or an X25519 secret, hex), the published certified half, and when
the holder made it (rotation counts from then). A recipient :class:`Bundle` is what the
admin hands a desk: a profile, an identity key and a first messaging key.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from quietline.protocol.certificates import KeyRole, SignedKey
from quietline.protocol.encoding import format_rfc3339, hex_decode, parse_rfc3339
from quietline.protocol.errors import MalformedInput
from quietline.protocol.hierarchy import JournalistProfile
from quietline.protocol.jsonvalues import load_json, require_bool, require_object
from quietline.protocol.keygen import (
    AnyCertifiedKey,
    CertifiedEncryptionKey,
    CertifiedKey,
    CertifiedSigningKey,
)
from quietline.protocol.keys import EncryptionKeyPair, SigningKeyPair

T = TypeVar("T")


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


def read_json(path: Path) -> object:
    """Read a JSON file; raises MalformedInput on bad JSON (OSError passes through)."""
    try:
        return load_json(path.read_bytes())
    except MalformedInput as error:
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


def signing_key_from_json(obj: object, role: KeyRole) -> CertifiedSigningKey:
    """Parse a certified signing key of ``role``; raises MalformedInput on another."""
    key = certified_key_from_json(obj)
    if not isinstance(key, CertifiedSigningKey) or key.role is not role:
        raise MalformedInput(f"holds a {key.role.value} key, not a {role.value} key")
    return key


def encryption_key_from_json(obj: object, role: KeyRole) -> CertifiedEncryptionKey:
    """Parse a certified messaging key of ``role``; raises MalformedInput on another."""
    key = certified_key_from_json(obj)
    if not isinstance(key, CertifiedEncryptionKey) or key.role is not role:
        raise MalformedInput(f"holds a {key.role.value} key, not a {role.value} key")
    return key


def read_file(path: Path, parse: Callable[[object], T]) -> T:
    """``parse`` of the JSON in ``path``; raises MalformedInput naming the file when it
    holds anything else (OSError passes through)."""
    try:
        return parse(read_json(path))
    except MalformedInput as error:
        raise MalformedInput(f"{path}: {error}") from None


def read_signing_key(path: Path, role: KeyRole) -> CertifiedSigningKey:
    """The signing key of ``role`` in ``path`` (see :func:`read_file`)."""
    return read_file(path, lambda obj: signing_key_from_json(obj, role))


def read_encryption_key(path: Path, role: KeyRole) -> CertifiedEncryptionKey:
    """The messaging key of ``role`` in ``path`` (see :func:`read_file`)."""
    return read_file(path, lambda obj: encryption_key_from_json(obj, role))


@dataclass(frozen=True, slots=True)
class Bundle:
    """What a desk needs to act as one recipient, as ``quietline admin enroll`` writes it."""

    profile: JournalistProfile
    identity: CertifiedSigningKey
    messaging: CertifiedEncryptionKey
    default: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "profile": self.profile.to_json(),
            "identity": certified_key_to_json(self.identity),
            "messaging": certified_key_to_json(self.messaging),
            "default": self.default,
        }

    @classmethod
    def from_json(cls, obj: object) -> Bundle:
        """Parse a bundle; raises MalformedInput when a key has the wrong role."""
        fields = require_object(obj, "a recipient bundle")
        return cls(
            JournalistProfile.from_json(fields.get("profile")),
            signing_key_from_json(fields.get("identity"), KeyRole.JOURNALIST_ID),
            encryption_key_from_json(fields.get("messaging"), KeyRole.JOURNALIST_MSG),
            require_bool(fields.get("default", False), "default"),
        )


def read_bundle(path: Path) -> Bundle:
    """The bundle in ``path`` (see :func:`read_file`)."""
    return read_file(path, Bundle.from_json)
