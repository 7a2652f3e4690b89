"""Tests for quietline.protocol.roles: the organisation's role statements and revocations.

Each is signed by the organisation key and verified under it; every test that changes
one thing (the signer, the role, the key, the time) plays the party that would gain by
it: an edge that wants a provisioning key in the other realm, or a revocation undone.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from quietline.protocol.certificates import KeyRole, certificate_data
from quietline.protocol.errors import BadSignature, MalformedInput, MisuseError
from quietline.protocol.roles import (
    PROVISIONING_ROLES,
    OrganizationStatements,
    Revocation,
    RoleStatement,
)
from tests.protocol.keyring import derive_signing_pair

NOW = datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC)
ORGANIZATION = derive_signing_pair(0, "organization")
STRANGER = derive_signing_pair(0, "stranger")
KEY = derive_signing_pair(0, "covernode provisioning").public.raw
OTHER_KEY = derive_signing_pair(0, "journalist provisioning").public.raw
COVERNODES, JOURNALISTS = KeyRole.COVERNODE_PROVISIONING, KeyRole.JOURNALIST_PROVISIONING


def _other(role: KeyRole) -> KeyRole:
    return JOURNALISTS if role is COVERNODES else COVERNODES


# --- role statements ----------------------------------------------------------------------


@pytest.mark.parametrize("role", PROVISIONING_ROLES)
def test_a_role_statement_verifies_and_round_trips(role: KeyRole) -> None:
    statement = RoleStatement.sign(ORGANIZATION, role, KEY)

    statement.verify(ORGANIZATION.public)
    document = json.loads(json.dumps(statement.to_json()))
    assert document == {"key": KEY.hex(), "role": role.value, "signature": document["signature"]}
    assert RoleStatement.from_json(document) == statement


@pytest.mark.parametrize("role", PROVISIONING_ROLES)
def test_a_statement_by_another_key_does_not_verify(role: KeyRole) -> None:
    forged = RoleStatement.sign(STRANGER, role, KEY)

    with pytest.raises(BadSignature):
        forged.verify(ORGANIZATION.public)


@pytest.mark.parametrize("role", PROVISIONING_ROLES)
def test_a_statement_moved_to_the_other_role_does_not_verify(role: KeyRole) -> None:
    # The edge's move: keep the organisation's signature, claim the other realm.
    genuine = RoleStatement.sign(ORGANIZATION, role, KEY)
    moved = RoleStatement(KEY, _other(role), genuine.signature)

    with pytest.raises(BadSignature):
        moved.verify(ORGANIZATION.public)


def test_a_statement_moved_to_another_key_does_not_verify() -> None:
    genuine = RoleStatement.sign(ORGANIZATION, COVERNODES, KEY)
    moved = RoleStatement(OTHER_KEY, COVERNODES, genuine.signature)

    with pytest.raises(BadSignature):
        moved.verify(ORGANIZATION.public)


def test_a_certificate_or_a_revocation_is_not_a_role_statement() -> None:
    # The organisation key signs certificates and revocations too: neither signature may
    # pass as a statement about the same key.
    certificate = ORGANIZATION.sign(certificate_data(KEY, NOW))
    revocation = Revocation.sign(ORGANIZATION, KEY, NOW)
    for signature in (certificate, revocation.signature):
        with pytest.raises(BadSignature):
            RoleStatement(KEY, COVERNODES, signature).verify(ORGANIZATION.public)
    statement = RoleStatement.sign(ORGANIZATION, COVERNODES, KEY)
    with pytest.raises(BadSignature):
        Revocation(KEY, NOW.replace(microsecond=0), statement.signature).verify(ORGANIZATION.public)


@pytest.mark.parametrize("role", [r for r in KeyRole if r not in PROVISIONING_ROLES])
def test_only_provisioning_keys_get_role_statements(role: KeyRole) -> None:
    with pytest.raises(MisuseError):
        RoleStatement.sign(ORGANIZATION, role, KEY)
    with pytest.raises(MalformedInput):
        RoleStatement(KEY, role, bytes(64))
    document = RoleStatement.sign(ORGANIZATION, COVERNODES, KEY).to_json()
    with pytest.raises(MalformedInput):
        RoleStatement.from_json({**document, "role": role.value})


@pytest.mark.parametrize(
    "change",
    [
        {"role": "root"},
        {"role": None},
        {"key": "00" * 31},
        {"signature": "zz" * 64},
        {"signature": None},
    ],
)
def test_a_malformed_role_statement_is_refused(change: dict[str, object]) -> None:
    document = RoleStatement.sign(ORGANIZATION, COVERNODES, KEY).to_json()

    with pytest.raises(MalformedInput):
        RoleStatement.from_json({**document, **change})


# --- role_of ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", PROVISIONING_ROLES)
def test_role_of_is_the_realm_the_organisation_bound_the_key_to(role: KeyRole) -> None:
    statements = OrganizationStatements(
        (
            RoleStatement.sign(ORGANIZATION, role, KEY),
            RoleStatement.sign(ORGANIZATION, _other(role), OTHER_KEY),
        )
    )

    assert statements.role_of(KEY, ORGANIZATION.public) is role
    assert statements.role_of(OTHER_KEY, ORGANIZATION.public) is _other(role)
    assert statements.role_of(KEY, STRANGER.public) is None


def test_role_of_a_key_bound_to_both_realms_is_none() -> None:
    # Were the organisation ever to sign both, neither realm may be picked for it.
    statements = OrganizationStatements(
        tuple(RoleStatement.sign(ORGANIZATION, role, KEY) for role in PROVISIONING_ROLES)
    )

    assert statements.role_of(KEY, ORGANIZATION.public) is None


def test_role_of_ignores_forgeries_beside_the_genuine_statement() -> None:
    genuine = RoleStatement.sign(ORGANIZATION, COVERNODES, KEY)
    forged_by_stranger = RoleStatement.sign(STRANGER, JOURNALISTS, KEY)
    moved = RoleStatement(KEY, JOURNALISTS, genuine.signature)
    statements = OrganizationStatements((forged_by_stranger, moved, genuine))

    assert statements.role_of(KEY, ORGANIZATION.public) is COVERNODES
    assert (
        OrganizationStatements((forged_by_stranger, moved)).role_of(KEY, ORGANIZATION.public)
        is None
    )
    assert OrganizationStatements().role_of(KEY, ORGANIZATION.public) is None


# --- revocations --------------------------------------------------------------------------


def test_a_revocation_verifies_and_round_trips_in_whole_seconds() -> None:
    revocation = Revocation.sign(ORGANIZATION, KEY, NOW)

    assert revocation.revoked_at == NOW.replace(microsecond=0)
    revocation.verify(ORGANIZATION.public)
    document = json.loads(json.dumps(revocation.to_json()))
    assert set(document) == {"key", "revoked_at", "signature"}
    assert Revocation.from_json(document) == revocation


def test_a_revocation_by_another_key_or_of_another_key_or_time_does_not_verify() -> None:
    genuine = Revocation.sign(ORGANIZATION, KEY, NOW)
    later = genuine.revoked_at + timedelta(seconds=1)
    for forged in (
        Revocation.sign(STRANGER, KEY, NOW),
        Revocation(OTHER_KEY, genuine.revoked_at, genuine.signature),
        Revocation(KEY, later, genuine.signature),
    ):
        with pytest.raises(BadSignature):
            forged.verify(ORGANIZATION.public)
    # Only whole seconds are signed (as in CoverDrop's certificates), so other sub-second
    # digits make the same revocation: one value per signature.
    replayed = Revocation(KEY, genuine.revoked_at + timedelta(microseconds=5), genuine.signature)
    replayed.verify(ORGANIZATION.public)
    assert replayed == genuine


@pytest.mark.parametrize(
    "change",
    [{"key": "00" * 33}, {"revoked_at": "yesterday"}, {"revoked_at": None}, {"signature": 1}],
)
def test_a_malformed_revocation_is_refused(change: dict[str, object]) -> None:
    document = Revocation.sign(ORGANIZATION, KEY, NOW).to_json()

    with pytest.raises(MalformedInput):
        Revocation.from_json({**document, **change})


def test_revoked_ignores_forgeries_and_keeps_the_earliest_time() -> None:
    early = Revocation.sign(ORGANIZATION, KEY, NOW - timedelta(days=3))
    late = Revocation.sign(ORGANIZATION, KEY, NOW)
    # A stranger's revocation of another key, and a stranger's "earlier" one of this key
    # (which would move the revocation's time, were it believed).
    stranger_other = Revocation.sign(STRANGER, OTHER_KEY, NOW)
    stranger_earlier = Revocation.sign(STRANGER, KEY, NOW - timedelta(days=30))
    statements = OrganizationStatements(revocations=(late, stranger_other, stranger_earlier, early))

    assert statements.revoked(ORGANIZATION.public) == {KEY: early.revoked_at}
    assert statements.revoked(STRANGER.public) == {
        OTHER_KEY: stranger_other.revoked_at,
        KEY: stranger_earlier.revoked_at,
    }
    assert OrganizationStatements().revoked(ORGANIZATION.public) == {}


def test_statements_are_false_only_when_empty_and_round_trip() -> None:
    assert not OrganizationStatements()
    statements = OrganizationStatements(
        (RoleStatement.sign(ORGANIZATION, COVERNODES, KEY),),
        (Revocation.sign(ORGANIZATION, OTHER_KEY, NOW),),
    )
    assert statements
    assert OrganizationStatements(revocations=statements.revocations)
    document = json.loads(json.dumps(statements.to_json()))
    assert OrganizationStatements.from_json(document) == statements
    assert OrganizationStatements.from_json({}) == OrganizationStatements()
    with pytest.raises(MalformedInput):
        OrganizationStatements.from_json({"roles": {}})
    with pytest.raises(MalformedInput):
        OrganizationStatements.from_json([])
