"""Universal re-encryption: ciphertexts anyone can re-randomise without any key.

ElGamal as Golle, Jakobsson, Juels and Syverson extend it ("Universal Re-encryption for
Mixnets", CT-RSA 2004), over the prime-order subgroup of edwards25519. A block carries
29 bytes in a point ``M`` of the subgroup and is, under the public key ``Y = x·G``::

    (M + k0·Y, k0·G, k1·Y, k1·G)         k0, k1 random scalars

Re-randomising with fresh ``r0, r1`` gives ``(a0 + r0·a1, b0 + r0·b1, r1·a1, r1·b1)``:
a ciphertext of the same ``M`` under the same key, distributed exactly as a fresh one,
made without knowing ``Y`` or ``x``. Whoever holds ``x`` checks ``a1 = x·b1`` (the
block is under their key) and reads ``M = a0 - x·b0``.

This is what lets a source client rewrite its vault on a schedule whether or not anyone
uses it: the background client re-randomises every block without the passphrase, so
two snapshots of the vault (or old copies left on the disk) look unrelated whether or
not its contents changed in between. Every point is a canonical encoding of a point of
the subgroup; the bytes of a block pass byte-level randomness tests (the encoding of a
uniformly random point is close to uniform), though a test that tries to decode them as
points tells them from random bytes: every installation's vault does that alike.

Pure functions, no I/O: randomness comes from libsodium.
"""

from __future__ import annotations

import nacl.bindings as sodium
import nacl.exceptions
import nacl.utils

from quietline.protocol.errors import MalformedInput

POINT_LEN = 32
SCALAR_LEN = 32
BLOCK_LEN = 4 * POINT_LEN
# Bytes of data per block: a point's encoding is a 255-bit y and x's sign bit. The
# first two bytes are a counter tried until the encoding is a point of the subgroup
# (one in 16 tries on average) and the last stays 0, which keeps y below the prime.
BLOCK_DATA = POINT_LEN - 3
_COUNTERS = 1 << 16


def random_scalar() -> bytes:
    """A uniformly random scalar (reduced from 64 random bytes)."""
    return bytes(sodium.crypto_core_ed25519_scalar_reduce(nacl.utils.random(64)))


def scalar_from(material: bytes) -> bytes:
    """A scalar from 64 uniformly random bytes (a key derivation's output)."""
    if len(material) != 64:
        raise ValueError("a scalar is reduced from 64 bytes")
    return bytes(sodium.crypto_core_ed25519_scalar_reduce(material))


def public_key(secret: bytes) -> bytes:
    """``Y = x·G`` for the secret scalar ``x``."""
    return bytes(sodium.crypto_scalarmult_ed25519_base_noclamp(secret))


def _mul(scalar: bytes, point: bytes) -> bytes:
    """``scalar·point``; libsodium refuses points outside the subgroup (MalformedInput)."""
    try:
        return bytes(sodium.crypto_scalarmult_ed25519_noclamp(scalar, point))
    except (nacl.exceptions.RuntimeError, nacl.exceptions.ValueError) as error:
        raise MalformedInput("a block holds something that is not a point") from error


def _add(p: bytes, q: bytes) -> bytes:
    try:
        return bytes(sodium.crypto_core_ed25519_add(p, q))
    except (nacl.exceptions.RuntimeError, nacl.exceptions.ValueError) as error:
        raise MalformedInput("a block holds something that is not a point") from error


def _sub(p: bytes, q: bytes) -> bytes:
    try:
        return bytes(sodium.crypto_core_ed25519_sub(p, q))
    except (nacl.exceptions.RuntimeError, nacl.exceptions.ValueError) as error:
        raise MalformedInput("a block holds something that is not a point") from error


def embed(data: bytes) -> bytes:
    """The point of the subgroup carrying ``data`` (exactly BLOCK_DATA bytes)."""
    if len(data) != BLOCK_DATA:
        raise ValueError(f"a block carries exactly {BLOCK_DATA} bytes")
    for counter in range(_COUNTERS):
        candidate = counter.to_bytes(2, "little") + data + b"\x00"
        if sodium.crypto_core_ed25519_is_valid_point(candidate):
            return candidate
    # (15/16)^65536: never, unless libsodium is broken.
    raise RuntimeError("no point of the subgroup carries these bytes")


def extract(point: bytes) -> bytes:
    """The data a point made by :func:`embed` carries."""
    return point[2 : 2 + BLOCK_DATA]


def encrypt(public: bytes, data: bytes) -> bytes:
    """A fresh block carrying ``data`` (BLOCK_DATA bytes) under ``public``."""
    k0, k1 = random_scalar(), random_scalar()
    return b"".join(
        (
            _add(embed(data), _mul(k0, public)),
            public_key(k0),
            _mul(k1, public),
            public_key(k1),
        )
    )


def rerandomise(block: bytes) -> bytes:
    """The same plaintext under the same key, freshly randomised, without either.

    Raises MalformedInput when the block is not four points of the subgroup.
    """
    a0, b0, a1, b1 = _points(block)
    r0, r1 = random_scalar(), random_scalar()
    return b"".join((_add(a0, _mul(r0, a1)), _add(b0, _mul(r0, b1)), _mul(r1, a1), _mul(r1, b1)))


def is_under(secret: bytes, block: bytes) -> bool:
    """Whether ``block`` was made under the public key of ``secret`` (``a1 = x·b1``)."""
    _, _, a1, b1 = _points(block)
    return _mul(secret, b1) == a1


def decrypt(secret: bytes, block: bytes) -> bytes:
    """The BLOCK_DATA bytes a block carries; MalformedInput when it is not under ``secret``'s
    key or not a block at all."""
    a0, b0, a1, b1 = _points(block)
    if _mul(secret, b1) != a1:
        raise MalformedInput("the block is not under this key")
    return extract(_sub(a0, _mul(secret, b0)))


def _points(block: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """The four points of a block, each checked to be a point of the subgroup (a point
    with a small-order part would keep it through every re-randomisation: a mark)."""
    if len(block) != BLOCK_LEN:
        raise MalformedInput(f"a block is {BLOCK_LEN} bytes")
    a0, b0, a1, b1 = (block[i : i + POINT_LEN] for i in range(0, BLOCK_LEN, POINT_LEN))
    if not all(sodium.crypto_core_ed25519_is_valid_point(p) for p in (a0, b0, a1, b1)):
        raise MalformedInput("a block holds something that is not a point of the subgroup")
    return a0, b0, a1, b1
