"""The source's vault: fixed size, sealed under its passphrase, re-randomisable by anyone.

Layout (all of it the same size and shape on every installation)::

    salt 16 ‖ Argon2id opslimit u32 ‖ memlimit u32 ‖ N blocks of 128 bytes

The blocks are universal re-encryption ciphertexts (:mod:`quietline.protocol.reencryption`)
of ``N x 29`` bytes: ``nonce 24 ‖ secretbox(u32 length ‖ contents ‖ random padding)``.
Argon2id turns the passphrase and salt into 96 bytes: the secretbox key, then 64 bytes
reduced to the scalar whose public key the blocks are under.

Why two layers: the secretbox authenticates the contents (a changed block or a wrong
passphrase never opens), and the block layer lets the background client rewrite the
vault on its schedule without the passphrase: :func:`rerandomise` gives bytes unrelated
to the last ones whether or not anyone changed the contents. A new installation seals
random contents under a random key nobody ever sees (:func:`install`), so a vault nobody
used and one under a passphrase someone forgot answer the same: they do not open.

Pure functions on bytes; the client's storage reads and writes the file.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import nacl.bindings as sodium
import nacl.exceptions
import nacl.pwhash
import nacl.utils

from quietline.protocol import reencryption
from quietline.protocol.errors import MalformedInput, QuietlineError
from quietline.vault import MODERATE, KdfCost

SALT_LEN = 16
HEADER_LEN = SALT_LEN + 8
NONCE_LEN = 24
MAC_LEN = 16
LENGTH_LEN = 4
DEFAULT_BLOCKS = 512
# Argon2id costs outside these bounds are refused when a header is read: a damaged or
# planted header must not make an unlock run for hours or allocate the machine's memory.
MAX_OPSLIMIT = 64
MAX_MEMLIMIT = 4 * 1024 * 1024 * 1024 - 1


class VaultLocked(QuietlineError):
    """The passphrase does not open this vault (or nobody ever used it: the same answer)."""


class VaultDamaged(QuietlineError):
    """The file is not a vault of this shape: the wrong size or not made of points."""


@dataclass(frozen=True, slots=True)
class VaultKey:
    """What a passphrase opens: the secretbox key and the block layer's secret scalar
    (never in a repr, so never in a traceback or a log line)."""

    box: bytes = field(repr=False)
    scalar: bytes = field(repr=False)

    @property
    def public(self) -> bytes:
        return reencryption.public_key(self.scalar)

    @classmethod
    def derive(cls, passphrase: str, raw: bytes) -> VaultKey:
        """Argon2id of ``passphrase`` with the salt and cost in ``raw``'s header."""
        salt, cost = header(raw)
        material = nacl.pwhash.argon2id.kdf(
            96, passphrase.encode("utf-8"), salt, cost.opslimit, cost.memlimit
        )
        return cls(bytes(material[:32]), reencryption.scalar_from(bytes(material[32:])))

    @classmethod
    def random(cls) -> VaultKey:
        """A key no passphrase gives: what a new installation seals its vault under."""
        return cls(nacl.utils.random(32), reencryption.random_scalar())


def size(blocks: int = DEFAULT_BLOCKS) -> int:
    """The file size of a vault of ``blocks`` blocks."""
    return HEADER_LEN + blocks * reencryption.BLOCK_LEN


def capacity(blocks: int = DEFAULT_BLOCKS) -> int:
    """How many bytes of contents a vault of ``blocks`` blocks holds."""
    return blocks * reencryption.BLOCK_DATA - NONCE_LEN - MAC_LEN - LENGTH_LEN


def header(raw: bytes) -> tuple[bytes, KdfCost]:
    """The salt and Argon2id cost of a vault; VaultDamaged when the header is impossible."""
    if len(raw) < HEADER_LEN:
        raise VaultDamaged("the vault is shorter than its header")
    opslimit, memlimit = struct.unpack_from(">II", raw, SALT_LEN)
    if not (
        nacl.pwhash.argon2id.OPSLIMIT_MIN <= opslimit <= MAX_OPSLIMIT
        and nacl.pwhash.argon2id.MEMLIMIT_MIN <= memlimit <= MAX_MEMLIMIT
    ):
        raise VaultDamaged("the vault's key derivation cost is out of range")
    return raw[:SALT_LEN], KdfCost(opslimit, memlimit)


def install(blocks: int = DEFAULT_BLOCKS, cost: KdfCost = MODERATE) -> bytes:
    """A new installation's vault: a fresh salt, random contents under a random key."""
    prefix = nacl.utils.random(SALT_LEN) + struct.pack(">II", cost.opslimit, cost.memlimit)
    inner = nacl.utils.random(blocks * reencryption.BLOCK_DATA)
    return prefix + _blocks(VaultKey.random().public, inner)


def seal(key: VaultKey, like: bytes, contents: bytes) -> bytes:
    """A fresh vault holding ``contents`` under ``key``, with ``like``'s header and size.

    Raises ValueError when the contents do not fit (see :func:`capacity`).
    """
    blocks = block_count(like)
    room = capacity(blocks)
    if len(contents) > room:
        raise ValueError(f"the vault holds at most {room} bytes")
    plain = struct.pack(">I", len(contents)) + contents + nacl.utils.random(room - len(contents))
    nonce = nacl.utils.random(NONCE_LEN)
    inner = nonce + bytes(sodium.crypto_secretbox(plain, nonce, key.box))
    return like[:HEADER_LEN] + _blocks(key.public, inner)


def rerandomise(raw: bytes) -> bytes:
    """The same vault, every block freshly randomised: no key needed, nothing linkable.

    Raises VaultDamaged when a block is not a ciphertext (nothing can rewrite it then).
    """
    block_count(raw)
    try:
        return raw[:HEADER_LEN] + b"".join(reencryption.rerandomise(block) for block in _split(raw))
    except MalformedInput as error:
        raise VaultDamaged(f"the vault is damaged: {error}") from None


def open_vault(key: VaultKey, raw: bytes) -> bytes:
    """The contents sealed in ``raw``; VaultLocked when ``key`` does not open it (a wrong
    passphrase, a vault nobody used or a damaged one: one answer for all three)."""
    try:
        blocks = _split(raw)
        if not blocks or not reencryption.is_under(key.scalar, blocks[0]):
            raise VaultLocked("the passphrase does not open this vault")
        inner = b"".join(reencryption.decrypt(key.scalar, block) for block in blocks)
        nonce, box = inner[:NONCE_LEN], inner[NONCE_LEN:]
        plain = bytes(sodium.crypto_secretbox_open(box, nonce, key.box))
    except (MalformedInput, VaultDamaged, nacl.exceptions.CryptoError) as error:
        raise VaultLocked("the passphrase does not open this vault") from error
    (length,) = struct.unpack_from(">I", plain)
    if length > len(plain) - LENGTH_LEN:
        raise VaultLocked("the vault's length runs past its end")
    return plain[LENGTH_LEN : LENGTH_LEN + length]


def _blocks(public: bytes, inner: bytes) -> bytes:
    step = reencryption.BLOCK_DATA
    return b"".join(
        reencryption.encrypt(public, inner[i : i + step]) for i in range(0, len(inner), step)
    )


def block_count(raw: bytes) -> int:
    """How many blocks a vault has; VaultDamaged when it is not a vault's shape."""
    header(raw)
    body = len(raw) - HEADER_LEN
    if body <= 0 or body % reencryption.BLOCK_LEN:
        raise VaultDamaged("the vault is not a whole number of blocks")
    return body // reencryption.BLOCK_LEN


def _split(raw: bytes) -> list[bytes]:
    block_count(raw)
    step = reencryption.BLOCK_LEN
    return [raw[i : i + step] for i in range(HEADER_LEN, len(raw), step)]
