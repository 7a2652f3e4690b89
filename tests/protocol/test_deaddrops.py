"""Dead drops: JSON, signing and verification, and trial decryption by users and recipients.

Hierarchies come from :mod:`tests.protocol.keyring`; entries are built with the real
message constructions (``encrypt_u2c``, ``forward_to_journalist``, ``encrypt_j2c``,
``filler_c2j``, ``cover_j2u``), so the decryptors see exactly what a CoverNode writes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from quietline.protocol.boxes import TwoPartyBox
from quietline.protocol.certificates import KeyRole
from quietline.protocol.constants import C2J_ENCRYPTED_LEN, J2U_ENCRYPTED_LEN
from quietline.protocol.deaddrops import (
    DeadDrop,
    DeadDropKind,
    JournalistTrialDecryptor,
    UnpublishedDeadDrop,
    UserTrialDecryptor,
    dead_drop_list_json,
    needs_newer_keys,
    parse_dead_drop_list,
    sign_dead_drop,
    signature_data,
)
from quietline.protocol.errors import BadSignature, KeyUnavailable, MalformedInput
from quietline.protocol.keys import EncryptionKeyPair, PublicEncryptionKey
from quietline.protocol.messages import (
    J2U,
    J2UType,
    RecipientTag,
    U2CMessage,
    cover_j2u,
    encrypt_j2c,
    encrypt_u2c,
    filler_c2j,
    forward_to_journalist,
    handover,
    text_reply,
)
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


def sign(
    keyring: Keyring,
    kind: DeadDropKind,
    entries: list[bytes],
    *,
    epoch: int | None = None,
    created_at: datetime = CREATED_AT,
    covernode: str = "covernode_001",
) -> UnpublishedDeadDrop:
    node = keyring.covernode(covernode)
    if kind is DeadDropKind.JOURNALIST and epoch is None:
        epoch = keyring.max_epoch
    return sign_dead_drop(
        kind,
        entries,
        created_at,
        epoch,
        identity=node.identity.pair,
        identity_not_valid_after=node.identity.not_valid_after,
    )


def through_the_wire(kind: DeadDropKind, dead_drops: list[DeadDrop]) -> list[DeadDrop]:
    """What a reader gets after the edge serves ``dead_drops`` as JSON."""
    return parse_dead_drop_list(kind, json.loads(json.dumps(dead_drop_list_json(dead_drops))))


def user_entries(count: int) -> list[bytes]:
    return [cover_j2u().data for _ in range(count)]


def journalist_entries(count: int) -> list[bytes]:
    return [filler_c2j().data for _ in range(count)]


# --- JSON and signatures ------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(DeadDropKind))
def test_a_signed_dead_drop_survives_the_wire_and_verifies(
    keyring: Keyring, kind: DeadDropKind
) -> None:
    entries = user_entries(3) if kind is DeadDropKind.USER else journalist_entries(3)
    first = sign(keyring, kind, entries).published(41)
    second = sign(keyring, kind, entries[:1], covernode="covernode_002").published(42)

    parsed = through_the_wire(kind, [first, second])

    assert parsed == [first, second]
    assert parsed[0].body.entries() == entries
    for dead_drop in parsed:
        dead_drop.body.verify(keyring.verified())


def test_dead_drop_json_has_the_coverdrop_shape(keyring: Keyring) -> None:
    user = sign(keyring, DeadDropKind.USER, user_entries(1)).published(1).to_json()
    journalist = sign(keyring, DeadDropKind.JOURNALIST, journalist_entries(1)).published(2)

    assert set(user) == {"id", "created_at", "data", "signature"}
    assert set(journalist.to_json()) == {"id", "created_at", "data", "signature", "epoch"}
    assert journalist.to_json()["epoch"] == keyring.max_epoch
    assert "=" not in user["data"]
    assert len(user["signature"]) == 128


def test_entries_have_the_fixed_sizes() -> None:
    assert DeadDropKind.USER.entry_size == J2U_ENCRYPTED_LEN == 553
    assert DeadDropKind.JOURNALIST.entry_size == C2J_ENCRYPTED_LEN == 633


def test_the_legacy_cert_field_is_accepted_and_not_written(keyring: Keyring) -> None:
    dead_drop = sign(keyring, DeadDropKind.USER, user_entries(1)).published(3)
    document = dead_drop.to_json() | {"cert": "00" * 64}

    parsed = DeadDrop.from_json(DeadDropKind.USER, document)

    assert parsed == dead_drop
    assert "cert" not in parsed.to_json()


def test_the_signed_digest_is_sha256_of_data_seconds_and_epoch() -> None:
    created_at = datetime(2023, 10, 4, 19, 6, 41, 31_534, tzinfo=UTC)
    seconds = int(created_at.timestamp()).to_bytes(8, "big")

    user = signature_data(DeadDropKind.USER, b"data", created_at, None)
    journalist = signature_data(DeadDropKind.JOURNALIST, b"data", created_at, 5)

    assert user == hashlib.sha256(b"data" + seconds).digest()
    assert journalist == hashlib.sha256(b"data" + seconds + (5).to_bytes(4, "big")).digest()
    with pytest.raises(MalformedInput):
        signature_data(DeadDropKind.JOURNALIST, b"data", created_at, None)


def flip_a_data_bit(body: UnpublishedDeadDrop) -> UnpublishedDeadDrop:
    return replace(body, data=bytes([body.data[0] ^ 1]) + body.data[1:])


def one_second_later(body: UnpublishedDeadDrop) -> UnpublishedDeadDrop:
    return replace(body, created_at=body.created_at + timedelta(seconds=1))


def next_epoch(body: UnpublishedDeadDrop) -> UnpublishedDeadDrop:
    assert body.epoch is not None
    return replace(body, epoch=body.epoch + 1)


def zero_signature(body: UnpublishedDeadDrop) -> UnpublishedDeadDrop:
    return replace(body, signature=bytes(64))


@pytest.mark.parametrize("tamper", [flip_a_data_bit, one_second_later, next_epoch, zero_signature])
def test_any_change_to_a_signed_field_breaks_the_signature(
    keyring: Keyring, tamper: Callable[[UnpublishedDeadDrop], UnpublishedDeadDrop]
) -> None:
    body = sign(keyring, DeadDropKind.JOURNALIST, journalist_entries(2))
    tampered = tamper(body)

    body.verify(keyring.verified())
    with pytest.raises(BadSignature):
        tampered.verify(keyring.verified())


def test_sub_second_digits_of_created_at_are_not_signed(keyring: Keyring) -> None:
    # CoverDrop signs whole unix seconds, so a reader must not insist on the fraction.
    body = sign(keyring, DeadDropKind.USER, user_entries(1))

    replace(body, created_at=body.created_at.replace(microsecond=0)).verify(keyring.verified())


def test_a_dead_drop_signed_by_a_journalist_identity_key_is_refused(keyring: Keyring) -> None:
    alice = keyring.journalist("alice")

    body = sign_dead_drop(
        DeadDropKind.USER,
        user_entries(1),
        CREATED_AT,
        None,
        identity=alice.identity.pair,
        identity_not_valid_after=alice.identity.not_valid_after,
    )

    with pytest.raises(BadSignature):
        body.verify(keyring.verified())


def test_a_dead_drop_signed_by_a_rejected_covernode_key_is_refused(keyring: Keyring) -> None:
    body = sign(keyring, DeadDropKind.USER, user_entries(1))
    stranger = build_keyring(NOW, seed=9)

    with pytest.raises(BadSignature):
        body.verify(stranger.verified())


def test_signing_with_an_identity_key_past_its_expiry_raises_key_expired(
    keyring: Keyring,
) -> None:
    node = keyring.covernode("covernode_001")
    expiry = node.identity.not_valid_after

    sign(keyring, DeadDropKind.USER, user_entries(1), created_at=expiry)
    with pytest.raises(KeyUnavailable):
        sign(keyring, DeadDropKind.USER, user_entries(1), created_at=expiry + timedelta(seconds=1))


def signed_anyway(
    node: Member, kind: DeadDropKind, entries: list[bytes], at: datetime
) -> UnpublishedDeadDrop:
    """A dead drop signed at ``at`` without ``sign_dead_drop``'s expiry check."""
    data = b"".join(entries)
    signature = node.identity.pair.sign(signature_data(kind, data, at, None))
    return UnpublishedDeadDrop(kind, at, data, signature, None)


def test_a_dead_drop_created_after_its_signing_key_expired_fails_to_verify(
    keyring: Keyring,
) -> None:
    node = keyring.covernode("covernode_001")
    expiry = node.identity.not_valid_after
    entries = user_entries(1)

    signed_anyway(node, DeadDropKind.USER, entries, expiry).verify(keyring.verified())
    late = signed_anyway(node, DeadDropKind.USER, entries, expiry + timedelta(seconds=1))
    with pytest.raises(BadSignature):
        late.verify(keyring.verified())


def test_needs_newer_keys_when_the_epoch_is_past_the_key_set(keyring: Keyring) -> None:
    verified = keyring.verified()
    entries = journalist_entries(1)

    def at_epoch(epoch: int) -> DeadDrop:
        return sign(keyring, DeadDropKind.JOURNALIST, entries, epoch=epoch).published(1)

    assert needs_newer_keys(at_epoch(keyring.max_epoch + 1), verified)
    assert not needs_newer_keys(at_epoch(keyring.max_epoch), verified)
    assert not needs_newer_keys(at_epoch(0), verified)
    user = sign(keyring, DeadDropKind.USER, user_entries(1)).published(2)
    assert not needs_newer_keys(user, verified)


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
        UnpublishedDeadDrop(kind, CREATED_AT, data, bytes(64), epoch)


def test_signing_refuses_entries_of_the_wrong_size(keyring: Keyring) -> None:
    with pytest.raises(MalformedInput):
        sign(keyring, DeadDropKind.USER, journalist_entries(1))


# --- users reading replies ----------------------------------------------------------------


def test_a_user_finds_exactly_the_replies_meant_for_them(keyring: Keyring) -> None:
    user = derive_encryption_pair(0, "user")
    someone_else = derive_encryption_pair(0, "someone else")
    alice, bob = keyring.journalist("alice"), keyring.journalist("bob")
    node = keyring.covernode("covernode_001")
    wrapping = keyring.verified().covernode_wrapping_keys()

    via_covernode = (
        encrypt_j2c(wrapping, alice.newest_messaging.pair, user.public, text_reply("first"))
        .open(node.newest_messaging.pair)
        .payload.data
    )
    direct = TwoPartyBox.seal(J2U, bob.newest_messaging.pair, user.public, handover("alice")).data
    older_key = TwoPartyBox.seal(J2U, alice.messaging[0].pair, user.public, text_reply("hi")).data
    not_ours = TwoPartyBox.seal(
        J2U, alice.newest_messaging.pair, someone_else.public, text_reply("psst")
    ).data
    entries = [
        cover_j2u().data,
        via_covernode,
        cover_j2u().data,
        not_ours,
        direct,
        older_key,
        cover_j2u().data,
    ]
    (dead_drop,) = through_the_wire(
        DeadDropKind.USER, [sign(keyring, DeadDropKind.USER, entries).published(5)]
    )
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
    entry = TwoPartyBox.seal(J2U, impostor, user.public, text_reply("trust me")).data
    dead_drop = sign(keyring, DeadDropKind.USER, [entry]).published(1)

    assert UserTrialDecryptor(user, keyring.verified()).open(dead_drop) == []


def test_a_dead_drop_of_only_cover_yields_nothing(keyring: Keyring) -> None:
    user = derive_encryption_pair(0, "user")
    dead_drop = sign(keyring, DeadDropKind.USER, user_entries(20)).published(1)

    assert UserTrialDecryptor(user, keyring.verified()).open(dead_drop) == []


def test_each_decryptor_refuses_the_other_kind(keyring: Keyring) -> None:
    user_drop = sign(keyring, DeadDropKind.USER, user_entries(1)).published(1)
    journalist_drop = sign(keyring, DeadDropKind.JOURNALIST, journalist_entries(1)).published(2)
    alice = keyring.journalist("alice")

    with pytest.raises(MalformedInput):
        UserTrialDecryptor(derive_encryption_pair(0, "user"), keyring.verified()).open(
            journalist_drop
        )
    with pytest.raises(MalformedInput):
        JournalistTrialDecryptor(alice.messaging_pairs(), []).open(user_drop)


def test_a_recipient_without_messaging_keys_cannot_decrypt(keyring: Keyring) -> None:
    with pytest.raises(KeyUnavailable):
        JournalistTrialDecryptor([], keyring.verified().covernode_wrapping_keys())


# --- recipients reading user messages -----------------------------------------------------


def deliver(
    keyring: Keyring,
    verified: VerifiedKeys,
    *,
    recipient: Member,
    sealed_to: PublicEncryptionKey,
    reply_key: PublicEncryptionKey,
    text: str,
) -> bytes:
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
    return forward_to_journalist(node.newest_messaging.pair, forward_key, opened.payload).data


def recipient_decryptor(member: Member, verified: VerifiedKeys) -> JournalistTrialDecryptor:
    covernode_keys = [
        key.encryption_key()
        for keys in verified.of_role(KeyRole.COVERNODE_MSG).values()
        for key in keys
    ]
    return JournalistTrialDecryptor(member.messaging_pairs(), covernode_keys)


def test_a_recipient_finds_forwarded_messages_among_fillers(keyring: Keyring) -> None:
    verified = keyring.verified()
    alice, bob = keyring.journalist("alice"), keyring.journalist("bob")
    reply = EncryptionKeyPair.generate().public
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
        DeadDropKind.JOURNALIST,
        [sign(keyring, DeadDropKind.JOURNALIST, entries).published(9)],
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
    older = alice.messaging[0]
    assert older.public != verified.journalist_messaging_key("alice")
    reply = EncryptionKeyPair.generate().public
    entry = deliver(
        keyring, verified, recipient=alice, sealed_to=older.public, reply_key=reply, text="old key"
    )
    dead_drop = sign(keyring, DeadDropKind.JOURNALIST, [*journalist_entries(2), entry]).published(1)

    (received,) = recipient_decryptor(alice, verified).open(dead_drop)

    assert received.message.text.text() == "old key"
    assert received.message.reply_key == reply
    with_newest_only = JournalistTrialDecryptor(
        [alice.newest_messaging.pair], verified.covernode_wrapping_keys()
    )
    assert with_newest_only.open(dead_drop) == []
