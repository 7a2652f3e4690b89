"""A passphrase-encrypted vault of fixed size, rewritten whole: the desk's.

Layout: ``salt 16 ‖ nonce 24 ‖ secretbox(u32 length ‖ JSON ‖ random padding)``, the key
derived from the passphrase with Argon2id. Every vault of a given size has exactly that
many bytes whatever it holds, so its size says nothing of what it holds. (A source's
vault must also hide when it was used, and is re-randomised on a schedule:
:mod:`quietline.client.vault`.) The Argon2id costs here are shared by both.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.bindings as sodium
import nacl.exceptions
import nacl.pwhash
import nacl.utils

from quietline.keystore import write_private
from quietline.protocol.errors import MalformedInput, QuietlineError
from quietline.protocol.jsonvalues import load_json

SALT_LEN = 16
NONCE_LEN = 24
MAC_LEN = 16
HEADER_LEN = SALT_LEN + NONCE_LEN
LENGTH_LEN = 4


class VaultLocked(QuietlineError):
    """The passphrase does not open this vault (or there is no vault, which looks the same)."""


class VaultFull(QuietlineError):
    """The contents no longer fit in the vault's fixed size."""


@dataclass(frozen=True, slots=True)
class KdfCost:
    """Argon2id cost: MODERATE for people's devices, INTERACTIVE where speed matters more."""

    opslimit: int
    memlimit: int


MODERATE = KdfCost(nacl.pwhash.argon2id.OPSLIMIT_MODERATE, nacl.pwhash.argon2id.MEMLIMIT_MODERATE)
INTERACTIVE = KdfCost(
    nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE, nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE
)


class Vault:
    """One vault file of ``size`` bytes."""

    def __init__(self, path: Path, size: int, cost: KdfCost = MODERATE) -> None:
        if size < HEADER_LEN + MAC_LEN + LENGTH_LEN + 2:
            raise ValueError("a vault must be larger than its header")
        self.path = path
        self.size = size
        self.cost = cost

    def exists(self) -> bool:
        return self.path.exists()

    def _key(self, passphrase: str, salt: bytes) -> bytes:
        return bytes(
            nacl.pwhash.argon2id.kdf(
                32, passphrase.encode("utf-8"), salt, self.cost.opslimit, self.cost.memlimit
            )
        )

    def open(self, passphrase: str) -> tuple[dict[str, Any], bytes]:
        """The vault's contents and its derived key (to save again without re-deriving).

        Raises VaultLocked when the passphrase is wrong or the file is random.
        """
        raw = self.path.read_bytes()
        if len(raw) != self.size:
            raise VaultLocked("the vault file has the wrong size")
        salt = raw[:SALT_LEN]
        key = self._key(passphrase, salt)
        return self.open_with_key(key, raw), key

    def open_with_key(self, key: bytes, raw: bytes | None = None) -> dict[str, Any]:
        """The contents under an already derived ``key`` (of the file, or of ``raw``).

        Raises VaultLocked when the key does not open it or what it opens is not a JSON
        object of the length its header declares.
        """
        raw = self.path.read_bytes() if raw is None else raw
        nonce, box = raw[SALT_LEN:HEADER_LEN], raw[HEADER_LEN:]
        try:
            plain = bytes(sodium.crypto_secretbox_open(box, nonce, key))
        except (nacl.exceptions.CryptoError, nacl.exceptions.ValueError) as error:
            raise VaultLocked("the passphrase does not open this vault") from error
        # Authenticated is not well-formed: range-check the length before slicing by it.
        if len(plain) < LENGTH_LEN:
            raise VaultLocked("the vault holds no length")
        (length,) = struct.unpack_from(">I", plain)
        if length > len(plain) - LENGTH_LEN:
            raise VaultLocked("the vault's length runs past its end")
        try:
            contents = load_json(plain[LENGTH_LEN : LENGTH_LEN + length])
        except MalformedInput as error:
            raise VaultLocked("the vault holds no JSON") from error
        if not isinstance(contents, dict):
            raise VaultLocked("the vault holds no object")
        return contents

    def create(self, passphrase: str, contents: dict[str, Any]) -> bytes:
        """Write a new vault under ``passphrase``; returns its key for later saves."""
        salt = nacl.utils.random(SALT_LEN)
        key = self._key(passphrase, salt)
        self._write(salt, key, contents)
        return key

    def save(self, key: bytes, contents: dict[str, Any]) -> None:
        """Rewrite the whole vault with ``contents`` under the same salt and key.

        Raises VaultFull when the contents do not fit in the fixed size.
        """
        salt = self.path.read_bytes()[:SALT_LEN]
        self._write(salt, key, contents)

    def _write(self, salt: bytes, key: bytes, contents: dict[str, Any]) -> None:
        body = json.dumps(contents, separators=(",", ":")).encode("utf-8")
        room = self.size - HEADER_LEN - MAC_LEN - LENGTH_LEN
        if len(body) > room:
            raise VaultFull(f"the vault holds at most {room} bytes of contents")
        plain = struct.pack(">I", len(body)) + body + nacl.utils.random(room - len(body))
        nonce = nacl.utils.random(NONCE_LEN)
        write_private(self.path, salt + nonce + bytes(sodium.crypto_secretbox(plain, nonce, key)))
