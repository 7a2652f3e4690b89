"""Dead drops: JSON, signing and verification, and trial decryption by users and recipients.

Hierarchies come from :mod:`tests.protocol.keyring`; entries are built with the real
message constructions (``encrypt_u2c``, ``forward_to_journalist``, ``encrypt_j2c``,
``filler_c2j``, ``cover_j2u``), so the decryptors see exactly what a CoverNode writes.
There is one type per direction: a :class:`UserDeadDrop` of J2U boxes and a
:class:`JournalistDeadDrop` of C2J boxes with an epoch; tests of both kinds run the same
checks through a helper generic in the body type.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from quietline.protocol.boxes import TwoPartyBox
from quietline.protocol.constants import C2J_ENCRYPTED_LEN, J2U_ENCRYPTED_LEN
from quietline.protocol.deaddrops import (
    BODY_TYPES,
    B,
    DeadDrop,
    DeadDropKind,
    JournalistDeadDrop,
    JournalistTrialDecryptor,
    UserDeadDrop,
    UserTrialDecryptor,
    dead_drop_list_json,
    dead_drop_page,
    journalist_signed_digest,
    needs_newer_keys,
    parse_dead_drop_list,
    sign_journalist_dead_drop,
    sign_user_dead_drop,
    user_signed_digest,
)
from quietline.protocol.errors import BadSignature, KeyUnavailable, MalformedInput, MisuseError
from quietline.protocol.keys import (
    EncryptionKeyPair,
    JournalistMessagingKey,
    ReplyKey,
)
from quietline.protocol.messages import (
    ENCRYPTED_C2J,
    ENCRYPTED_J2U,
    ENCRYPTED_U2J,
    J2U,
    EncryptedC2J,
    EncryptedJ2U,
    J2UType,
    U2CMessage,
    cover_j2u,
    encrypt_j2c,
    encrypt_u2c,
    filler_c2j,
    forward_to_journalist,
    handover,
    text_reply,
)
from quietline.protocol.recipients import RecipientTag
from quietline.protocol.verification import VerifiedKeys
from tests.protocol.keyring import Keyring, Member, build_keyring, derive_encryption_pair

NOW = datetime(2024, 5, 1, 12, 0, 0, 250_000, tzinfo=UTC)
CREATED_AT = NOW - timedelta(minutes=5)


@pytest.fixture
def keyring() -> Keyring:
    return build_keyring(
        NOW,
        covernode_ids=("covernode_001", "covernode_002"),
        journalist_ids=("alice", "bob"),
        messaging_keys=2,
        max_epoch=7,
    )


def sign_user(
    keyring: Keyring,
    entries: Sequence[EncryptedJ2U],
    *,
    created_at: datetime = CREATED_AT,
    covernode: str = "covernode_001",
) -> UserDeadDrop:
    node = keyring.covernode(covernode)
    return sign_user_dead_drop(
        entries,
        created_at,
        identity=node.identity.pair,
        identity_not_valid_after=node.identity.not_valid_after,
    )


def sign_journalist(
    keyring: Keyring,
    entries: Sequence[EncryptedC2J],
    *,
    epoch: int | None = None,
    created_at: datetime = CREATED_AT,
    covernode: str = "covernode_001",
) -> JournalistDeadDrop:
    node = keyring.covernode(covernode)
    return sign_journalist_dead_drop(
        entries,
        created_at,
        keyring.max_epoch if epoch is None else epoch,
        identity=node.identity.pair,
        identity_not_valid_after=node.identity.not_valid_after,
    )


def through_the_wire(body_type: type[B], dead_drops: list[DeadDrop[B]]) -> list[DeadDrop[B]]:
    """What a reader gets after the edge serves ``dead_drops`` as JSON."""
    return parse_dead_drop_list(body_type, json.loads(json.dumps(dead_drop_list_json(dead_drops))))


def user_entries(count: int) -> list[EncryptedJ2U]:
    return [cover_j2u() for _ in range(count)]


def journalist_entries(count: int) -> list[EncryptedC2J]:
    return [filler_c2j() for _ in range(count)]


# --- JSON and signatures ------------------------------------------------------------------


def check_survives_the_wire(
    keyring: Keyring, body_type: type[B], first: B, second: B, entries: Sequence[object]
) -> None:
    published = [first.published(41), second.published(42)]

    parsed = through_the_wire(body_type, published)

    assert parsed == published
    assert parsed[0].body.entries() == list(entries)
    for dead_drop in parsed:
        dead_drop.body.verify(keyring.verified())


@pytest.mark.parametrize("kind", list(DeadDropKind))
def test_a_signed_dead_drop_survives_the_wire_and_verifies(
    keyring: Keyring, kind: DeadDropKind
) -> None:
    if kind is DeadDropKind.USER:
        replies = user_entries(3)
        first_user = sign_user(keyring, replies)
        second_user = sign_user(keyring, replies[:1], covernode="covernode_002")
        check_survives_the_wire(keyring, UserDeadDrop, first_user, second_user, replies)
    else:
        messages = journalist_entries(3)
        first = sign_journalist(keyring, messages)
        second = sign_journalist(keyring, messages[:1], covernode="covernode_002")
        check_survives_the_wire(keyring, JournalistDeadDrop, first, second, messages)


def test_dead_drop_json_has_the_coverdrop_shape(keyring: Keyring) -> None:
    user = sign_user(keyring, user_entries(1)).published(1).to_json()
    journalist = sign_journalist(keyring, journalist_entries(1)).published(2)

    assert set(user) == {"id", "created_at", "data", "signature"}
    assert set(journalist.to_json()) == {"id", "created_at", "data", "signature", "epoch"}
    assert journalist.to_json()["epoch"] == keyring.max_epoch
    assert "=" not in user["data"]
    assert len(user["signature"]) == 128


def test_a_page_is_the_list_json_of_what_fits_and_reads_no_further(keyring: Keyring) -> None:
    published = [sign_user(keyring, user_entries(2)).published(i) for i in range(1, 6)]
    whole = json.dumps(dead_drop_list_json(published), separators=(",", ":")).encode()
    assert dead_drop_page(published, len(whole)) == whole
    taken: list[int] = []

    def reading() -> Iterator[DeadDrop[UserDeadDrop]]:
        for dead_drop in published:
            taken.append(dead_drop.id)
            yield dead_drop

    two = json.dumps(dead_drop_list_json(published[:2]), separators=(",", ":")).encode()
    page = dead_drop_page(reading(), len(two))
    assert page == two
    assert taken == [1, 2, 3]  # the third was read to learn it does not fit; no more
    assert (
        dead_drop_page(published, len(two) - 1)
        == json.dumps(dead_drop_list_json(published[:1]), separators=(",", ":")).encode()
    )


def test_a_page_holds_at_least_one_dead_drop_and_may_be_empty(keyring: Keyring) -> None:
    published = [sign_user(keyring, user_entries(2)).published(i) for i in (7, 8)]
    assert parse_dead_drop_list(UserDeadDrop, json.loads(dead_drop_page(published, 1)))[0].id == 7
    assert json.loads(dead_drop_page([], 1)) == {"dead_drops": []}


def test_entries_have_the_fixed_sizes() -> None:
    assert DeadDropKind.USER.entry_size == J2U_ENCRYPTED_LEN == 553
    assert DeadDropKind.JOURNALIST.entry_size == C2J_ENCRYPTED_LEN == 633
    assert UserDeadDrop.KIND is DeadDropKind.USER
    assert JournalistDeadDrop.KIND is DeadDropKind.JOURNALIST
    assert set(BODY_TYPES) == set(DeadDropKind)
    for kind, body_type in BODY_TYPES.items():
        assert body_type.KIND is kind


def test_entries_come_back_as_typed_boxes(keyring: Keyring) -> None:
    replies, messages = user_entries(2), journalist_entries(2)

    user_boxes = sign_user(keyring, replies).entries()
    journalist_boxes = sign_journalist(keyring, messages).entries()

    assert user_boxes == replies
    assert journalist_boxes == messages
    assert all(isinstance(box, TwoPartyBox) and box.codec is J2U for box in user_boxes)
    assert all(
        isinstance(box, TwoPartyBox) and box.codec is ENCRYPTED_U2J for box in journalist_boxes
    )


def test_the_legacy_cert_field_is_accepted_and_not_written(keyring: Keyring) -> None:
    dead_drop = sign_user(keyring, user_entries(1)).published(3)
    document = dead_drop.to_json() | {"cert": "00" * 64}

    parsed = DeadDrop.from_json(UserDeadDrop, document)

    assert parsed == dead_drop
    assert "cert" not in parsed.to_json()


def test_the_signed_digest_is_sha256_of_data_seconds_and_epoch() -> None:
    created_at = datetime(2023, 10, 4, 19, 6, 41, 31_534, tzinfo=UTC)
    seconds = int(created_at.timestamp()).to_bytes(8, "big")

    user = user_signed_digest(b"data", created_at)
    journalist = journalist_signed_digest(b"data", created_at, 5)

    assert user == hashlib.sha256(b"data" + seconds).digest()
    assert journalist == hashlib.sha256(b"data" + seconds + (5).to_bytes(4, "big")).digest()
    user_data, journalist_data = bytes(J2U_ENCRYPTED_LEN), bytes(C2J_ENCRYPTED_LEN)
    assert UserDeadDrop(created_at, user_data, bytes(64)).signed_digest() == user_signed_digest(
        user_data, created_at
    )
    assert JournalistDeadDrop(
        created_at, journalist_data, bytes(64), 5
    ).signed_digest() == journalist_signed_digest(journalist_data, created_at, 5)
    # The journalist digest cannot be asked for without an epoch (the type requires one);
    # what remains is that no journalist dead drop can be had without the epoch it signs.
    with pytest.raises(MalformedInput):
        JournalistDeadDrop.restore(created_at, journalist_data, bytes(64), None)
    body = JournalistDeadDrop(created_at, journalist_data, bytes(64), 5).to_json()
    del body["epoch"]
    with pytest.raises(MalformedInput):
        JournalistDeadDrop.from_json(body)


def flip_a_data_bit(body: JournalistDeadDrop) -> JournalistDeadDrop:
    return replace(body, data=bytes([body.data[0] ^ 1]) + body.data[1:])


def one_second_later(body: JournalistDeadDrop) -> JournalistDeadDrop:
    return replace(body, created_at=body.created_at + timedelta(seconds=1))


def next_epoch(body: JournalistDeadDrop) -> JournalistDeadDrop:
    return replace(body, epoch=body.epoch + 1)


def zero_signature(body: JournalistDeadDrop) -> JournalistDeadDrop:
    return replace(body, signature=bytes(64))


@pytest.mark.parametrize("tamper", [flip_a_data_bit, one_second_later, next_epoch, zero_signature])
def test_any_change_to_a_signed_field_breaks_the_signature(
    keyring: Keyring, tamper: Callable[[JournalistDeadDrop], JournalistDeadDrop]
) -> None:
    body = sign_journalist(keyring, journalist_entries(2))
    tampered = tamper(body)

    body.verify(keyring.verified())
    with pytest.raises(BadSignature):
        tampered.verify(keyring.verified())


def test_sub_second_digits_of_created_at_are_not_signed(keyring: Keyring) -> None:
    # CoverDrop signs whole unix seconds, so a reader must not insist on the fraction.
    body = sign_user(keyring, user_entries(1))

    replace(body, created_at=body.created_at.replace(microsecond=0)).verify(keyring.verified())


def test_a_dead_drop_signed_by_a_journalist_identity_key_is_refused(keyring: Keyring) -> None:
    alice = keyring.journalist("alice")

    body = sign_user_dead_drop(
        user_entries(1),
        CREATED_AT,
        identity=alice.identity.pair,
        identity_not_valid_after=alice.identity.not_valid_after,
    )

    with pytest.raises(BadSignature):
        body.verify(keyring.verified())


def test_a_dead_drop_signed_by_a_rejected_covernode_key_is_refused(keyring: Keyring) -> None:
    body = sign_user(keyring, user_entries(1))
    stranger = build_keyring(NOW, seed=9)

    with pytest.raises(BadSignature):
        body.verify(stranger.verified())


def test_signing_with_an_identity_key_past_its_expiry_raises_key_expired(
    keyring: Keyring,
) -> None:
    node = keyring.covernode("covernode_001")
    expiry = node.identity.not_valid_after
    too_late = expiry + timedelta(seconds=1)

    sign_user(keyring, user_entries(1), created_at=expiry)
    sign_journalist(keyring, journalist_entries(1), created_at=expiry)
    with pytest.raises(KeyUnavailable):
        sign_user(keyring, user_entries(1), created_at=too_late)
    with pytest.raises(KeyUnavailable):
        sign_journalist(keyring, journalist_entries(1), created_at=too_late)


def signed_anyway(node: Member, entries: Sequence[EncryptedJ2U], at: datetime) -> UserDeadDrop:
    """A dead drop signed at ``at`` without ``sign_user_dead_drop``'s expiry check."""
    data = b"".join(entry.data for entry in entries)
    return UserDeadDrop(at, data, node.identity.pair.sign(user_signed_digest(data, at)))


def test_a_dead_drop_created_after_its_signing_key_expired_fails_to_verify(
    keyring: Keyring,
) -> None:
    node = keyring.covernode("covernode_001")
    expiry = node.identity.not_valid_after
    entries = user_entries(1)

    signed_anyway(node, entries, expiry).verify(keyring.verified())
    late = signed_anyway(node, entries, expiry + timedelta(seconds=1))
    with pytest.raises(BadSignature):
        late.verify(keyring.verified())


def test_needs_newer_keys_when_the_epoch_is_past_the_key_set(keyring: Keyring) -> None:
    verified = keyring.verified()
    entries = journalist_entries(1)

    def at_epoch(epoch: int) -> DeadDrop[JournalistDeadDrop]:
        return sign_journalist(keyring, entries, epoch=epoch).published(1)

    assert needs_newer_keys(at_epoch(keyring.max_epoch + 1), verified)
    assert not needs_newer_keys(at_epoch(keyring.max_epoch), verified)
    assert not needs_newer_keys(at_epoch(0), verified)
    # needs_newer_keys takes only journalist dead drops (by type); a user dead drop
    # carries no epoch that could ask for newer keys.
    user = sign_user(keyring, user_entries(1))
    with pytest.raises(MalformedInput):
        UserDeadDrop.restore(user.created_at, user.data, user.signature, keyring.max_epoch + 1)
    assert "epoch" not in user.to_json()


@pytest.mark.parametrize(
    ("kind", "data", "epoch"),
    [
        (DeadDropKind.USER, b"", None),
        (DeadDropKind.USER, bytes(J2U_ENCRYPTED_LEN + 1), None),
        (DeadDropKind.USER, bytes(C2J_ENCRYPTED_LEN), None),
        (DeadDropKind.USER, bytes(J2U_ENCRYPTED_LEN), 1),
        (DeadDropKind.JOURNALIST, bytes(C2J_ENCRYPTED_LEN), None),
        (DeadDropKind.JOURNALIST, bytes(C2J_ENCRYPTED_LEN), -1),
        (DeadDropKind.JOURNALIST, bytes(C2J_ENCRYPTED_LEN), 2**31),
        (DeadDropKind.JOURNALIST, bytes(J2U_ENCRYPTED_LEN), 1),
    ],
)
def test_malformed_dead_drops_are_refused_on_construction(
    kind: DeadDropKind, data: bytes, epoch: int | None
) -> None:
    with pytest.raises(MalformedInput):
        BODY_TYPES[kind].restore(CREATED_AT, data, bytes(64), epoch)


@pytest.mark.parametrize("signature", [b"", bytes(63), bytes(65)])
def test_a_signature_of_the_wrong_size_is_refused_on_construction(signature: bytes) -> None:
    with pytest.raises(MalformedInput):
        UserDeadDrop(CREATED_AT, bytes(J2U_ENCRYPTED_LEN), signature)
    with pytest.raises(MalformedInput):
        JournalistDeadDrop(CREATED_AT, bytes(C2J_ENCRYPTED_LEN), signature, 1)


def test_entries_of_the_wrong_size_cannot_be_signed(keyring: Keyring) -> None:
    # The signers take typed boxes, so an entry of the other kind is refused when the
    # typed box is made from its bytes; and a dead drop needs at least one entry.
    with pytest.raises(MalformedInput):
        ENCRYPTED_J2U.decode(filler_c2j().data)
    with pytest.raises(MalformedInput):
        ENCRYPTED_C2J.decode(cover_j2u().data)
    with pytest.raises(MalformedInput):
        TwoPartyBox(J2U, bytes(C2J_ENCRYPTED_LEN))
    for sign_nothing in (lambda: sign_user(keyring, []), lambda: sign_journalist(keyring, [])):
        with pytest.raises(MisuseError) as raised:
            sign_nothing()
        assert not isinstance(raised.value, KeyUnavailable)


# --- users reading replies ----------------------------------------------------------------


def test_a_user_finds_exactly_the_replies_meant_for_them(keyring: Keyring) -> None:
    user = derive_encryption_pair(0, "user")
    someone_else = derive_encryption_pair(0, "someone else")
    alice, bob = keyring.journalist("alice"), keyring.journalist("bob")
    node = keyring.covernode("covernode_001")
    wrapping = keyring.verified().covernode_wrapping_keys()

    via_covernode = (
        encrypt_j2c(wrapping, alice.newest_messaging.pair, ReplyKey.of(user), text_reply("first"))
        .open(node.newest_messaging.pair)
        .payload
    )
    direct = TwoPartyBox.seal(J2U, bob.newest_messaging.pair, user.public, handover("alice"))
    older_key = TwoPartyBox.seal(J2U, alice.messaging[0].pair, user.public, text_reply("hi"))
    not_ours = TwoPartyBox.seal(
        J2U, alice.newest_messaging.pair, someone_else.public, text_reply("psst")
    )
    entries = [
        cover_j2u(),
        via_covernode,
        cover_j2u(),
        not_ours,
        direct,
        older_key,
        cover_j2u(),
    ]
    (dead_drop,) = through_the_wire(UserDeadDrop, [sign_user(keyring, entries).published(5)])
    dead_drop.body.verify(keyring.verified())

    replies = UserTrialDecryptor(user, keyring.verified()).open(dead_drop)

    found = [
        (reply.dead_drop_id, reply.journalist_id, reply.message.type, reply.message.body.text())
        for reply in replies
    ]
    assert found == [
        (5, "alice", J2UType.TEXT, "first"),
        (5, "bob", J2UType.HANDOVER, "alice"),
        (5, "alice", J2UType.TEXT, "hi"),
    ]
    (theirs,) = UserTrialDecryptor(someone_else, keyring.verified()).open(dead_drop)
    assert theirs.message.body.text() == "psst"


def test_replies_from_unverified_keys_are_not_read(keyring: Keyring) -> None:
    user = derive_encryption_pair(0, "user")
    impostor = derive_encryption_pair(0, "impostor")
    entry = TwoPartyBox.seal(J2U, impostor, user.public, text_reply("trust me"))
    dead_drop = sign_user(keyring, [entry]).published(1)

    assert UserTrialDecryptor(user, keyring.verified()).open(dead_drop) == []


def test_a_dead_drop_of_only_cover_yields_nothing(keyring: Keyring) -> None:
    user = derive_encryption_pair(0, "user")
    dead_drop = sign_user(keyring, user_entries(20)).published(1)

    assert UserTrialDecryptor(user, keyring.verified()).open(dead_drop) == []


def test_a_dead_drop_of_one_kind_cannot_be_read_as_the_other(keyring: Keyring) -> None:
    # Each decryptor takes only its own kind of dead drop (by type). What remains to
    # check at run time: the bytes of one kind never parse as the other kind.
    user_drop = sign_user(keyring, user_entries(1)).published(1)
    journalist_drop = sign_journalist(keyring, journalist_entries(1)).published(2)

    with pytest.raises(MalformedInput):
        parse_dead_drop_list(UserDeadDrop, dead_drop_list_json([journalist_drop]))
    with pytest.raises(MalformedInput):
        DeadDrop.from_json(JournalistDeadDrop, user_drop.to_json() | {"epoch": 1})
    with pytest.raises(MalformedInput):
        UserDeadDrop(CREATED_AT, journalist_drop.body.data, journalist_drop.body.signature)
    with pytest.raises(MalformedInput):
        JournalistDeadDrop(CREATED_AT, user_drop.body.data, user_drop.body.signature, 1)


def test_a_recipient_without_messaging_keys_cannot_decrypt(keyring: Keyring) -> None:
    with pytest.raises(KeyUnavailable):
        JournalistTrialDecryptor([], keyring.verified().covernode_wrapping_keys())


# --- recipients reading user messages -----------------------------------------------------


def deliver(
    keyring: Keyring,
    verified: VerifiedKeys,
    *,
    recipient: Member,
    sealed_to: JournalistMessagingKey,
    reply_key: ReplyKey,
    text: str,
) -> EncryptedC2J:
    """A user's message through a CoverNode: the 633-byte C2J entry it writes."""
    u2c = encrypt_u2c(
        verified.covernode_wrapping_keys(),
        recipient_id=recipient.id,
        recipient_key=sealed_to,
        reply_key=reply_key,
        text=text,
    )
    node = keyring.covernode("covernode_001")
    opened: U2CMessage = u2c.open(node.newest_messaging.pair)
    assert opened.tag == RecipientTag.of(recipient.id)
    forward_key = verified.journalist_messaging_key(recipient.id)
    return forward_to_journalist(node.newest_messaging.pair, forward_key, opened.payload)


def recipient_decryptor(member: Member, verified: VerifiedKeys) -> JournalistTrialDecryptor:
    return JournalistTrialDecryptor(member.messaging_pairs(), verified.covernode_messaging_keys())


def test_a_recipient_finds_forwarded_messages_among_fillers(keyring: Keyring) -> None:
    verified = keyring.verified()
    alice, bob = keyring.journalist("alice"), keyring.journalist("bob")
    reply = ReplyKey.of(EncryptionKeyPair.generate())
    for_alice = deliver(
        keyring,
        verified,
        recipient=alice,
        sealed_to=verified.journalist_messaging_key("alice"),
        reply_key=reply,
        text="こんにちは",
    )
    for_bob = deliver(
        keyring,
        verified,
        recipient=bob,
        sealed_to=verified.journalist_messaging_key("bob"),
        reply_key=reply,
        text="for bob",
    )
    entries = [*journalist_entries(3), for_alice, *journalist_entries(2), for_bob]
    (dead_drop,) = through_the_wire(
        JournalistDeadDrop, [sign_journalist(keyring, entries).published(9)]
    )
    dead_drop.body.verify(verified)
    assert not needs_newer_keys(dead_drop, verified)

    received = recipient_decryptor(alice, verified).open(dead_drop)

    assert [(m.dead_drop_id, m.message.text.text()) for m in received] == [(9, "こんにちは")]
    assert received[0].message.reply_key == reply
    (bobs,) = recipient_decryptor(bob, verified).open(dead_drop)
    assert bobs.message.text.text() == "for bob"


def test_a_message_sealed_to_an_older_key_and_forwarded_to_the_newer_one_is_read(
    keyring: Keyring,
) -> None:
    verified = keyring.verified()
    alice = keyring.journalist("alice")
    older = JournalistMessagingKey.of(alice.messaging[0].pair)
    assert older != verified.journalist_messaging_key("alice")
    reply = ReplyKey.of(EncryptionKeyPair.generate())
    entry = deliver(
        keyring, verified, recipient=alice, sealed_to=older, reply_key=reply, text="old key"
    )
    dead_drop = sign_journalist(keyring, [*journalist_entries(2), entry]).published(1)

    (received,) = recipient_decryptor(alice, verified).open(dead_drop)

    assert received.message.text.text() == "old key"
    assert received.message.reply_key == reply
    with_newest_only = JournalistTrialDecryptor(
        [alice.newest_messaging.pair], verified.covernode_wrapping_keys()
    )
    assert with_newest_only.open(dead_drop) == []
