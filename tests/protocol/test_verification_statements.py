"""Verification with the organisation's statements: role binding and revocation.

Each test is a hostile edge's document (or a revocation it would rather drop) checked by
``verify_published_keys`` as Quietline's readers call it (``require_roles``, the
default) and, where the contrast teaches something, as a reader of a CoverDrop
deployment (``require_roles=False``). Hierarchies come from
:mod:`tests.protocol.keyring` at a fixed ``NOW``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from quietline.protocol.certificates import KeyRole
from quietline.protocol.deaddrops import sign_journalist_dead_drop, sign_user_dead_drop
from quietline.protocol.encoding import format_rfc3339
from quietline.protocol.errors import BadSignature, KeyUnavailable
from quietline.protocol.hierarchy import ProvisioningFamily, PublishedKeys, Realm
from quietline.protocol.keys import SigningKeyPair
from quietline.protocol.messages import cover_j2u, filler_c2j
from quietline.protocol.roles import OrganizationStatements, Revocation, RoleStatement
from quietline.protocol.verification import KeyVerification, verify_published_keys
from tests.protocol.keyring import Keyring, Member, build_keyring, derive_signing_pair

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
MOVED = "no statement of the organisation binds it to the covernodes"


def keyring() -> Keyring:
    return build_keyring(
        NOW,
        covernode_ids=("covernode_001",),
        journalist_ids=("alice", "bob"),
        messaging_keys=2,
    )


def verify(
    keys: Keyring, published: PublishedKeys, *, require_roles: bool = True
) -> KeyVerification:
    return verify_published_keys(published, [keys.anchor], NOW, require_roles=require_roles)


def family_keys(keys: Keyring, members: tuple[Member, ...]) -> set[bytes]:
    return {keys.journalist_provisioning.signed.key} | {
        key
        for member in members
        for key in (member.identity.signed.key, *(m.signed.key for m in member.messaging))
    }


def verified_keys(verification: KeyVerification) -> set[bytes]:
    return {key.key for key in verification.verified.keys}


def reasons(verification: KeyVerification) -> dict[bytes, str]:
    return {rejected.key: rejected.reason for rejected in verification.rejected}


# --- role swap ----------------------------------------------------------------------------


def swapped(keys: Keyring, *, beside_the_covernodes: bool) -> PublishedKeys:
    """The edge's document with the recipients' provisioning family moved (not copied)
    under the CoverNodes, the organisation's genuine statements carried along; with the
    real CoverNodes beside it, or instead of them."""
    family = keys.organization_family()
    (journalists,) = family.journalists
    moved = ProvisioningFamily(Realm.COVERNODE, journalists.provisioning, journalists.members)
    covernodes = (*family.covernodes, moved) if beside_the_covernodes else (moved,)
    organization = replace(family, covernodes=covernodes, journalists=())
    return replace(keys.published_keys(), families=(organization,))


def recipients_messaging_keys(keys: Keyring) -> set[bytes]:
    return {m.public.raw for member in keys.journalists for m in member.messaging}


@pytest.mark.parametrize("beside_the_covernodes", [True, False])
def test_a_moved_recipient_family_is_rejected_key_by_key(beside_the_covernodes: bool) -> None:
    keys = keyring()
    published = swapped(keys, beside_the_covernodes=beside_the_covernodes)
    assert published.statements == keys.role_statements()

    verification = verify(keys, published)

    moved = family_keys(keys, keys.journalists)
    rejected = reasons(verification)
    assert moved <= set(rejected)
    assert verified_keys(verification).isdisjoint(moved)
    assert rejected[keys.journalist_provisioning.signed.key] == MOVED
    assert {rejected[key] for key in moved - {keys.journalist_provisioning.signed.key}} == {
        "its signing key was rejected"
    }
    verified = verification.verified
    assert not verified.of_role(KeyRole.JOURNALIST_MSG)
    assert verified.profiles == ()
    recipients = recipients_messaging_keys(keys)
    if beside_the_covernodes:
        wrapping = {key.raw for key in verified.covernode_wrapping_keys()}
        assert wrapping == {keys.covernode("covernode_001").newest_messaging.public.raw}
        assert wrapping.isdisjoint(recipients)
        assert {key.raw for key in verified.covernode_messaging_keys()}.isdisjoint(recipients)
    else:
        with pytest.raises(KeyUnavailable):
            verified.covernode_wrapping_keys()


@pytest.mark.parametrize("beside_the_covernodes", [True, False])
def test_without_role_statements_the_moved_family_passes_as_covernodes(
    beside_the_covernodes: bool,
) -> None:
    # Why CoverDrop's rules alone are weaker: a certificate does not name its realm, so a
    # reader without statements wraps messages for Alice as if she were a CoverNode
    # ("alice" sorts before "covernode_001") and would let her sign dead drops.
    keys = keyring()
    published = swapped(keys, beside_the_covernodes=beside_the_covernodes)
    bare = replace(published, statements=OrganizationStatements())

    verification = verify(keys, bare, require_roles=False)

    assert verification.rejected == ()
    verified = verification.verified
    assert set(verified.of_role(KeyRole.COVERNODE_ID)) >= {"alice", "bob"}
    alice = keys.journalist("alice").newest_messaging.public.raw
    assert alice in {key.raw for key in verified.covernode_wrapping_keys()}
    assert verified.of_role(KeyRole.JOURNALIST_MSG) == {}


def test_a_document_without_statements_trusts_no_provisioning_key() -> None:
    keys = keyring()
    bare = replace(keys.published_keys(), statements=OrganizationStatements())

    verification = verify(keys, bare)

    assert [key.role for key in verification.verified.keys] == [KeyRole.ORGANIZATION]
    rejected = reasons(verification)
    assert rejected[keys.covernode_provisioning.signed.key] == MOVED
    assert rejected[keys.journalist_provisioning.signed.key] == (
        "no statement of the organisation binds it to the journalists"
    )
    # Everything below the anchor, each for its own realm or for its parent.
    assert set(rejected) == verified_keys(keys.verify()) - {keys.anchor.key}
    with pytest.raises(KeyUnavailable):
        verification.verified.covernode_wrapping_keys()
    # The same document is CoverDrop's, and verifies as such.
    assert verify(keys, bare, require_roles=False).rejected == ()


def without_the_statement_of(published: PublishedKeys, key: bytes) -> PublishedKeys:
    """``published`` with the genuine statement about ``key`` dropped: the edge serves
    only the statements that suit it."""
    roles = tuple(statement for statement in published.statements.roles if statement.key != key)
    return replace(published, statements=replace(published.statements, roles=roles))


@pytest.mark.parametrize("forger", ["relabelled genuine signature", "stranger", "the key itself"])
def test_statements_forged_to_match_the_move_do_not_help(forger: str) -> None:
    keys = keyring()
    moved_key = keys.journalist_provisioning.signed.key
    published = without_the_statement_of(swapped(keys, beside_the_covernodes=True), moved_key)
    covernodes = KeyRole.COVERNODE_PROVISIONING
    genuine = RoleStatement.sign(keys.organization.pair, KeyRole.JOURNALIST_PROVISIONING, moved_key)
    forged = {
        "relabelled genuine signature": RoleStatement(moved_key, covernodes, genuine.signature),
        "stranger": RoleStatement.sign(derive_signing_pair(0, "stranger"), covernodes, moved_key),
        "the key itself": RoleStatement.sign(
            keys.journalist_provisioning.pair, covernodes, moved_key
        ),
    }[forger]
    statements = replace(published.statements, roles=(*published.statements.roles, forged))

    verification = verify(keys, replace(published, statements=statements))

    assert reasons(verification)[moved_key] == MOVED
    assert verified_keys(verification).isdisjoint(family_keys(keys, keys.journalists))


def test_a_statement_by_another_pinned_organisation_does_not_bind_this_ones_key() -> None:
    # Two pinned organisations: the second's word is no statement about the first's keys.
    ours, theirs = build_keyring(NOW, seed=1), build_keyring(NOW, seed=2)
    moved_key = ours.journalist_provisioning.signed.key
    published = without_the_statement_of(swapped(ours, beside_the_covernodes=True), moved_key)
    their_word = RoleStatement.sign(
        theirs.organization.pair, KeyRole.COVERNODE_PROVISIONING, moved_key
    )
    statements = replace(published.statements, roles=(*published.statements.roles, their_word))

    verification = verify_published_keys(
        replace(published, statements=statements), [ours.anchor, theirs.anchor], NOW
    )

    assert reasons(verification)[moved_key] == MOVED
    assert verified_keys(verification).isdisjoint(family_keys(ours, ours.journalists))


# --- revocation ---------------------------------------------------------------------------


def revoking(keys: Keyring, *revocations: Revocation) -> PublishedKeys:
    published = keys.published_keys()
    return replace(published, statements=replace(published.statements, revocations=revocations))


@pytest.mark.parametrize("require_roles", [True, False])
def test_a_revoked_recipient_identity_takes_its_messaging_keys_with_it(
    require_roles: bool,
) -> None:
    keys = keyring()
    alice = keys.journalist("alice")
    revocation = Revocation.sign(keys.organization.pair, alice.identity.signed.key, NOW)

    verification = verify(keys, revoking(keys, revocation), require_roles=require_roles)

    rejected = reasons(verification)
    assert rejected[alice.identity.signed.key] == (
        f"revoked by the organisation at {format_rfc3339(revocation.revoked_at)}"
    )
    for key in alice.messaging:
        assert rejected[key.signed.key] == "its signing key was rejected"
    verified = verification.verified
    with pytest.raises(KeyUnavailable):
        verified.journalist_messaging_key("alice")
    assert [profile.id for profile in verified.profiles] == ["bob"]
    assert (
        verified.journalist_messaging_key("bob") == keys.journalist("bob").newest_messaging.public
    )


def test_a_revoked_covernode_identity_takes_its_keys_and_its_dead_drops() -> None:
    keys = keyring()
    node = keys.covernode("covernode_001")
    signed_at = NOW - timedelta(minutes=5)
    user_drop = sign_user_dead_drop(
        [cover_j2u()],
        signed_at,
        identity=node.identity.pair,
        identity_not_valid_after=node.identity.not_valid_after,
    )
    journalist_drop = sign_journalist_dead_drop(
        [filler_c2j()],
        signed_at,
        1,
        identity=node.identity.pair,
        identity_not_valid_after=node.identity.not_valid_after,
    )
    user_drop.verify(keys.verified())
    journalist_drop.verify(keys.verified())
    # Revoked later than the dead drops were signed: they go all the same.
    revocation = Revocation.sign(keys.organization.pair, node.identity.signed.key, NOW)

    verification = verify(keys, revoking(keys, revocation))

    rejected = reasons(verification)
    assert {node.identity.signed.key, *(m.signed.key for m in node.messaging)} == set(rejected)
    verified = verification.verified
    assert not verified.of_role(KeyRole.COVERNODE_ID)
    with pytest.raises(KeyUnavailable):
        verified.covernode_wrapping_keys()
    assert verified.covernode_messaging_keys() == []
    with pytest.raises(BadSignature):
        user_drop.verify(verified)
    with pytest.raises(BadSignature):
        journalist_drop.verify(verified)


def test_a_revoked_provisioning_key_takes_its_whole_realm() -> None:
    keys = keyring()
    provisioning = keys.journalist_provisioning.signed.key
    revocation = Revocation.sign(keys.organization.pair, provisioning, NOW)

    verification = verify(keys, revoking(keys, revocation), require_roles=False)

    assert set(reasons(verification)) == family_keys(keys, keys.journalists)
    assert reasons(verification)[provisioning].startswith("revoked by the organisation at ")
    assert verification.verified.of_role(KeyRole.COVERNODE_MSG)


def test_the_earliest_revocation_of_a_key_is_the_one_reported() -> None:
    keys = keyring()
    identity = keys.journalist("alice").identity.signed.key
    late = Revocation.sign(keys.organization.pair, identity, NOW)
    early = Revocation.sign(keys.organization.pair, identity, NOW - timedelta(days=2))

    verification = verify(keys, revoking(keys, late, early))

    assert reasons(verification)[identity].endswith("2024-04-29T12:00:00Z")


@pytest.mark.parametrize(
    "signer",
    ["stranger", "journalist provisioning", "covernode identity", "alice herself"],
)
def test_a_revocation_by_a_key_that_is_no_anchor_is_ignored(signer: str) -> None:
    # Every key of the hierarchy below the anchor, and any stranger, is no authority.
    keys = keyring()
    alice = keys.journalist("alice")
    pairs: dict[str, SigningKeyPair] = {
        "stranger": derive_signing_pair(0, "stranger"),
        "journalist provisioning": keys.journalist_provisioning.pair,
        "covernode identity": keys.covernode("covernode_001").identity.pair,
        "alice herself": alice.identity.pair,
    }
    targets = [alice.identity.signed.key, keys.covernode("covernode_001").identity.signed.key]
    revocations = [Revocation.sign(pairs[signer], key, NOW) for key in targets]

    verification = verify(keys, revoking(keys, *revocations))

    assert verification.rejected == ()
    assert verified_keys(verification) == verified_keys(keys.verify())
