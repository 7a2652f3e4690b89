"""Generate Quietline's own test vectors, for what CoverDrop publishes none of.

Run from the project root:

    .venv/bin/python -m tests.protocol.vectors.generate

It rewrites ``pcs.json``, ``messages.json`` and ``mixer.json`` beside this file. The
JSON files are committed, and ``tests/protocol/test_own_vectors.py`` checks the code
against them, so regenerate only for a deliberate format change, and read the diff.

* ``pcs.json``: padded compressed strings with padding drawn from :class:`ShakeStream`;
  the same bytes on every run.
* ``mixer.json``: every release of a seeded ``ThresholdMix`` with ``DEMO_U2J``
  parameters; the same on every run.
* ``messages.json``: U2C, C2J, J2C and J2U between fixed keys. libsodium's sealed boxes
  draw their ephemeral keys internally, so the U2C and J2C bytes differ on every run;
  the tests open them rather than rebuild them. Two-party boxes and padding take their
  randomness from seeded streams and are checked byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

from quietline.protocol.boxes import open_anonymous
from quietline.protocol.encoding import format_rfc3339
from quietline.protocol.keys import (
    CoverNodeMessagingKey,
    EncryptionKeyPair,
    JournalistMessagingKey,
    ReplyKey,
)
from quietline.protocol.messages import (
    encrypt_cover_j2c,
    encrypt_cover_u2c,
    encrypt_j2c,
    encrypt_u2c,
    forward_to_journalist,
    handover,
    text_reply,
)
from quietline.protocol.mixing import DEMO_U2J, ThresholdMix
from quietline.protocol.pcs import PaddedCompressedString
from quietline.protocol.recipients import RecipientTag

HERE = Path(__file__).resolve().parent
PCS_FILE = HERE / "pcs.json"
MESSAGES_FILE = HERE / "messages.json"
MIXER_FILE = HERE / "mixer.json"


class ShakeStream:
    """A deterministic stand-in for ``nacl.utils.random``: successive bytes of SHAKE-256(seed).

    Each call hands out the next ``n`` bytes of the stream, so a sequence of calls is
    reproducible from the seed alone.
    """

    def __init__(self, seed: bytes) -> None:
        self.seed = seed
        self._offset = 0

    def __call__(self, n: int) -> bytes:
        out = hashlib.shake_256(self.seed).digest(self._offset + n)[self._offset :]
        self._offset += n
        return out


def seed_for(label: str) -> bytes:
    return f"quietline vectors {label}".encode()


def secret_for(label: str) -> bytes:
    return hashlib.sha256(seed_for(label)).digest()


# --- padded compressed strings ------------------------------------------------------------

PCS_TEXTS = [
    ("ascii", "Hello, I have documents about the harbour authority's contracts."),
    ("utf8-multibyte", "こんにちは — Grüße aus Köln, «ünïcödé» ✓ 🙂"),
    ("empty", ""),
    ("repetitive", "leak " * 400),
]


def near_limit_text() -> tuple[str, str]:
    """The longest prefix of a pseudo-random ASCII text that fits, and the next that does not."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,"
    rng = random.Random(512)
    text = "".join(rng.choice(alphabet) for _ in range(1000))
    longest = max(n for n in range(len(text)) if PaddedCompressedString.fits(text[:n]))
    too_long = next(
        n for n in range(longest + 1, len(text)) if not PaddedCompressedString.fits(text[:n])
    )
    return text[:longest], text[:too_long]


def pcs_entry(name: str, text: str) -> dict[str, Any]:
    seed = seed_for(f"pcs {name}")
    raw = PaddedCompressedString.from_text(text, ShakeStream(seed)).raw
    stream_len = int.from_bytes(raw[:2], "big")
    return {
        "name": name,
        "text": text,
        "seed": seed.hex(),
        "gzip_len": stream_len,
        "padding_len": len(raw) - 2 - stream_len,
        "pcs": raw.hex(),
    }


def build_pcs_vectors() -> dict[str, Any]:
    fits, too_long = near_limit_text()
    entries = [pcs_entry(name, text) for name, text in PCS_TEXTS]
    entries.append(pcs_entry("near-limit", fits))
    return {
        "description": (
            "Padded compressed strings: u16BE gzip length, gzip (level 9, mtime 0), then "
            "padding = successive bytes of SHAKE-256(seed). 512 bytes each."
        ),
        "vectors": entries,
        "too_long": [too_long],
    }


# --- messages -----------------------------------------------------------------------------

RECIPIENT_ID = "journalist_vectors"
U2C_TEXT = "A real message for journalist_vectors: こんにちは, I can meet on Tuesday."
REPLY_TEXT = "Thank you. We have read your message and will reply here."
HANDOVER_TO = "journalist_next"


def key_entry(pair: EncryptionKeyPair) -> dict[str, str]:
    return {"public": pair.public.hex(), "secret": pair.secret.hex()}


def build_message_vectors() -> dict[str, Any]:
    covernode = EncryptionKeyPair.from_secret(secret_for("covernode messaging key"))
    journalist = EncryptionKeyPair.from_secret(secret_for("journalist messaging key"))
    user = EncryptionKeyPair.from_secret(secret_for("user key"))
    # One CoverNode: its key twice.
    wrapping = [CoverNodeMessagingKey.of(covernode)] * 2

    u2c = encrypt_u2c(
        wrapping,
        recipient_id=RECIPIENT_ID,
        recipient_key=JournalistMessagingKey.of(journalist),
        reply_key=ReplyKey.of(user),
        text=U2C_TEXT,
        random_bytes=ShakeStream(seed_for("u2c")),
    )
    opened_u2c = u2c.open(covernode)
    u2j_plain = open_anonymous(journalist, opened_u2c.payload.data)

    c2j_seed = seed_for("c2j")
    c2j = forward_to_journalist(
        covernode,
        JournalistMessagingKey.of(journalist),
        opened_u2c.payload,
        ShakeStream(c2j_seed),
    )

    replies = []
    pcs_seed = seed_for("j2u text pcs")
    for kind, body, message in (
        ("text", REPLY_TEXT, text_reply(REPLY_TEXT, ShakeStream(pcs_seed))),
        ("handover", HANDOVER_TO, handover(HANDOVER_TO)),
    ):
        j2c = encrypt_j2c(
            wrapping,
            journalist,
            ReplyKey.of(user),
            message,
            ShakeStream(seed_for(f"j2c {kind}")),
        )
        j2u = j2c.open(covernode).payload
        entry = {"type": kind, "body": body}
        if kind == "text":
            entry["pcs_seed"] = pcs_seed.hex()
        entry |= {
            "j2u_body": j2u.open(user, journalist.public).body.raw.hex(),
            "j2u": j2u.data.hex(),
            "j2c": j2c.data.hex(),
        }
        replies.append(entry)

    return {
        "description": (
            "End-to-end messages between fixed keys. Sealed boxes are randomised, so "
            "U2C/J2C are checked by opening; C2J and J2U are exact given their seeds."
        ),
        "keys": {
            "covernode_messaging": key_entry(covernode),
            "journalist_messaging": key_entry(journalist),
            "user": key_entry(user),
        },
        "recipient_id": RECIPIENT_ID,
        "recipient_tag": RecipientTag.of(RECIPIENT_ID).hex(),
        "u2c": {
            "text": U2C_TEXT,
            "u2c": u2c.data.hex(),
            "u2j": opened_u2c.payload.data.hex(),
            "u2j_plaintext": u2j_plain.hex(),
        },
        "c2j": {"seed": c2j_seed.hex(), "c2j": c2j.data.hex()},
        "replies": replies,
        "cover_u2c": encrypt_cover_u2c(wrapping, ShakeStream(seed_for("cover u2c"))).data.hex(),
        "cover_j2c": encrypt_cover_j2c(wrapping, ShakeStream(seed_for("cover j2c"))).data.hex(),
    }


# --- mixer --------------------------------------------------------------------------------

MIXER_SEED = 20240501
MIXER_START = datetime(2024, 5, 1, tzinfo=UTC)


def mixer_rounds() -> list[tuple[int, list[bool]]]:
    """(minutes after the start, inputs as is-real flags) for each round of the replay."""
    real, cover = True, False
    return [
        (0, [real, cover, cover]),  # 3 inputs, too early
        (16, []),  # timeout passed with >= threshold_min: release
        (17, [real] * 11),  # threshold_max reached; 11 real > output_size
        (18, [cover] * 9 + [real]),  # the leftover and one new real
        (20, [real]),  # 1 input
        (40, []),  # timeout passed but below threshold_min: no release
        (41, [cover]),  # now 2 inputs: release
        (42, [real] * 25),  # a burst: the oldest 10 go
        (43, [cover] * 10),  # the next 10
        (60, [cover, cover]),  # the last 5 and 5 fillers
    ]


def build_mixer_vectors() -> dict[str, Any]:
    mix: ThresholdMix[str] = ThresholdMix.start(DEMO_U2J, MIXER_START, random.Random(MIXER_SEED))
    reals = count()
    fillers = count()
    rounds = []
    for minutes, flags in mixer_rounds():
        now = MIXER_START + timedelta(minutes=minutes)
        inputs = [f"real-{next(reals)}" if flag else None for flag in flags]
        mix.receive_all(inputs)
        release = None
        if mix.due(now):
            batch = mix.release(now, lambda: f"filler-{next(fillers)}")
            release = {"entries": list(batch.entries), "real": list(batch.real)}
        rounds.append({"at": format_rfc3339(now), "inputs": inputs, "release": release})
    return {
        "description": (
            "ThresholdMix with DEMO_U2J, random.Random(seed), fillers 'filler-N' in call "
            "order; after each round's inputs, release if due at 'at'."
        ),
        "parameters": {
            "threshold_min": DEMO_U2J.threshold_min,
            "threshold_max": DEMO_U2J.threshold_max,
            "timeout_seconds": int(DEMO_U2J.timeout.total_seconds()),
            "output_size": DEMO_U2J.output_size,
        },
        "seed": MIXER_SEED,
        "start": format_rfc3339(MIXER_START),
        "rounds": rounds,
    }


def dump(obj: dict[str, Any]) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    for path, build in (
        (PCS_FILE, build_pcs_vectors),
        (MESSAGES_FILE, build_message_vectors),
        (MIXER_FILE, build_mixer_vectors),
    ):
        path.write_text(dump(build()), encoding="utf-8")


if __name__ == "__main__":
    main()
