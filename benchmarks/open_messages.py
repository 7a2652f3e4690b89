"""Throughput of opening U2C and C2J messages through Quietline against raw libsodium.

Run: ``.venv/bin/python benchmarks/open_messages.py [--seconds S]``

Each row times the same work two ways in the same run: through Quietline's typed
code (parse, open, decode) and through the bare PyNaCl calls that do the cryptography.
The ratio is Quietline's rate over the raw rate: 1.00 means no overhead at all.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import nacl.bindings as sodium

from quietline.protocol.boxes import TwoPartyBox, shared_key
from quietline.protocol.constants import MULTI_ANONYMOUS_BOX_SLOT_LEN, NONCE_LEN
from quietline.protocol.deaddrops import JournalistTrialDecryptor
from quietline.protocol.keys import (
    CoverNodeMessagingKey,
    EncryptionKeyPair,
    JournalistMessagingKey,
    ReplyKey,
)
from quietline.protocol.messages import (
    ENCRYPTED_U2J,
    encrypt_u2c,
    forward_to_journalist,
    parse_u2c,
)


def rate(operation: Callable[[], object], seconds: float) -> float:
    """Operations per second, over at least ``seconds`` of wall time."""
    done = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(200):
            operation()
        done += 200
        now = time.perf_counter()
        if now >= deadline:
            return done / (now - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    seconds = parser.parse_args().seconds

    covernode = EncryptionKeyPair.generate()
    journalist = EncryptionKeyPair.generate()
    user = EncryptionKeyPair.generate()
    covernode_key = CoverNodeMessagingKey.of(covernode)
    u2c = encrypt_u2c(
        [covernode_key, covernode_key],
        recipient_id="journalist",
        recipient_key=JournalistMessagingKey.of(journalist),
        reply_key=ReplyKey.of(user),
        text="a benchmark message " * 10,
    )
    wire_u2c = u2c.data
    u2j = u2c.open(covernode).payload
    c2j = forward_to_journalist(covernode, JournalistMessagingKey.of(journalist), u2j).data
    shared = shared_key(journalist, covernode.public)
    desk = JournalistTrialDecryptor([journalist], [covernode_key])
    body_start = 2 * MULTI_ANONYMOUS_BOX_SLOT_LEN

    def raw_u2c() -> bytes:
        key = sodium.crypto_box_seal_open(wire_u2c[:80], covernode.public.raw, covernode.secret)
        return bytes(sodium.crypto_secretbox_open(wire_u2c[body_start:], bytes(NONCE_LEN), key))

    def raw_c2j() -> bytes:
        inner = sodium.crypto_box_open_afternm(c2j[:-NONCE_LEN], c2j[-NONCE_LEN:], shared)
        return bytes(sodium.crypto_box_seal_open(inner, journalist.public.raw, journalist.secret))

    rows = [
        ("U2C open (CoverNode, 773 B)", lambda: parse_u2c(wire_u2c).open(covernode), raw_u2c),
        (
            "C2J open (recipient, 633 B)",
            lambda: desk.open_entry(TwoPartyBox(ENCRYPTED_U2J, c2j)),
            raw_c2j,
        ),
        (
            "sealed box open (600 B)",
            lambda: u2j.open(journalist),
            lambda: sodium.crypto_box_seal_open(u2j.data, journalist.public.raw, journalist.secret),
        ),
    ]
    print(f"{'operation':<30} {'quietline/s':>12} {'raw nacl/s':>12} {'ratio':>7}")
    print("-" * 64)
    for name, ours, raw in rows:
        ours_rate = rate(ours, seconds)
        raw_rate = rate(raw, seconds)
        print(f"{name:<30} {ours_rate:>12,.0f} {raw_rate:>12,.0f} {ours_rate / raw_rate:>7.2f}")


if __name__ == "__main__":
    main()
