"""Every hand-written to/from-JSON pair of the protocol survives a round trip through
JSON text for any value it can hold (the records of the edge's API have theirs in
test_api.py, signed forms in test_forms.py, signed keys in test_certificates.py)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from quietline.protocol.constants import J2U_ENCRYPTED_LEN
from quietline.protocol.deaddrops import (
    DeadDrop,
    JournalistDeadDrop,
    UserDeadDrop,
    dead_drop_list_json,
    parse_dead_drop_list,
)
from quietline.protocol.hierarchy import (
    JournalistProfile,
    PublishedKeys,
)
from quietline.protocol.keyfiles import encryption_key_pair_from_json, encryption_key_pair_to_json
from quietline.protocol.keys import EncryptionKeyPair
from quietline.protocol.roles import OrganizationStatements, Revocation, RoleStatement
from tests.protocol.strategies import (
    encryption_pairs,
    journalist_dead_drops,
    organization_statements,
    profiles,
    published_keys,
    revocations,
    role_statements,
    sequence_numbers,
    user_dead_drops,
)


def through_text(document: dict[str, Any]) -> object:
    return json.loads(json.dumps(document))


@given(user_dead_drops, sequence_numbers)
def test_a_user_dead_drop_round_trips(body: UserDeadDrop, dead_drop_id: int) -> None:
    assert UserDeadDrop.from_json(through_text(body.to_json())) == body
    published = body.published(dead_drop_id)
    assert DeadDrop.from_json(UserDeadDrop, through_text(published.to_json())) == published


@given(st.lists(journalist_dead_drops, max_size=3), sequence_numbers)
def test_a_list_of_journalist_dead_drops_round_trips(
    bodies: list[JournalistDeadDrop], first_id: int
) -> None:
    published = [body.published(first_id) for body in bodies]
    document = through_text(dead_drop_list_json(published))
    assert parse_dead_drop_list(JournalistDeadDrop, document) == published


@given(profiles)
def test_a_journalist_profile_round_trips(profile: JournalistProfile) -> None:
    assert JournalistProfile.from_json(through_text(profile.to_json())) == profile


@settings(max_examples=50)
@given(published_keys)
def test_a_published_key_document_round_trips(document: PublishedKeys) -> None:
    assert PublishedKeys.from_json(through_text(document.to_json())) == document
    # CoverDrop's readers refuse unknown fields: the extension appears only when needed.
    assert ("quietline" in document.to_json()) == bool(document.statements)


@given(role_statements)
def test_a_role_statement_round_trips(statement: RoleStatement) -> None:
    assert RoleStatement.from_json(through_text(statement.to_json())) == statement


@given(revocations)
def test_a_revocation_round_trips(revocation: Revocation) -> None:
    assert Revocation.from_json(through_text(revocation.to_json())) == revocation


@given(organization_statements)
def test_the_organisations_statements_round_trip(statements: OrganizationStatements) -> None:
    assert OrganizationStatements.from_json(through_text(statements.to_json())) == statements


@given(encryption_pairs)
def test_a_key_pair_file_round_trips(pair: EncryptionKeyPair) -> None:
    document = through_text(encryption_key_pair_to_json(pair))
    assert encryption_key_pair_from_json(document) == pair


def test_moments_keep_their_microseconds_through_rfc3339() -> None:
    body = UserDeadDrop(
        datetime.fromisoformat("2026-01-02T03:04:05.123456+00:00"),
        bytes(J2U_ENCRYPTED_LEN),
        bytes(64),
    )
    assert UserDeadDrop.from_json(through_text(body.to_json())).created_at == body.created_at
