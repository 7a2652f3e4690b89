"""The published key hierarchy: JSON round trip, chain verification and key selection.

Every hierarchy here is built in code by :mod:`tests.protocol.keyring` at a fixed
``NOW``; CoverDrop's own published hierarchies are checked in
``test_coverdrop_integration``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quietline.protocol.certificates import KeyRole, SignedKey, certificate_data
from quietline.protocol.constants import (
    COVERNODE_MSG_KEY_VALIDITY,
    JOURNALIST_MSG_KEY_VALIDITY,
)
from quietline.protocol.errors import KeyUnavailable, MalformedInput, UntrustedKey
from quietline.protocol.hierarchy import JournalistProfile, ProvisioningFamily, PublishedKeys, Realm
from quietline.protocol.keys import CoverNodeMessagingKey, JournalistMessagingKey, SigningKeyPair
from quietline.protocol.recipients import RecipientTag
from quietline.protocol.roles import OrganizationStatements
from quietline.protocol.verification import KeyVerification, RejectedKey, verify_published_keys
from tests.protocol.keyring import (
    IssuedEncryptionKey,
    IssuedSigningKey,
    Keyring,
    Member,
    build_keyring,
    derive_encryption_pair,
    derive_signing_pair,
    issue_encryption_key,
    issue_signing_key,
)
from tests.protocol.strategies import recipient_ids

NOW = datetime(2024, 5, 1, 12, 0, 0, 250_000, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def sign_unclamped(parent: SigningKeyPair, key: bytes, not_valid_after: datetime) -> SignedKey:
    """A certificate as a careless (or hostile) parent might write it: no clamping."""
    return SignedKey(key, parent.sign(certificate_data(key, not_valid_after)), not_valid_after)


def rejected_by_key(verification: KeyVerification) -> dict[bytes, RejectedKey]:
    return {rejected.key: rejected for rejected in verification.rejected}


def verified_key_bytes(verification: KeyVerification) -> set[bytes]:
    return {key.key for key in verification.verified.keys}


def member_keys(member: Member) -> set[bytes]:
    return {member.identity.signed.key} | {key.signed.key for key in member.messaging}


# --- verification of a valid hierarchy ----------------------------------------------------


def test_a_fresh_keyring_verifies_completely_at_now() -> None:
    keyring = build_keyring(
        NOW,
        covernode_ids=("covernode_001", "covernode_002"),
        journalist_ids=("alice", "bob"),
        messaging_keys=2,
    )

    verification = keyring.verify()

    assert verification.rejected == ()
    roles = Counter(key.role for key in verification.verified.keys)
    assert roles == {
        KeyRole.ORGANIZATION: 1,
        KeyRole.COVERNODE_PROVISIONING: 1,
        KeyRole.JOURNALIST_PROVISIONING: 1,
        KeyRole.COVERNODE_ID: 2,
        KeyRole.JOURNALIST_ID: 2,
        KeyRole.COVERNODE_MSG: 4,
        KeyRole.JOURNALIST_MSG: 4,
    }
    assert [profile.id for profile in verification.verified.profiles] == ["alice", "bob"]
    assert verification.verified.default_journalist_id == "alice"
    assert verification.verified.max_epoch == keyring.max_epoch
    assert verification.verified.now == NOW


def test_verified_keys_name_their_owner_and_keep_the_certified_expiry() -> None:
    keyring = build_keyring(NOW, journalist_ids=("alice",))
    alice = keyring.journalist("alice")

    verified = {key.key: key for key in keyring.verified().keys}

    identity = verified[alice.identity.signed.key]
    assert (identity.role, identity.owner) == (KeyRole.JOURNALIST_ID, "alice")
    assert identity.not_valid_after == alice.identity.not_valid_after
    messaging = verified[alice.newest_messaging.signed.key]
    assert (messaging.role, messaging.owner) == (KeyRole.JOURNALIST_MSG, "alice")
    assert messaging.not_valid_after == NOW - timedelta(hours=1) + JOURNALIST_MSG_KEY_VALIDITY
    assert messaging.encryption_key() == alice.newest_messaging.public
    provisioning = verified[keyring.journalist_provisioning.signed.key]
    assert provisioning.owner is None


def test_a_key_is_valid_up_to_and_including_its_expiry_and_rejected_after() -> None:
    keyring = build_keyring(NOW)
    expiry = keyring.covernode("covernode_001").newest_messaging.not_valid_after

    at_expiry = keyring.verify(expiry)
    just_after = keyring.verify(expiry + timedelta(microseconds=1))

    messaging_key = keyring.covernode("covernode_001").newest_messaging.signed.key
    assert messaging_key in verified_key_bytes(at_expiry)
    assert messaging_key in rejected_by_key(just_after)


# --- clamping -----------------------------------------------------------------------------


def test_a_child_certified_beyond_its_parent_is_clamped_to_the_parent_expiry() -> None:
    keyring = build_keyring(NOW)
    node = keyring.covernode("covernode_001")
    pair = derive_encryption_pair(0, "long-lived messaging key")
    claimed = node.identity.not_valid_after + timedelta(days=10)
    long_lived = IssuedEncryptionKey(
        pair, sign_unclamped(node.identity.pair, pair.public.raw, claimed)
    )
    keyring = keyring.with_member(replace(node, messaging=(long_lived,)))

    verified = {key.key: key for key in keyring.verified().keys}

    assert verified[pair.public.raw].not_valid_after == node.identity.not_valid_after
    after_parent = keyring.verify(node.identity.not_valid_after + SECOND)
    assert pair.public.raw in rejected_by_key(after_parent)
    assert pair.public.raw not in verified_key_bytes(after_parent)


def test_clamping_carries_down_the_whole_chain() -> None:
    keyring = build_keyring(NOW, journalist_ids=("alice",))
    alice = keyring.journalist("alice")
    provisioning_expiry = keyring.journalist_provisioning.not_valid_after
    identity_pair = derive_signing_pair(0, "over-long identity")
    identity = IssuedSigningKey(
        identity_pair,
        sign_unclamped(
            keyring.journalist_provisioning.pair,
            identity_pair.public.raw,
            provisioning_expiry + timedelta(weeks=30),
        ),
    )
    messaging_pair = derive_encryption_pair(0, "over-long messaging")
    messaging = IssuedEncryptionKey(
        messaging_pair,
        sign_unclamped(
            identity_pair, messaging_pair.public.raw, provisioning_expiry + timedelta(weeks=20)
        ),
    )
    keyring = keyring.with_member(Member(alice.id, identity, (messaging,)))

    verified = {key.key: key for key in keyring.verified().keys}

    assert verified[identity_pair.public.raw].not_valid_after == provisioning_expiry
    assert verified[messaging_pair.public.raw].not_valid_after == provisioning_expiry


# --- rejection ----------------------------------------------------------------------------


def test_an_expired_messaging_key_is_rejected_and_reported_while_its_siblings_survive() -> None:
    keyring = build_keyring(NOW, covernode_ids=("covernode_001",), messaging_keys=2)
    node = keyring.covernode("covernode_001")
    expired = issue_encryption_key(
        node.identity,
        derive_encryption_pair(0, "expired messaging key"),
        NOW - timedelta(days=15),
        COVERNODE_MSG_KEY_VALIDITY,
    )
    assert expired.not_valid_after < NOW
    keyring = keyring.with_member(replace(node, messaging=(expired, *node.messaging)))

    verification = keyring.verify()

    assert [r.key for r in verification.rejected] == [expired.signed.key]
    rejected = verification.rejected[0]
    assert (rejected.role, rejected.owner) == (KeyRole.COVERNODE_MSG, "covernode_001")
    assert rejected.reason.startswith("expired at ")
    assert "covernode_msg key of covernode_001" in rejected.describe()
    assert expired.signed.key[:8].hex() in rejected.describe()
    survivors = verification.verified.of_role(KeyRole.COVERNODE_MSG)["covernode_001"]
    assert {key.key for key in survivors} == {key.signed.key for key in node.messaging}


def forged_identity(member: Member) -> Member:
    """``member`` with its identity certificate signed by a stranger's key."""
    stranger = derive_signing_pair(0, "stranger")
    forged = sign_unclamped(
        stranger, member.identity.signed.key, member.identity.signed.not_valid_after
    )
    return replace(member, identity=IssuedSigningKey(member.identity.pair, forged))


def expired_identity(keyring: Keyring, member: Member) -> Member:
    """``member`` re-issued under an identity key that expired a day before ``NOW``."""
    identity = issue_signing_key(
        keyring.journalist_provisioning,
        member.identity.pair,
        NOW - timedelta(days=57),
        timedelta(days=56),
    )
    messaging = tuple(
        issue_encryption_key(identity, key.pair, NOW - timedelta(days=50), timedelta(days=14))
        for key in member.messaging
    )
    return Member(member.id, identity, messaging)


@pytest.mark.parametrize(
    ("how", "reason"),
    [("forged", "signature does not verify"), ("expired", "expired at ")],
)
def test_everything_under_a_rejected_identity_key_is_rejected(how: str, reason: str) -> None:
    keyring = build_keyring(NOW, journalist_ids=("alice", "bob"), messaging_keys=2)
    alice = keyring.journalist("alice")
    broken = forged_identity(alice) if how == "forged" else expired_identity(keyring, alice)
    keyring = keyring.with_member(broken)

    verification = keyring.verify()

    rejected = rejected_by_key(verification)
    assert set(rejected) == member_keys(broken)
    assert reason in rejected[broken.identity.signed.key].reason
    for key in broken.messaging:
        assert rejected[key.signed.key].reason == "its signing key was rejected"
        assert rejected[key.signed.key].role is KeyRole.JOURNALIST_MSG
    assert verified_key_bytes(verification).isdisjoint(member_keys(broken))
    assert member_keys(keyring.journalist("bob")) <= verified_key_bytes(verification)
    assert "alice" not in verification.verified.of_role(KeyRole.JOURNALIST_MSG)
    assert [profile.id for profile in verification.verified.profiles] == ["bob"]
    assert verification.verified.default_journalist_id is None


def test_a_certificate_signed_by_the_wrong_key_is_rejected_with_its_reason() -> None:
    keyring = build_keyring(NOW)
    node = keyring.covernode("covernode_001")
    stranger = derive_signing_pair(0, "stranger")
    key = node.newest_messaging
    forged = IssuedEncryptionKey(
        key.pair, sign_unclamped(stranger, key.signed.key, key.not_valid_after)
    )
    keyring = keyring.with_member(replace(node, messaging=(forged,)))

    verification = keyring.verify()

    (rejected,) = verification.rejected
    assert rejected.key == key.signed.key
    assert rejected.reason.startswith("signature does not verify under key")
    assert KeyRole.COVERNODE_MSG not in {k.role for k in verification.verified.keys}


def test_extending_an_expiry_without_re_signing_breaks_the_certificate() -> None:
    keyring = build_keyring(NOW)
    node = keyring.covernode("covernode_001")
    key = node.newest_messaging
    extended = SignedKey(key.signed.key, key.signed.certificate, key.not_valid_after + SECOND)
    keyring = keyring.with_member(
        replace(node, messaging=(IssuedEncryptionKey(key.pair, extended),))
    )

    (rejected,) = keyring.verify().rejected

    assert rejected.key == key.signed.key
    assert "signature does not verify" in rejected.reason


def test_the_signature_covers_whole_seconds_of_the_expiry_only() -> None:
    # CoverDrop signs i64BE(unix seconds): sub-second digits are not part of the certificate.
    keyring = build_keyring(NOW)
    node = keyring.covernode("covernode_001")
    key = node.newest_messaging
    truncated = key.not_valid_after.replace(microsecond=0)
    moved = SignedKey(key.signed.key, key.signed.certificate, truncated)
    keyring = keyring.with_member(replace(node, messaging=(IssuedEncryptionKey(key.pair, moved),)))

    assert keyring.verify().rejected == ()


def test_a_family_under_an_unknown_organisation_key_is_rejected_down_to_the_leaves() -> None:
    pinned = build_keyring(NOW, seed=1)
    foreign = build_keyring(NOW, seed=2, journalist_ids=("mallory",))

    verification = verify_published_keys(foreign.published_keys(), [pinned.anchor], NOW)

    assert verification.verified.keys == ()
    assert verification.verified.profiles == ()
    rejected = rejected_by_key(verification)
    assert rejected[foreign.anchor.key].reason == "not a pinned organisation anchor"
    assert rejected[foreign.anchor.key].role is KeyRole.ORGANIZATION
    below = set(rejected) - {foreign.anchor.key}
    assert len(below) == 2 + 2 * 2  # two provisioning keys, then identity + messaging each
    assert {rejected[key].reason for key in below} == {"its signing key was rejected"}
    with pytest.raises(KeyUnavailable):
        verification.verified.covernode_wrapping_keys()


def test_a_foreign_family_beside_a_pinned_one_does_not_disturb_it() -> None:
    pinned = build_keyring(NOW, seed=1, journalist_ids=("alice",))
    foreign = build_keyring(NOW, seed=2, journalist_ids=("mallory",))
    published = replace(
        pinned.published_keys(),
        families=(foreign.organization_family(), pinned.organization_family()),
    )

    verification = verify_published_keys(published, [pinned.anchor], NOW)

    assert verified_key_bytes(verification) == verified_key_bytes(pinned.verify())
    assert foreign.anchor.key in rejected_by_key(verification)
    assert "mallory" not in verification.verified.of_role(KeyRole.JOURNALIST_ID)


def test_a_key_published_in_two_places_is_rejected_in_both() -> None:
    # The journalist provisioning key, republished under the CoverNodes, would make its
    # journalists' identity and messaging keys pass as CoverNode keys.
    keyring = build_keyring(NOW, journalist_ids=("alice",))
    family = keyring.organization_family()
    journalists = family.journalists[0]
    disguised = ProvisioningFamily(Realm.COVERNODE, journalists.provisioning, journalists.members)
    published = replace(
        keyring.published_keys(),
        families=(replace(family, covernodes=(*family.covernodes, disguised)),),
    )

    # CoverDrop's own rule, the one a reader without role statements has.
    verification = verify_published_keys(published, [keyring.anchor], NOW, require_roles=False)

    verified = verification.verified
    assert "alice" not in verified.of_role(KeyRole.COVERNODE_ID)
    assert "alice" not in verified.of_role(KeyRole.JOURNALIST_ID)
    alice = keyring.journalist("alice").newest_messaging.public
    assert alice not in verified.covernode_wrapping_keys()
    reasons = {
        r.role: r.reason for r in verification.rejected if r.key == journalists.provisioning.key
    }
    assert reasons == {
        KeyRole.COVERNODE_PROVISIONING: "published in more than one place in the hierarchy",
        KeyRole.JOURNALIST_PROVISIONING: "published in more than one place in the hierarchy",
    }
    assert verified.of_role(KeyRole.COVERNODE_MSG)  # the real CoverNodes are untouched
    # With the statements required the copy under the CoverNodes fails first, for its
    # realm; the original is still refused for being in two places.
    with_roles = verify_published_keys(published, [keyring.anchor], NOW)
    reasons = {
        r.role: r.reason for r in with_roles.rejected if r.key == journalists.provisioning.key
    }
    assert reasons == {
        KeyRole.COVERNODE_PROVISIONING: "no statement of the organisation binds it to the "
        "covernodes",
        KeyRole.JOURNALIST_PROVISIONING: "published in more than one place in the hierarchy",
    }
    assert "alice" not in with_roles.verified.of_role(KeyRole.JOURNALIST_ID)


def test_no_valid_anchor_raises_untrusted_key() -> None:
    keyring = build_keyring(NOW)
    expired_at = keyring.anchor.not_valid_after + SECOND
    forged_anchor = SignedKey(keyring.anchor.key, bytes(64), keyring.anchor.not_valid_after)

    with pytest.raises(UntrustedKey):
        verify_published_keys(keyring.published_keys(), [keyring.anchor], expired_at)
    with pytest.raises(UntrustedKey):
        verify_published_keys(keyring.published_keys(), [forged_anchor], NOW)
    with pytest.raises(UntrustedKey):
        verify_published_keys(keyring.published_keys(), [], NOW)


def test_one_valid_anchor_suffices_and_the_bad_ones_are_reported() -> None:
    keyring = build_keyring(NOW)
    forged_anchor = SignedKey(bytes(range(32)), bytes(64), keyring.anchor.not_valid_after)

    verification = verify_published_keys(
        keyring.published_keys(), [forged_anchor, keyring.anchor], NOW
    )

    assert [r.key for r in verification.rejected] == [forged_anchor.key]
    assert verified_key_bytes(verification) == verified_key_bytes(keyring.verify())


def test_a_profile_whose_tag_is_not_its_id_hash_is_dropped_and_reported() -> None:
    keyring = build_keyring(NOW, journalist_ids=("alice", "bob"))
    published = keyring.published_keys()
    alice, bob = published.profiles
    lying = replace(bob, tag=RecipientTag.of("alice"))

    verification = verify_published_keys(
        replace(published, profiles=(alice, lying)), [keyring.anchor], NOW
    )

    assert [profile.id for profile in verification.verified.profiles] == ["alice"]
    (rejected,) = verification.rejected
    assert rejected.owner == "bob"
    assert rejected.reason == "profile tag is not SHA-256 of its id"


def test_profiles_without_a_verified_identity_key_are_not_listed() -> None:
    keyring = build_keyring(NOW, journalist_ids=("alice",))
    ghost = JournalistProfile.create("ghost", "Ghost Writer", "no keys", is_desk=True)
    published = replace(
        keyring.published_keys(),
        profiles=(*keyring.published_keys().profiles, ghost),
        default_journalist_id="ghost",
    )

    verification = verify_published_keys(published, [keyring.anchor], NOW)

    assert verification.rejected == ()
    assert [profile.id for profile in verification.verified.profiles] == ["alice"]
    assert verification.verified.default_journalist_id is None


# --- key selection ------------------------------------------------------------------------


def test_one_covernode_is_wrapped_for_twice() -> None:
    keyring = build_keyring(NOW, covernode_ids=("covernode_001",))

    keys = keyring.verified().covernode_wrapping_keys()

    assert keys == [keyring.covernode("covernode_001").newest_messaging.public] * 2


def test_two_covernodes_give_two_different_keys_in_id_order() -> None:
    keyring = build_keyring(NOW, covernode_ids=("covernode_b", "covernode_a"))

    keys = keyring.verified().covernode_wrapping_keys()

    assert keys == [
        keyring.covernode("covernode_a").newest_messaging.public,
        keyring.covernode("covernode_b").newest_messaging.public,
    ]
    assert keys[0] != keys[1]


@pytest.mark.parametrize("newest_first", [False, True])
def test_selection_takes_the_key_with_the_longest_remaining_lifetime(newest_first: bool) -> None:
    keyring = build_keyring(
        NOW, covernode_ids=("covernode_001",), journalist_ids=("alice",), messaging_keys=2
    )
    if newest_first:  # publication order must not matter
        for member in (*keyring.covernodes, *keyring.journalists):
            keyring = keyring.with_member(replace(member, messaging=member.messaging[::-1]))
    node, alice = keyring.covernode("covernode_001"), keyring.journalist("alice")
    older, newer = sorted(alice.messaging, key=lambda key: key.not_valid_after)
    assert older.not_valid_after < newer.not_valid_after

    verified = keyring.verified()

    assert verified.covernode_wrapping_keys() == [node.newest_messaging.public] * 2
    assert verified.journalist_messaging_key("alice") == newer.public
    by_age = verified.of_role(KeyRole.JOURNALIST_MSG)["alice"]
    assert [key.key for key in by_age] == [newer.signed.key, older.signed.key]


def test_journalist_messaging_key_raises_key_unavailable_when_there_is_none() -> None:
    keyring = build_keyring(NOW, journalist_ids=("alice",))
    verified = keyring.verified()

    with pytest.raises(KeyUnavailable, match="nobody"):
        verified.journalist_messaging_key("nobody")

    after_messaging_expiry = keyring.journalist("alice").newest_messaging.not_valid_after + SECOND
    later = keyring.verify(after_messaging_expiry).verified
    assert later.of_role(KeyRole.JOURNALIST_ID)["alice"]
    with pytest.raises(KeyUnavailable):
        later.journalist_messaging_key("alice")
    with pytest.raises(KeyUnavailable):
        later.covernode_wrapping_keys()


def test_selected_keys_are_typed_by_their_role() -> None:
    keyring = build_keyring(NOW, journalist_ids=("alice",))
    verified = keyring.verified()

    assert all(type(key) is CoverNodeMessagingKey for key in verified.covernode_wrapping_keys())
    assert all(type(key) is CoverNodeMessagingKey for key in verified.covernode_messaging_keys())
    assert type(verified.journalist_messaging_key("alice")) is JournalistMessagingKey


def test_covernode_messaging_keys_lists_every_valid_covernode_messaging_key() -> None:
    keyring = build_keyring(NOW, covernode_ids=("covernode_001", "covernode_002"), messaging_keys=2)
    expected = {key.public for node in keyring.covernodes for key in node.messaging}

    keys = keyring.verified().covernode_messaging_keys()

    assert len(keys) == len(expected) == 4
    assert set(keys) == expected
    after_older_expiry = keyring.covernode("covernode_001").messaging[0].not_valid_after + SECOND
    later = keyring.verify(after_older_expiry).verified
    assert set(later.covernode_messaging_keys()) == {
        node.newest_messaging.public for node in keyring.covernodes
    }


def test_signing_keys_lists_every_verified_key_of_a_role() -> None:
    keyring = build_keyring(NOW, covernode_ids=("covernode_001", "covernode_002"))

    keys = set(keyring.verified().signing_keys(KeyRole.COVERNODE_ID))

    assert keys == {node.identity.pair.public for node in keyring.covernodes}


# --- JSON ---------------------------------------------------------------------------------

# CoverNode and journalist ids both follow the recipient-id rule.
member_ids = st.lists(recipient_ids, min_size=1, max_size=2, unique=True)


@settings(max_examples=25, deadline=None)
@given(
    now=st.datetimes(
        min_value=datetime(2001, 1, 1), max_value=datetime(2098, 1, 1), timezones=st.just(UTC)
    ),
    covernode_ids=member_ids,
    journalist_ids=member_ids,
    messaging_keys=st.integers(1, 2),
    max_epoch=st.integers(0, 2**31 - 1),
    seed=st.integers(0, 3),
)
def test_published_keys_survive_a_json_round_trip_and_still_verify(
    now: datetime,
    covernode_ids: list[str],
    journalist_ids: list[str],
    messaging_keys: int,
    max_epoch: int,
    seed: int,
) -> None:
    keyring = build_keyring(
        now,
        covernode_ids=covernode_ids,
        journalist_ids=journalist_ids,
        messaging_keys=messaging_keys,
        max_epoch=max_epoch,
        seed=seed,
    )
    published = keyring.published_keys()

    wire = json.dumps(published.to_json())
    parsed = PublishedKeys.from_json(json.loads(wire))

    assert parsed == published
    assert parsed.to_json() == published.to_json()
    verification = verify_published_keys(parsed, [keyring.anchor], now)
    assert verification.rejected == ()
    assert len(verification.verified.keys) == 3 + (1 + messaging_keys) * (
        len(covernode_ids) + len(journalist_ids)
    )


def test_the_published_json_has_coverdrop_field_names() -> None:
    published = build_keyring(NOW, journalist_ids=("alice",)).published_keys()
    document = replace(published, statements=OrganizationStatements()).to_json()

    assert set(document) == {"journalist_profiles", "default_journalist_id", "keys", "max_epoch"}
    # Quietline's statements ride in one extra member, only when there are some.
    extended = published.to_json()
    assert set(extended) == set(document) | {"quietline"}
    assert set(extended["quietline"]) == {"roles", "revocations"}
    assert {"key", "role", "signature"} == set(extended["quietline"]["roles"][0])
    (family,) = document["keys"]
    assert set(family) == {"org_pk", "covernodes", "journalists"}
    (journalists,) = family["journalists"]
    assert set(journalists) == {"provisioning_pk", "journalists"}
    (alice,) = journalists["journalists"]["alice"]
    assert set(alice) == {"id_pk", "msg_pks"}
    assert set(alice["id_pk"]) == {"key", "certificate", "not_valid_after"}
    assert document["journalist_profiles"][0]["tag"] == RecipientTag.of("alice").hex()


def test_missing_optional_fields_take_their_defaults() -> None:
    document = build_keyring(NOW).published_keys().to_json()
    del document["journalist_profiles"]
    del document["max_epoch"]
    del document["default_journalist_id"]

    parsed = PublishedKeys.from_json(document)

    assert parsed.profiles == ()
    assert parsed.max_epoch == 0
    assert parsed.default_journalist_id is None


@pytest.mark.parametrize("bad_id", ["", "a/b", "a\\b", "tab\there", "é", "x" * 129])
@pytest.mark.parametrize("realm", list(Realm))
def test_a_member_id_that_breaks_the_recipient_id_rule_is_malformed(
    realm: Realm, bad_id: str
) -> None:
    document = build_keyring(NOW).published_keys().to_json()
    (provisioning,) = document["keys"][0][realm.value]
    ((_, families),) = provisioning[realm.value].items()
    provisioning[realm.value] = {bad_id: families}

    with pytest.raises(MalformedInput):
        PublishedKeys.from_json(document)


@pytest.mark.parametrize("bad_id", ["", "a/b", "a\\b", "é", "x" * 129])
def test_a_profile_id_that_breaks_the_recipient_id_rule_is_malformed(bad_id: str) -> None:
    document = build_keyring(NOW).published_keys().to_json()
    document["journalist_profiles"][0]["id"] = bad_id

    with pytest.raises(MalformedInput):
        PublishedKeys.from_json(document)
