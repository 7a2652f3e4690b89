"""Quietline's own committed vectors (tests/protocol/vectors/), for what CoverDrop lacks.

* ``pcs.json``: padded compressed strings, recomputed bit for bit from text and seed and
  decoded back; a text just past the limit is refused.
* ``messages.json``: a U2C, its C2J, and J2C/J2U replies between fixed keys, opened with
  those keys (sealed boxes are randomised); the two-party boxes are rebuilt exactly (a
  handover's body is CoverDrop's layout: the id, NUL-padded).
* ``mixer.json``: a seeded ``ThresholdMix`` with ``DEMO_U2J`` replayed release by release,
  which pins the shuffle for a given seed.

The JSON comes from ``tests/protocol/vectors/generate.py``; see its docstring.
"""

import json
import random
from datetime import timedelta
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from quietline.protocol.boxes import (
    AnonymousBox,
    RandomBytes,
    TwoPartyBox,
    open_anonymous,
    open_two_party,
)
from quietline.protocol.constants import (
    C2J_ENCRYPTED_LEN,
    J2C_ENCRYPTED_LEN,
    J2U_ENCRYPTED_LEN,
    MESSAGE_PADDING_LEN,
    MULTI_ANONYMOUS_BOX_SLOT_LEN,
    U2C_ENCRYPTED_LEN,
    U2J_ENCRYPTED_LEN,
    U2J_MESSAGE_LEN,
)
from quietline.protocol.encoding import parse_rfc3339
from quietline.protocol.errors import DecryptionFailed, MessageTooLong
from quietline.protocol.keys import EncryptionKeyPair, JournalistMessagingKey
from quietline.protocol.messages import (
    ENCRYPTED_C2J,
    J2U,
    U2J,
    J2UType,
    forward_to_journalist,
    handover,
    parse_j2c,
    parse_u2c,
    text_reply,
)
from quietline.protocol.mixing import DEMO_U2J, MixingParameters, ThresholdMix
from quietline.protocol.pcs import PaddedCompressedString
from quietline.protocol.recipients import RecipientTag
from tests.protocol.vectors.generate import (
    ShakeStream,
    build_mixer_vectors,
    build_pcs_vectors,
    dump,
)

VECTORS = Path(__file__).resolve().parent / "vectors"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return data


PCS = load("pcs.json")
MESSAGES = load("messages.json")
MIXER = load("mixer.json")


def pair(name: str) -> EncryptionKeyPair:
    entry = MESSAGES["keys"][name]
    keys = EncryptionKeyPair.from_secret(bytes.fromhex(entry["secret"]))
    assert keys.public.hex() == entry["public"]
    return keys


def fixed_nonce(nonce: bytes) -> RandomBytes:
    def random_bytes(n: int) -> bytes:
        assert n == len(nonce)
        return nonce

    return random_bytes


# --- the deterministic random source itself -----------------------------------------------


def test_shake_stream_hands_out_successive_bytes() -> None:
    stream = ShakeStream(b"seed")
    whole = ShakeStream(b"seed")(40)
    assert stream(16) + stream(24) == whole
    assert ShakeStream(b"other")(40) != whole


# --- padded compressed strings ------------------------------------------------------------


@pytest.mark.parametrize("vector", PCS["vectors"], ids=[v["name"] for v in PCS["vectors"]])
class TestPcsVectors:
    def test_recomputed_bit_for_bit(self, vector: dict[str, Any]) -> None:
        raw = PaddedCompressedString.from_text(
            vector["text"], ShakeStream(bytes.fromhex(vector["seed"]))
        ).raw
        assert raw.hex() == vector["pcs"]

    def test_decodes_to_the_text(self, vector: dict[str, Any]) -> None:
        raw = bytes.fromhex(vector["pcs"])
        assert len(raw) == MESSAGE_PADDING_LEN
        assert PaddedCompressedString(raw).text() == vector["text"]

    def test_layout(self, vector: dict[str, Any]) -> None:
        raw = bytes.fromhex(vector["pcs"])
        assert int.from_bytes(raw[:2], "big") == vector["gzip_len"]
        assert raw[2:4] == b"\x1f\x8b"  # gzip magic
        assert 2 + vector["gzip_len"] + vector["padding_len"] == MESSAGE_PADDING_LEN
        padding = ShakeStream(bytes.fromhex(vector["seed"]))(vector["padding_len"])
        assert raw[2 + vector["gzip_len"] :] == padding


def test_pcs_vectors_cover_the_edges() -> None:
    by_name = {v["name"]: v for v in PCS["vectors"]}
    assert by_name["empty"]["text"] == ""
    assert any(len(v["text"].encode()) > len(v["text"]) for v in PCS["vectors"])  # multibyte
    assert by_name["near-limit"]["padding_len"] <= 2


@pytest.mark.parametrize("text", PCS["too_long"])
def test_pcs_just_past_the_limit_is_refused(text: str) -> None:
    assert not PaddedCompressedString.fits(text)
    with pytest.raises(MessageTooLong):
        PaddedCompressedString.from_text(text, ShakeStream(b"unused"))


# --- messages -----------------------------------------------------------------------------


class TestMessageVectors:
    def test_keys_and_tag(self) -> None:
        for name in ("covernode_messaging", "journalist_messaging", "user"):
            pair(name)
        assert RecipientTag.of(MESSAGES["recipient_id"]).hex() == MESSAGES["recipient_tag"]

    def test_u2c_opens_to_the_tag_and_sealed_u2j(self) -> None:
        raw = bytes.fromhex(MESSAGES["u2c"]["u2c"])
        assert len(raw) == U2C_ENCRYPTED_LEN
        u2c = parse_u2c(raw).open(pair("covernode_messaging"))
        assert u2c.tag.hex() == MESSAGES["recipient_tag"]
        assert not u2c.tag.is_cover
        assert u2c.payload.data.hex() == MESSAGES["u2c"]["u2j"]
        assert len(u2c.payload.data) == U2J_ENCRYPTED_LEN

    def test_u2c_wraps_one_key_twice_for_one_covernode(self) -> None:
        raw = bytes.fromhex(MESSAGES["u2c"]["u2c"])
        covernode = pair("covernode_messaging")
        slot = MULTI_ANONYMOUS_BOX_SLOT_LEN
        assert open_anonymous(covernode, raw[:slot]) == open_anonymous(
            covernode, raw[slot : 2 * slot]
        )

    def test_u2j_opens_to_reply_key_and_text(self) -> None:
        sealed = AnonymousBox(U2J, bytes.fromhex(MESSAGES["u2c"]["u2j"]))
        journalist = pair("journalist_messaging")
        plaintext = open_anonymous(journalist, sealed.data)
        assert plaintext.hex() == MESSAGES["u2c"]["u2j_plaintext"]
        assert len(plaintext) == U2J_MESSAGE_LEN
        assert plaintext[32] == 0x00  # the reserved byte
        u2j = sealed.open(journalist)
        assert u2j.reply_key == pair("user").public
        assert u2j.text.text() == MESSAGES["u2c"]["text"]

    def test_u2c_does_not_open_for_the_journalist(self) -> None:
        with pytest.raises(DecryptionFailed):
            parse_u2c(bytes.fromhex(MESSAGES["u2c"]["u2c"])).open(pair("journalist_messaging"))

    def test_tampered_u2c_fails_cleanly(self) -> None:
        raw = bytearray(bytes.fromhex(MESSAGES["u2c"]["u2c"]))
        raw[-1] ^= 0x01
        with pytest.raises(DecryptionFailed):
            parse_u2c(bytes(raw)).open(pair("covernode_messaging"))

    def test_c2j_opens_to_the_same_sealed_u2j(self) -> None:
        raw = bytes.fromhex(MESSAGES["c2j"]["c2j"])
        assert len(raw) == C2J_ENCRYPTED_LEN
        c2j = ENCRYPTED_C2J.decode(raw)
        payload = c2j.open(pair("journalist_messaging"), pair("covernode_messaging").public)
        assert payload.data.hex() == MESSAGES["u2c"]["u2j"]
        assert payload.open(pair("journalist_messaging")).text.text() == MESSAGES["u2c"]["text"]

    def test_c2j_rebuilt_exactly(self) -> None:
        payload = AnonymousBox(U2J, bytes.fromhex(MESSAGES["u2c"]["u2j"]))
        c2j = forward_to_journalist(
            pair("covernode_messaging"),
            JournalistMessagingKey.of(pair("journalist_messaging")),
            payload,
            ShakeStream(bytes.fromhex(MESSAGES["c2j"]["seed"])),
        )
        assert c2j.data.hex() == MESSAGES["c2j"]["c2j"]

    def test_c2j_from_another_sender_does_not_open(self) -> None:
        raw = bytes.fromhex(MESSAGES["c2j"]["c2j"])
        with pytest.raises(DecryptionFailed):
            open_two_party(pair("journalist_messaging"), pair("user").public, raw)


@pytest.mark.parametrize("reply", MESSAGES["replies"], ids=[r["type"] for r in MESSAGES["replies"]])
class TestReplyVectors:
    def test_j2c_opens_to_a_real_j2u(self, reply: dict[str, Any]) -> None:
        raw = bytes.fromhex(reply["j2c"])
        assert len(raw) == J2C_ENCRYPTED_LEN
        j2c = parse_j2c(raw).open(pair("covernode_messaging"))
        assert j2c.is_real
        assert j2c.payload.data.hex() == reply["j2u"]

    def test_j2u_opens_to_type_and_body(self, reply: dict[str, Any]) -> None:
        raw = bytes.fromhex(reply["j2u"])
        assert len(raw) == J2U_ENCRYPTED_LEN
        message = TwoPartyBox(J2U, raw).open(pair("user"), pair("journalist_messaging").public)
        expected_type = {"text": J2UType.TEXT, "handover": J2UType.HANDOVER}[reply["type"]]
        assert message.type is expected_type
        assert message.body.raw.hex() == reply["j2u_body"]
        assert message.body.text() == reply["body"]

    def test_j2u_rebuilt_exactly(self, reply: dict[str, Any]) -> None:
        raw = bytes.fromhex(reply["j2u"])
        if reply["type"] == "text":
            message = text_reply(reply["body"], ShakeStream(bytes.fromhex(reply["pcs_seed"])))
        else:
            message = handover(reply["body"])
        assert message.body.raw.hex() == reply["j2u_body"]
        rebuilt = TwoPartyBox.seal(
            J2U,
            pair("journalist_messaging"),
            pair("user").public,
            message,
            fixed_nonce(raw[-24:]),
        )
        assert rebuilt.data == raw

    def test_j2u_does_not_open_for_another_user(self, reply: dict[str, Any]) -> None:
        stranger = EncryptionKeyPair.from_secret(bytes(range(32)))
        with pytest.raises(DecryptionFailed):
            TwoPartyBox(J2U, bytes.fromhex(reply["j2u"])).open(
                stranger, pair("journalist_messaging").public
            )


def test_cover_messages_open_as_cover() -> None:
    covernode = pair("covernode_messaging")
    u2c = parse_u2c(bytes.fromhex(MESSAGES["cover_u2c"])).open(covernode)
    assert u2c.tag.is_cover
    j2c = parse_j2c(bytes.fromhex(MESSAGES["cover_j2c"])).open(covernode)
    assert not j2c.is_real


# --- mixer --------------------------------------------------------------------------------


def test_mixer_vector_uses_demo_u2j() -> None:
    p = MIXER["parameters"]
    parameters = MixingParameters(
        p["threshold_min"],
        p["threshold_max"],
        timedelta(seconds=p["timeout_seconds"]),
        p["output_size"],
    )
    assert parameters == DEMO_U2J


def test_mixer_vector_exercises_every_rule() -> None:
    releases = [r["release"] for r in MIXER["rounds"] if r["release"] is not None]
    held = [r for r in MIXER["rounds"] if r["release"] is None]
    assert len(releases) >= 5
    assert len(held) >= 2
    assert any(len(r["real"]) == DEMO_U2J.output_size for r in releases)  # FIFO overflow
    assert any(0 < len(r["real"]) < DEMO_U2J.output_size for r in releases)  # padded


def test_mixer_replay_matches_exactly() -> None:
    start = parse_rfc3339(MIXER["start"])
    mix: ThresholdMix[str] = ThresholdMix.start(DEMO_U2J, start, random.Random(MIXER["seed"]))
    fillers = count()
    for index, round_ in enumerate(MIXER["rounds"]):
        now = parse_rfc3339(round_["at"])
        mix.receive_all(round_["inputs"])
        expected = round_["release"]
        assert mix.due(now) == (expected is not None), f"round {index}"
        if expected is None:
            continue
        batch = mix.release(now, lambda: f"filler-{next(fillers)}")
        assert list(batch.entries) == expected["entries"], f"round {index}"
        assert list(batch.real) == expected["real"], f"round {index}"
    assert mix.pending == 0


# --- the committed files are what the generator makes -------------------------------------


def test_pcs_json_is_what_the_generator_writes() -> None:
    assert dump(build_pcs_vectors()) == (VECTORS / "pcs.json").read_text(encoding="utf-8")


def test_mixer_json_is_what_the_generator_writes() -> None:
    assert dump(build_mixer_vectors()) == (VECTORS / "mixer.json").read_text(encoding="utf-8")
