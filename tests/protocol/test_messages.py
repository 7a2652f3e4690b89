"""Tests for quietline.protocol.messages: the five CoverDrop messages and their cover twins.

Every message has its DESIGN size on the wire whatever it holds, real and cover
messages are built and opened the same way, each plaintext type round-trips through
bytes, and every parser answers a wrong size or a bad type byte with MalformedInput.
CoverDrop's journalist dead-drop vector checks C2J entries end to end.
"""

import hashlib
import random
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from quietline.protocol.boxes import (
    AnonymousBox,
    TwoPartyBox,
    seal_anonymous,
    seal_multi_anonymous,
    seal_two_party,
)
from quietline.protocol.constants import (
    C2J_ENCRYPTED_LEN,
    J2C_ENCRYPTED_LEN,
    J2C_MESSAGE_LEN,
    J2U_ENCRYPTED_LEN,
    J2U_MESSAGE_LEN,
    U2C_ENCRYPTED_LEN,
    U2C_MESSAGE_LEN,
    U2J_ENCRYPTED_LEN,
    U2J_MESSAGE_LEN,
)
from quietline.protocol.errors import (
    DecryptionFailed,
    MalformedInput,
    MessageTooLong,
    MisuseError,
    ProtocolError,
)
from quietline.protocol.keys import (
    CoverNodeMessagingKey,
    EncryptionKeyPair,
    JournalistMessagingKey,
    PublicEncryptionKey,
    ReplyKey,
)
from quietline.protocol.messages import (
    ENCRYPTED_C2J,
    ENCRYPTED_J2U,
    ENCRYPTED_U2J,
    J2U,
    U2J,
    J2CMessage,
    J2UMessage,
    J2UType,
    U2CMessage,
    U2JMessage,
    cover_j2u,
    encrypt_cover_j2c,
    encrypt_cover_u2c,
    encrypt_j2c,
    encrypt_u2c,
    filler_c2j,
    forward_to_journalist,
    handover,
    parse_j2c,
    parse_u2c,
    text_reply,
)
from quietline.protocol.pcs import PaddedCompressedString
from quietline.protocol.recipients import COVER_TAG, RecipientTag
from tests.support.coverdrop_clients import app_handover_id

CRYPTO_SETTINGS = settings(max_examples=25, deadline=None)

COVERNODE_1 = EncryptionKeyPair.from_secret(bytes(range(32)))
COVERNODE_2 = EncryptionKeyPair.from_secret(bytes(range(32, 64)))
COVERNODE_KEYS = [CoverNodeMessagingKey.of(COVERNODE_1), CoverNodeMessagingKey.of(COVERNODE_2)]
JOURNALIST = EncryptionKeyPair.from_secret(bytes(range(64, 96)))
JOURNALIST_KEY = JournalistMessagingKey.of(JOURNALIST)
USER = EncryptionKeyPair.from_secret(bytes(range(96, 128)))
USER_REPLY_KEY = ReplyKey.of(USER)
STRANGER = EncryptionKeyPair.from_secret(bytes(range(128, 160)))
JOURNALIST_ID = "static_test_journalist"

fitting_texts = st.text(max_size=600).filter(PaddedCompressedString.fits)
pcs_raw = st.binary(min_size=512, max_size=512)
# 2000 random bytes as hex: gzip cannot squeeze 4000 characters of this into 510 bytes.
TOO_LONG = random.Random(7).randbytes(2000).hex()


def zeros(n: int) -> bytes:
    return bytes(n)


def send_u2c(text: str = "hello from a source") -> bytes:
    return encrypt_u2c(
        COVERNODE_KEYS,
        recipient_id=JOURNALIST_ID,
        recipient_key=JOURNALIST_KEY,
        reply_key=USER_REPLY_KEY,
        text=text,
    ).data


def test_wire_sizes_are_the_design_table() -> None:
    assert (U2J_ENCRYPTED_LEN, U2C_ENCRYPTED_LEN, C2J_ENCRYPTED_LEN) == (593, 773, 633)
    assert (J2U_ENCRYPTED_LEN, J2C_ENCRYPTED_LEN) == (553, 730)
    assert (U2J_MESSAGE_LEN, U2C_MESSAGE_LEN, J2U_MESSAGE_LEN, J2C_MESSAGE_LEN) == (
        545,
        597,
        513,
        554,
    )


# --- recipient tags -----------------------------------------------------------------------


@given(st.text())
def test_recipient_tag_is_a_sha256_prefix(recipient_id: str) -> None:
    tag = RecipientTag.of(recipient_id)
    assert tag.raw == hashlib.sha256(recipient_id.encode("utf-8")).digest()[:4]
    assert tag.hex() == tag.raw.hex()


def test_cover_tag_is_all_zeros() -> None:
    assert COVER_TAG.raw == bytes(4)
    assert COVER_TAG.is_cover
    assert RecipientTag(bytes(4)).is_cover
    assert not RecipientTag.of(JOURNALIST_ID).is_cover


@pytest.mark.parametrize("size", [0, 3, 5, 32])
def test_recipient_tag_must_be_4_bytes(size: int) -> None:
    with pytest.raises(MalformedInput):
        RecipientTag(bytes(size))


# --- user → CoverNode → journalist --------------------------------------------------------


@CRYPTO_SETTINGS
@given(fitting_texts)
def test_u2c_is_773_bytes_and_carries_tag_reply_key_and_text(text: str) -> None:
    data = send_u2c(text)
    assert len(data) == 773
    u2c = parse_u2c(data).open(COVERNODE_1)
    assert u2c.tag == RecipientTag.of(JOURNALIST_ID)
    assert not u2c.tag.is_cover
    assert len(u2c.payload.data) == 593
    u2j = u2c.payload.open(JOURNALIST)
    assert u2j.reply_key == USER.public
    assert u2j.text.text() == text


def test_either_covernode_key_opens_a_u2c() -> None:
    box = parse_u2c(send_u2c("for both nodes"))
    for covernode in (COVERNODE_1, COVERNODE_2):
        assert box.open(covernode).payload.open(JOURNALIST).text.text() == "for both nodes"


def test_one_covernode_key_twice_opens() -> None:
    box = encrypt_u2c(
        [COVERNODE_KEYS[0], COVERNODE_KEYS[0]],
        recipient_id=JOURNALIST_ID,
        recipient_key=JOURNALIST_KEY,
        reply_key=USER_REPLY_KEY,
        text="one node",
    )
    assert len(box.data) == 773
    assert box.open(COVERNODE_1).payload.open(JOURNALIST).text.text() == "one node"


def test_cover_u2c_looks_like_a_real_one_to_the_wire() -> None:
    cover = encrypt_cover_u2c(COVERNODE_KEYS)
    assert len(cover.data) == len(send_u2c()) == 773
    for covernode in (COVERNODE_1, COVERNODE_2):
        u2c = parse_u2c(cover.data).open(covernode)
        assert u2c.tag.is_cover
        with pytest.raises(DecryptionFailed):
            u2c.payload.open(JOURNALIST)


def test_u2c_does_not_open_for_others() -> None:
    box = parse_u2c(send_u2c())
    for other in (JOURNALIST, USER, STRANGER):
        with pytest.raises(DecryptionFailed):
            box.open(other)
    with pytest.raises(DecryptionFailed):
        box.open(COVERNODE_1).payload.open(STRANGER)


@pytest.mark.parametrize("count", [0, 1, 3])
def test_u2c_needs_exactly_two_covernode_keys(count: int) -> None:
    keys = [*COVERNODE_KEYS, CoverNodeMessagingKey.of(STRANGER)][:count]
    with pytest.raises(MisuseError):
        encrypt_u2c(
            keys,
            recipient_id=JOURNALIST_ID,
            recipient_key=JOURNALIST_KEY,
            reply_key=USER_REPLY_KEY,
            text="hi",
        )
    with pytest.raises(MisuseError):
        encrypt_cover_u2c(keys)


def test_u2c_refuses_text_that_does_not_fit() -> None:
    assert not PaddedCompressedString.fits(TOO_LONG)
    with pytest.raises(MessageTooLong):
        send_u2c(TOO_LONG)


@pytest.mark.parametrize("size", [0, 772, 774, 1546])
def test_parse_u2c_rejects_wrong_sizes(size: int) -> None:
    with pytest.raises(MalformedInput):
        parse_u2c(bytes(size))


def test_parse_u2c_rejects_non_bytes() -> None:
    with pytest.raises(MalformedInput):
        parse_u2c(bytearray(773))  # type: ignore[arg-type]


def test_c2j_is_633_bytes_and_opens_for_the_journalist() -> None:
    payload = parse_u2c(send_u2c("via the mixer")).open(COVERNODE_1).payload
    c2j = forward_to_journalist(COVERNODE_1, JOURNALIST_KEY, payload)
    assert len(c2j.data) == 633
    reparsed = ENCRYPTED_C2J.decode(ENCRYPTED_C2J.check_size(c2j.data))
    sealed_u2j = reparsed.open(JOURNALIST, COVERNODE_1.public)
    assert sealed_u2j.data == payload.data
    u2j = sealed_u2j.open(JOURNALIST)
    assert u2j.reply_key == USER.public
    assert u2j.text.text() == "via the mixer"


def test_c2j_from_another_covernode_does_not_open() -> None:
    payload = parse_u2c(send_u2c()).open(COVERNODE_1).payload
    c2j = forward_to_journalist(COVERNODE_1, JOURNALIST_KEY, payload)
    with pytest.raises(DecryptionFailed):
        c2j.open(JOURNALIST, COVERNODE_2.public)


def test_filler_c2j_is_633_bytes_and_opens_for_nobody() -> None:
    filler = filler_c2j()
    assert len(filler.data) == 633
    for covernode in (COVERNODE_1, COVERNODE_2):
        with pytest.raises(DecryptionFailed):
            filler.open(JOURNALIST, covernode.public)


def test_c2j_is_reproducible_with_fixed_randomness() -> None:
    payload = parse_u2c(send_u2c()).open(COVERNODE_1).payload
    first = forward_to_journalist(COVERNODE_1, JOURNALIST_KEY, payload, zeros)
    second = forward_to_journalist(COVERNODE_1, JOURNALIST_KEY, payload, zeros)
    assert first.data == second.data
    assert first.data.endswith(bytes(24))


@pytest.mark.parametrize("size", [0, 632, 634])
def test_c2j_codec_rejects_wrong_sizes(size: int) -> None:
    with pytest.raises(MalformedInput):
        ENCRYPTED_C2J.check_size(bytes(size))
    with pytest.raises(MalformedInput):
        ENCRYPTED_C2J.decode(bytes(size))


# A reply key is a point a reply can be sealed to: the public key of some secret.
reply_keys = st.binary(min_size=32, max_size=32).map(
    lambda secret: EncryptionKeyPair.from_secret(secret).public.raw
)
# Points of small order on Curve25519 (and their non-canonical forms), as libsodium
# lists them: a shared key with any of them is all zeros.
LOW_ORDER_POINTS = [
    bytes(32),
    bytes([1]) + bytes(31),
    bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
    bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    bytes.fromhex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    bytes.fromhex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
]


@given(reply_keys, st.integers(0, 255), pcs_raw)
def test_u2j_bytes_round_trip(reply_key: bytes, reserved: int, text: bytes) -> None:
    raw = reply_key + bytes([reserved]) + text
    message = U2JMessage.from_bytes(raw)
    assert message.reply_key.raw == reply_key
    assert type(message.reply_key) is ReplyKey
    assert message.text.raw == text
    # The reserved byte is ignored on read and written as 0x00.
    assert message.to_bytes() == reply_key + b"\x00" + text
    assert U2JMessage.from_bytes(message.to_bytes()) == message
    assert len(message.to_bytes()) == 545


@pytest.mark.parametrize("point", LOW_ORDER_POINTS, ids=lambda p: p[:2].hex())
def test_a_u2j_whose_reply_key_no_reply_can_be_sealed_to_is_refused(point: bytes) -> None:
    # An attacker's U2J names a low-order reply key: sealing a reply to it would fail in
    # libsodium, so the message is refused when it is opened, before anyone can reply.
    recipient = EncryptionKeyPair.generate()
    text = PaddedCompressedString.from_text("reply to me")
    sealed = seal_anonymous(recipient.public, point + b"\x00" + text.raw)
    with pytest.raises(MalformedInput, match="low-order"):
        AnonymousBox(U2J, sealed).open(recipient)
    with pytest.raises(MalformedInput):
        seal_two_party(recipient, ReplyKey(point), b"a reply")
    with pytest.raises(MalformedInput):
        seal_anonymous(ReplyKey(point), b"a reply")


def test_u2j_repr_shows_no_text() -> None:
    secret_text = "the minister met the contractor at noon"
    reply_key = ReplyKey(EncryptionKeyPair.generate().public.raw)
    message = U2JMessage(reply_key, PaddedCompressedString.from_text(secret_text))
    reply = text_reply(secret_text)
    for shown in (repr(message), repr(reply), str(message), repr(message.text)):
        assert repr(message.text.raw)[:20] not in shown
        assert "minister" not in shown


@given(st.binary(min_size=4, max_size=4), st.binary(min_size=593, max_size=593))
def test_u2c_bytes_round_trip(tag: bytes, payload: bytes) -> None:
    message = U2CMessage.from_bytes(tag + payload)
    assert message.tag.raw == tag
    assert message.payload.data == payload
    assert message.to_bytes() == tag + payload


@pytest.mark.parametrize("size", [0, 544, 546])
def test_u2j_from_bytes_rejects_wrong_sizes(size: int) -> None:
    with pytest.raises(MalformedInput):
        U2JMessage.from_bytes(bytes(size))
    with pytest.raises(MalformedInput):
        ENCRYPTED_U2J.decode(bytes(size + 48))


@pytest.mark.parametrize("size", [0, 596, 598])
def test_u2c_from_bytes_rejects_wrong_sizes(size: int) -> None:
    with pytest.raises(MalformedInput):
        U2CMessage.from_bytes(bytes(size))


def test_u2j_with_a_bad_pcs_fails_when_the_text_is_read() -> None:
    raw = USER.public.raw + b"\x00" + bytes(512)  # declared PCS length 0
    sealed = AnonymousBox.seal(U2J, JOURNALIST.public, U2JMessage.from_bytes(raw))
    with pytest.raises(MalformedInput):
        sealed.open(JOURNALIST).text.text()


# --- journalist → CoverNode → user --------------------------------------------------------


@CRYPTO_SETTINGS
@given(fitting_texts)
def test_j2u_text_reply_is_553_bytes_and_opens_for_the_user(text: str) -> None:
    box = TwoPartyBox.seal(J2U, JOURNALIST, USER.public, text_reply(text))
    assert len(box.data) == 553
    reply = ENCRYPTED_J2U.decode(box.data).open(USER, JOURNALIST.public)
    assert reply.type is J2UType.TEXT
    assert reply.body.text() == text


def test_j2u_handover_is_553_bytes_and_names_the_new_recipient() -> None:
    box = TwoPartyBox.seal(J2U, JOURNALIST, USER.public, handover("another_journalist"))
    assert len(box.data) == 553
    reply = box.open(USER, JOURNALIST.public)
    assert reply.type is J2UType.HANDOVER
    assert reply.body.text() == "another_journalist"


def test_cover_j2u_is_553_bytes_and_opens_for_nobody() -> None:
    cover = cover_j2u()
    assert len(cover.data) == 553
    with pytest.raises(DecryptionFailed):
        cover.open(USER, JOURNALIST.public)


def test_j2c_real_is_730_bytes_flagged_real_and_opens_for_the_user() -> None:
    box = encrypt_j2c(COVERNODE_KEYS, JOURNALIST, USER_REPLY_KEY, text_reply("a reply"))
    assert len(box.data) == 730
    for covernode in (COVERNODE_1, COVERNODE_2):
        j2c = parse_j2c(box.data).open(covernode)
        assert j2c.is_real is True
        assert len(j2c.payload.data) == 553
        reply = j2c.payload.open(USER, JOURNALIST.public)
        assert reply.type is J2UType.TEXT
        assert reply.body.text() == "a reply"


def test_j2c_cover_is_730_bytes_flagged_cover_and_opens_for_nobody() -> None:
    cover = encrypt_cover_j2c(COVERNODE_KEYS)
    assert len(cover.data) == 730
    j2c = parse_j2c(cover.data).open(COVERNODE_1)
    assert j2c.is_real is False
    with pytest.raises(DecryptionFailed):
        j2c.payload.open(USER, JOURNALIST.public)


def test_j2c_does_not_open_for_others() -> None:
    box = parse_j2c(encrypt_j2c(COVERNODE_KEYS, JOURNALIST, USER_REPLY_KEY, text_reply("x")).data)
    for other in (JOURNALIST, USER, STRANGER):
        with pytest.raises(DecryptionFailed):
            box.open(other)


@pytest.mark.parametrize("count", [0, 1, 3])
def test_j2c_needs_exactly_two_covernode_keys(count: int) -> None:
    keys = [*COVERNODE_KEYS, CoverNodeMessagingKey.of(STRANGER)][:count]
    with pytest.raises(MisuseError):
        encrypt_j2c(keys, JOURNALIST, USER_REPLY_KEY, text_reply("x"))
    with pytest.raises(MisuseError):
        encrypt_cover_j2c(keys)


def test_reply_text_that_does_not_fit_is_refused() -> None:
    with pytest.raises(MessageTooLong):
        text_reply(TOO_LONG)


# --- handovers as CoverDrop lays them out ---------------------------------------------------
# common/src/api/models/messages/journalist_to_user_message.rs: 0x01, the id's UTF-8, NUL
# padding to 513 bytes; the apps read the id up to the first NUL, which must come within
# 128 bytes (Android's DecryptedDeadDropMessage.Handover.parse, iOS's
# DeadDropMessageParser.parseHandoverMessage).


def coverdrop_handover(journalist_id: bytes, rest: bytes = b"") -> bytes:
    """A handover J2U plaintext as CoverDrop's ``serialize`` writes it (``rest`` replaces
    the start of the NUL padding after the terminating NUL, which readers ignore)."""
    body = journalist_id + b"\0" + rest
    return b"\x01" + body.ljust(512, b"\0")


def test_a_handover_is_written_as_coverdrop_writes_it() -> None:
    assert handover("journalist_next").to_bytes() == coverdrop_handover(b"journalist_next")


@given(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=127))
def test_any_handover_coverdrop_writes_is_read(journalist_id: str) -> None:
    assume("/" not in journalist_id and "\\" not in journalist_id)
    raw = coverdrop_handover(journalist_id.encode(), b"anything after the NUL")
    message = J2UMessage.from_bytes(raw)
    assert message.type is J2UType.HANDOVER
    assert message.body.text() == journalist_id
    assert handover(journalist_id).body.text() == journalist_id
    assert app_handover_id(handover(journalist_id).to_bytes()) == journalist_id


@pytest.mark.parametrize(
    "body",
    [
        b"\0" * 512,  # an empty id
        b"a" * 128 + b"\0" * 384,  # the NUL past where the apps look
        b"a" * 512,  # no NUL at all
        b"\xff\xfe\0".ljust(512, b"\0"),  # not UTF-8
        b"a/b\0".ljust(512, b"\0"),  # not an id
    ],
)
def test_a_handover_coverdrop_would_not_read_is_unreadable(body: bytes) -> None:
    message = J2UMessage.from_bytes(b"\x01" + body)
    with pytest.raises(MalformedInput):
        message.body.text()


def test_a_handover_to_an_id_the_apps_cannot_read_is_refused() -> None:
    assert handover("a" * 127).body.text() == "a" * 127
    for bad in ("a" * 128, "", "a/b"):
        with pytest.raises(MalformedInput):
            handover(bad)


@pytest.mark.parametrize("size", [0, 729, 731])
def test_parse_j2c_rejects_wrong_sizes(size: int) -> None:
    with pytest.raises(MalformedInput):
        parse_j2c(bytes(size))


@given(st.sampled_from(J2UType), pcs_raw)
def test_j2u_bytes_round_trip(kind: J2UType, body: bytes) -> None:
    raw = bytes([kind]) + body
    message = J2UMessage.from_bytes(raw)
    assert message.type is kind
    assert message.body.raw == body
    assert message.to_bytes() == raw


@given(st.integers(min_value=2, max_value=255))
def test_j2u_unknown_type_is_malformed(kind: int) -> None:
    with pytest.raises(MalformedInput, match="unknown J2U message type"):
        J2UMessage.from_bytes(bytes([kind]) + bytes(512))


@pytest.mark.parametrize("size", [0, 512, 514])
def test_j2u_from_bytes_rejects_wrong_sizes(size: int) -> None:
    with pytest.raises(MalformedInput):
        J2UMessage.from_bytes(bytes(size))
    with pytest.raises(MalformedInput):
        ENCRYPTED_J2U.decode(bytes(size + 40))


@given(st.booleans(), st.binary(min_size=553, max_size=553))
def test_j2c_bytes_round_trip(is_real: bool, payload: bytes) -> None:
    raw = (b"\x01" if is_real else b"\x00") + payload
    message = J2CMessage.from_bytes(raw)
    assert message.is_real is is_real
    assert message.payload.data == payload
    assert message.to_bytes() == raw


@given(st.integers(min_value=2, max_value=255))
def test_j2c_flag_other_than_0_or_1_is_malformed(flag: int) -> None:
    with pytest.raises(MalformedInput, match="J2C flag"):
        J2CMessage.from_bytes(bytes([flag]) + bytes(553))


@pytest.mark.parametrize("size", [0, 553, 555])
def test_j2c_from_bytes_rejects_wrong_sizes(size: int) -> None:
    with pytest.raises(MalformedInput):
        J2CMessage.from_bytes(bytes(size))


def test_bad_flag_inside_an_authentic_j2c_is_malformed() -> None:
    sealed = seal_multi_anonymous(COVERNODE_KEYS, b"\x02" + bytes(553))
    with pytest.raises(MalformedInput, match="J2C flag"):
        parse_j2c(sealed).open(COVERNODE_1)


def test_unknown_type_inside_an_authentic_j2u_is_malformed() -> None:
    sealed = seal_two_party(JOURNALIST, USER.public, b"\x07" + bytes(512))
    with pytest.raises(MalformedInput, match="unknown J2U message type"):
        ENCRYPTED_J2U.decode(sealed).open(USER, JOURNALIST.public)


# --- CoverDrop's journalist dead drop -----------------------------------------------------


@pytest.mark.vectors
def test_coverdrop_journalist_dead_drop_entries(coverdrop_vectors: Path) -> None:
    folder = coverdrop_vectors / "crypto" / "common" / "journalist_dead_drop"
    journalist = EncryptionKeyPair.from_secret((folder / "02_journalist_sk").read_bytes())
    assert journalist.public.raw == (folder / "01_journalist_pk").read_bytes()
    covernode = PublicEncryptionKey((folder / "04_covernode_pk").read_bytes())
    user_key = (folder / "03_user_pk").read_bytes()
    data = (folder / "05_journalist_dead_drop").read_bytes()
    assert len(data) == 10 * C2J_ENCRYPTED_LEN
    opened: list[str] = []
    failures = 0
    for index in range(10):
        entry = data[index * C2J_ENCRYPTED_LEN : (index + 1) * C2J_ENCRYPTED_LEN]
        try:
            u2j = ENCRYPTED_C2J.decode(entry).open(journalist, covernode).open(journalist)
        except ProtocolError:
            failures += 1
            continue
        assert u2j.reply_key.raw == user_key
        opened.append(u2j.text.text())
    assert opened == ["こんにちは"] * 5
    assert failures == 5
