"""Hypothesis strategies for protocol values, shared by the property tests.

Keys are derived from drawn 32-byte secrets, boxes from drawn bytes of their exact size
(a box is only its bytes until someone opens it), times are aware UTC datetimes that
RFC 3339 and whole-second certificates can carry.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import strategies as st

from quietline.protocol.certificates import KeyRole, SignedKey
from quietline.protocol.constants import C2J_ENCRYPTED_LEN, J2U_ENCRYPTED_LEN
from quietline.protocol.deaddrops import JournalistDeadDrop, UserDeadDrop
from quietline.protocol.hierarchy import (
    IdentityFamily,
    JournalistProfile,
    OrganizationFamily,
    ProvisioningFamily,
    PublishedKeys,
    Realm,
)
from quietline.protocol.keys import EncryptionKeyPair, SigningKeyPair
from quietline.protocol.recipients import MAX_RECIPIENT_ID_LEN, RecipientId, RecipientTag
from quietline.protocol.roles import (
    PROVISIONING_ROLES,
    OrganizationStatements,
    Revocation,
    RoleStatement,
)

# Printable ASCII without the two slashes: exactly the recipient-id alphabet.
_ID_ALPHABET = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in "/\\")

moments = st.datetimes(
    min_value=datetime(1971, 1, 1),
    max_value=datetime(9000, 1, 1),
    timezones=st.just(UTC),
)
whole_seconds = moments.map(lambda moment: moment.replace(microsecond=0))
recipient_ids = st.text(_ID_ALPHABET, min_size=1, max_size=MAX_RECIPIENT_ID_LEN).map(RecipientId)
public_keys = st.binary(min_size=32, max_size=32)
signatures = st.binary(min_size=64, max_size=64)
signed_keys = st.builds(SignedKey, public_keys, signatures, whole_seconds)
encryption_pairs = st.binary(min_size=32, max_size=32).map(EncryptionKeyPair.from_secret)
signing_pairs = st.binary(min_size=32, max_size=32).map(SigningKeyPair.from_seed)
owned_roles = st.sampled_from(
    [
        role
        for role in KeyRole
        if role is not KeyRole.ORGANIZATION and "provisioning" not in role.value
    ]
)
provisioning_roles = st.sampled_from(PROVISIONING_ROLES)
sequence_numbers = st.integers(min_value=0, max_value=2**63 - 1)
epochs = st.integers(min_value=0, max_value=2**31 - 1)


def entries(size: int) -> st.SearchStrategy[bytes]:
    return st.integers(1, 3).flatmap(lambda n: st.binary(min_size=n * size, max_size=n * size))


user_dead_drops = st.builds(UserDeadDrop, moments, entries(J2U_ENCRYPTED_LEN), signatures)
journalist_dead_drops = st.builds(
    JournalistDeadDrop,
    moments,
    entries(C2J_ENCRYPTED_LEN),
    signatures,
    st.integers(0, 2**31 - 1),
)
profiles = st.builds(
    JournalistProfile,
    recipient_ids,
    st.text(),
    st.text(),
    st.text(),
    st.booleans(),
    st.binary(min_size=4, max_size=4).map(RecipientTag),
    st.sampled_from(["VISIBLE", "HIDDEN_FROM_UI"]),
)
identity_families = st.builds(
    IdentityFamily, signed_keys, st.lists(signed_keys, max_size=2).map(tuple)
)


def provisioning_families(realm: Realm) -> st.SearchStrategy[ProvisioningFamily]:
    members = st.dictionaries(
        recipient_ids, st.lists(identity_families, max_size=2).map(tuple), max_size=2
    )
    return st.builds(ProvisioningFamily, st.just(realm), signed_keys, members)


organization_families = st.builds(
    OrganizationFamily,
    signed_keys,
    st.lists(provisioning_families(Realm.COVERNODE), max_size=2).map(tuple),
    st.lists(provisioning_families(Realm.JOURNALIST), max_size=2).map(tuple),
)
role_statements = st.builds(RoleStatement, public_keys, provisioning_roles, signatures)
revocations = st.builds(Revocation, public_keys, moments, signatures)
organization_statements = st.builds(
    OrganizationStatements,
    st.lists(role_statements, max_size=2).map(tuple),
    st.lists(revocations, max_size=2).map(tuple),
)
published_keys = st.builds(
    PublishedKeys,
    st.lists(profiles, max_size=3).map(tuple),
    st.none() | st.text(),
    st.lists(organization_families, max_size=2).map(tuple),
    epochs,
    # CoverDrop's document (no statements) or Quietline's.
    st.just(OrganizationStatements()) | organization_statements,
)
