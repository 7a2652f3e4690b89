"""Tests for quietline.protocol.keygen: making and certifying keys for every role.

Each role is certified by the right parent and verifies under it; a wrong parent is
misuse; a child's expiry is ``now + VALIDITY[role]`` in whole seconds, clamped to its
parent's; an expired parent signs nothing; ``rotation_due`` turns true exactly
``ROTATE_AFTER`` after creation; and a hierarchy built here verifies as published keys.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from quietline.protocol import constants as c
from quietline.protocol.certificates import KeyRole, SignedKey
from quietline.protocol.errors import BadSignature, KeyUnavailable, MisuseError
from quietline.protocol.hierarchy import (
    IdentityFamily,
    JournalistProfile,
    OrganizationFamily,
    ProvisioningFamily,
    PublishedKeys,
    Realm,
)
from quietline.protocol.keygen import (
    PARENT,
    ROTATE_AFTER,
    VALIDITY,
    CertifiedEncryptionKey,
    CertifiedSigningKey,
    generate_messaging_key,
    generate_organization_key,
    generate_signing_key,
    rotation_due,
)
from quietline.protocol.keys import PublicSigningKey
from quietline.protocol.recipients import RecipientId
from quietline.protocol.roles import PROVISIONING_ROLES, OrganizationStatements, RoleStatement
from quietline.protocol.verification import verify_published_keys

# A time with microseconds, to see them truncated from every expiry.
NOW = datetime(2024, 2, 29, 9, 30, 15, 654_321, tzinfo=UTC)
WHOLE_NOW = NOW.replace(microsecond=0)
SECOND = timedelta(seconds=1)
MICROSECOND = timedelta(microseconds=1)

SIGNING_ROLES = [
    KeyRole.COVERNODE_PROVISIONING,
    KeyRole.JOURNALIST_PROVISIONING,
    KeyRole.COVERNODE_ID,
    KeyRole.JOURNALIST_ID,
]
MESSAGING_ROLES = [KeyRole.COVERNODE_MSG, KeyRole.JOURNALIST_MSG]
CertifiedKey = CertifiedSigningKey | CertifiedEncryptionKey


@dataclass(frozen=True)
class Hierarchy:
    org: CertifiedSigningKey
    keys: dict[KeyRole, CertifiedKey]

    def parent_of(self, role: KeyRole) -> CertifiedSigningKey:
        if PARENT[role] is KeyRole.ORGANIZATION:
            return self.org
        parent = self.keys[PARENT[role]]
        assert isinstance(parent, CertifiedSigningKey)
        return parent


def generate(role: KeyRole, parent: CertifiedSigningKey, now: datetime) -> CertifiedKey:
    if role.is_encryption_key:
        return generate_messaging_key(role, parent, now)
    return generate_signing_key(role, parent, now)


def build_hierarchy(now: datetime = NOW) -> Hierarchy:
    org = generate_organization_key(now)
    built = Hierarchy(org, {})
    # PARENT lists parents before children, so one pass builds the tree top down.
    for role in [*SIGNING_ROLES, *MESSAGING_ROLES]:
        built.keys[role] = generate(role, built.parent_of(role), now)
    return built


@pytest.fixture(scope="module")
def hierarchy() -> Hierarchy:
    return build_hierarchy()


def test_the_tables_cover_every_role_as_designed() -> None:
    assert set(VALIDITY) == set(ROTATE_AFTER) == set(KeyRole)
    assert set(PARENT) == set(KeyRole) - {KeyRole.ORGANIZATION}
    week = timedelta(weeks=1)
    assert {
        KeyRole.ORGANIZATION: 52 * week,
        KeyRole.COVERNODE_PROVISIONING: 52 * week,
        KeyRole.JOURNALIST_PROVISIONING: 52 * week,
        KeyRole.COVERNODE_ID: 4 * week,
        KeyRole.JOURNALIST_ID: 8 * week,
        KeyRole.COVERNODE_MSG: 2 * week,
        KeyRole.JOURNALIST_MSG: 2 * week,
    } == VALIDITY
    assert {
        KeyRole.ORGANIZATION: 26 * week,
        KeyRole.COVERNODE_PROVISIONING: 26 * week,
        KeyRole.JOURNALIST_PROVISIONING: 26 * week,
        KeyRole.COVERNODE_ID: 2 * week,
        KeyRole.JOURNALIST_ID: 4 * week,
        KeyRole.COVERNODE_MSG: week,
        KeyRole.JOURNALIST_MSG: timedelta(days=1),
    } == ROTATE_AFTER


class TestOrganizationKey:
    def test_self_certificate_verifies(self, hierarchy: Hierarchy) -> None:
        org = hierarchy.org
        assert org.role is KeyRole.ORGANIZATION
        assert org.published.key == org.pair.public.raw
        org.published.verify_certificate(org.pair.public)

    def test_expiry_is_validity_in_whole_seconds(self, hierarchy: Hierarchy) -> None:
        assert hierarchy.org.not_valid_after == WHOLE_NOW + c.ORGANIZATION_KEY_VALIDITY

    def test_each_organization_key_is_new(self) -> None:
        assert generate_organization_key(NOW).published.key != (
            generate_organization_key(NOW).published.key
        )


class TestCertifiedKeys:
    @pytest.mark.parametrize("role", [*SIGNING_ROLES, *MESSAGING_ROLES], ids=lambda r: r.value)
    def test_verifies_under_its_parent(self, hierarchy: Hierarchy, role: KeyRole) -> None:
        key = hierarchy.keys[role]
        parent = hierarchy.parent_of(role)
        assert key.role is role
        key.published.verify_certificate(parent.pair.public)

    @pytest.mark.parametrize("role", [*SIGNING_ROLES, *MESSAGING_ROLES], ids=lambda r: r.value)
    def test_does_not_verify_under_another_key(self, hierarchy: Hierarchy, role: KeyRole) -> None:
        key = hierarchy.keys[role]
        others = [hierarchy.org, *hierarchy.keys.values()]
        for other in others:
            if other is hierarchy.parent_of(role) or other.role.is_encryption_key:
                continue
            with pytest.raises(BadSignature):
                key.published.verify_certificate(PublicSigningKey(other.published.key))

    @pytest.mark.parametrize("role", [*SIGNING_ROLES, *MESSAGING_ROLES], ids=lambda r: r.value)
    def test_published_key_is_the_pair_public_half(
        self, hierarchy: Hierarchy, role: KeyRole
    ) -> None:
        key = hierarchy.keys[role]
        assert key.published.key == key.pair.public.raw

    @pytest.mark.parametrize("role", [*SIGNING_ROLES, *MESSAGING_ROLES], ids=lambda r: r.value)
    def test_expiry_is_now_plus_validity_truncated(
        self, hierarchy: Hierarchy, role: KeyRole
    ) -> None:
        key = hierarchy.keys[role]
        assert key.not_valid_after == WHOLE_NOW + VALIDITY[role]
        assert key.not_valid_after.microsecond == 0
        assert key.not_valid_after == key.published.not_valid_after

    @pytest.mark.parametrize("role", SIGNING_ROLES, ids=lambda r: r.value)
    def test_wrong_parent_role_for_a_signing_key(self, hierarchy: Hierarchy, role: KeyRole) -> None:
        for parent in [hierarchy.org, *hierarchy.keys.values()]:
            if parent.role is PARENT[role] or not isinstance(parent, CertifiedSigningKey):
                continue
            with pytest.raises(MisuseError):
                generate_signing_key(role, parent, NOW)

    @pytest.mark.parametrize("role", MESSAGING_ROLES, ids=lambda r: r.value)
    def test_wrong_parent_role_for_a_messaging_key(
        self, hierarchy: Hierarchy, role: KeyRole
    ) -> None:
        for parent in [hierarchy.org, *hierarchy.keys.values()]:
            if parent.role is PARENT[role] or not isinstance(parent, CertifiedSigningKey):
                continue
            with pytest.raises(MisuseError):
                generate_messaging_key(role, parent, NOW)

    def test_signing_generator_refuses_non_signing_roles(self, hierarchy: Hierarchy) -> None:
        with pytest.raises(MisuseError):
            generate_signing_key(KeyRole.ORGANIZATION, hierarchy.org, NOW)
        for role in MESSAGING_ROLES:
            with pytest.raises(MisuseError):
                generate_signing_key(role, hierarchy.parent_of(role), NOW)

    def test_messaging_generator_refuses_signing_roles(self, hierarchy: Hierarchy) -> None:
        for role in SIGNING_ROLES:
            with pytest.raises(MisuseError):
                generate_messaging_key(role, hierarchy.parent_of(role), NOW)

    def test_wrong_parent_is_not_key_unavailable(self, hierarchy: Hierarchy) -> None:
        with pytest.raises(MisuseError) as raised:
            generate_signing_key(KeyRole.COVERNODE_ID, hierarchy.org, NOW)
        assert not isinstance(raised.value, KeyUnavailable)


class TestParentExpiry:
    def test_child_expiry_is_clamped_to_the_parent(self, hierarchy: Hierarchy) -> None:
        identity = hierarchy.keys[KeyRole.COVERNODE_ID]
        assert isinstance(identity, CertifiedSigningKey)
        late = identity.not_valid_after - timedelta(days=3)  # 3 days left, 14 wanted
        child = generate_messaging_key(KeyRole.COVERNODE_MSG, identity, late)
        assert child.not_valid_after == identity.not_valid_after
        child.published.verify_certificate(identity.pair.public)

    def test_clamped_hierarchy_verifies_as_published(self, hierarchy: Hierarchy) -> None:
        org = hierarchy.org
        late = org.not_valid_after - timedelta(weeks=1)
        provisioning = generate_signing_key(KeyRole.JOURNALIST_PROVISIONING, org, late)
        identity = generate_signing_key(KeyRole.JOURNALIST_ID, provisioning, late)
        messaging = generate_messaging_key(KeyRole.JOURNALIST_MSG, identity, late)
        assert provisioning.not_valid_after == org.not_valid_after
        assert identity.not_valid_after == org.not_valid_after
        assert messaging.not_valid_after == org.not_valid_after
        messaging.published.verify_certificate(identity.pair.public)

    def test_expired_parent_signs_nothing(self, hierarchy: Hierarchy) -> None:
        identity = hierarchy.keys[KeyRole.JOURNALIST_ID]
        assert isinstance(identity, CertifiedSigningKey)
        after = identity.not_valid_after + MICROSECOND
        with pytest.raises(KeyUnavailable):
            generate_messaging_key(KeyRole.JOURNALIST_MSG, identity, after)
        with pytest.raises(KeyUnavailable):
            generate_signing_key(
                KeyRole.COVERNODE_PROVISIONING, hierarchy.org, NOW + timedelta(weeks=53)
            )

    def test_parent_still_signs_at_its_expiry_instant(self, hierarchy: Hierarchy) -> None:
        identity = hierarchy.keys[KeyRole.JOURNALIST_ID]
        assert isinstance(identity, CertifiedSigningKey)
        child = generate_messaging_key(KeyRole.JOURNALIST_MSG, identity, identity.not_valid_after)
        assert child.not_valid_after == identity.not_valid_after

    def test_organization_key_outlived_by_nothing(self, hierarchy: Hierarchy) -> None:
        org_expiry = hierarchy.org.not_valid_after
        assert all(k.not_valid_after <= org_expiry for k in hierarchy.keys.values())


class TestRotationDue:
    @pytest.mark.parametrize("role", list(KeyRole), ids=lambda r: r.value)
    def test_no_key_yet_means_due(self, role: KeyRole) -> None:
        assert rotation_due(role, None, NOW)

    @pytest.mark.parametrize("role", list(KeyRole), ids=lambda r: r.value)
    def test_boundaries(self, role: KeyRole) -> None:
        created = NOW
        assert not rotation_due(role, created, created)
        assert not rotation_due(role, created, created + ROTATE_AFTER[role] - MICROSECOND)
        assert rotation_due(role, created, created + ROTATE_AFTER[role])  # exactly then
        assert rotation_due(role, created, created + VALIDITY[role])
        assert rotation_due(role, created, created + timedelta(days=400))

    @pytest.mark.parametrize("role", [*SIGNING_ROLES, *MESSAGING_ROLES], ids=lambda r: r.value)
    def test_not_due_right_after_generation(self, hierarchy: Hierarchy, role: KeyRole) -> None:
        key = hierarchy.keys[role]
        assert key.created_at == NOW
        assert not rotation_due(role, key.created_at, NOW)
        assert not rotation_due(role, key.created_at, NOW + ROTATE_AFTER[role] - MICROSECOND)
        assert rotation_due(role, key.created_at, NOW + ROTATE_AFTER[role])

    def test_organization_key_after_generation(self, hierarchy: Hierarchy) -> None:
        created = hierarchy.org.created_at
        assert not rotation_due(KeyRole.ORGANIZATION, created, NOW)
        assert rotation_due(KeyRole.ORGANIZATION, created, NOW + c.ORGANIZATION_KEY_ROTATE_AFTER)

    def test_a_clamped_key_is_not_due_right_after_generation(self, hierarchy: Hierarchy) -> None:
        identity = hierarchy.keys[KeyRole.JOURNALIST_ID]
        assert isinstance(identity, CertifiedSigningKey)
        late = identity.not_valid_after - timedelta(days=10)  # 10 days left, 14 wanted
        fresh = generate_messaging_key(KeyRole.JOURNALIST_MSG, identity, late)
        assert fresh.not_valid_after == identity.not_valid_after
        assert not rotation_due(KeyRole.JOURNALIST_MSG, fresh.created_at, late)


# --- a whole hierarchy, published and verified --------------------------------------------


def published_keys(built: Hierarchy, recipient_id: str = "journalist_keygen") -> PublishedKeys:
    """The PublishedKeys a server would serve for ``built`` (as quietline.tour makes it),
    with the organisation key's role statements for the provisioning keys."""
    k = built.keys
    statements = OrganizationStatements(
        tuple(
            RoleStatement.sign(built.org.pair, role, k[role].published.key)
            for role in PROVISIONING_ROLES
        )
    )
    return PublishedKeys(
        (JournalistProfile.create(recipient_id, "Key Gen", "A test recipient", is_desk=False),),
        recipient_id,
        (
            OrganizationFamily(
                built.org.published,
                (
                    ProvisioningFamily(
                        Realm.COVERNODE,
                        k[KeyRole.COVERNODE_PROVISIONING].published,
                        {
                            RecipientId("covernode_001"): (
                                IdentityFamily(
                                    k[KeyRole.COVERNODE_ID].published,
                                    (k[KeyRole.COVERNODE_MSG].published,),
                                ),
                            )
                        },
                    ),
                ),
                (
                    ProvisioningFamily(
                        Realm.JOURNALIST,
                        k[KeyRole.JOURNALIST_PROVISIONING].published,
                        {
                            RecipientId(recipient_id): (
                                IdentityFamily(
                                    k[KeyRole.JOURNALIST_ID].published,
                                    (k[KeyRole.JOURNALIST_MSG].published,),
                                ),
                            )
                        },
                    ),
                ),
            ),
        ),
        1,
        statements,
    )


class TestPublishedHierarchy:
    def test_every_generated_key_verifies(self, hierarchy: Hierarchy) -> None:
        result = verify_published_keys(published_keys(hierarchy), [hierarchy.org.published], NOW)
        assert result.rejected == ()
        verified = {key.role: key for key in result.verified.keys}
        assert set(verified) == set(KeyRole)
        for role, key in hierarchy.keys.items():
            assert verified[role].key == key.published.key
            assert verified[role].not_valid_after == key.not_valid_after
        assert result.verified.default_journalist_id == "journalist_keygen"
        assert result.verified.journalist_messaging_key("journalist_keygen").raw == (
            hierarchy.keys[KeyRole.JOURNALIST_MSG].pair.public.raw
        )

    def test_survives_a_json_round_trip(self, hierarchy: Hierarchy) -> None:
        published = PublishedKeys.from_json(published_keys(hierarchy).to_json())
        anchor = SignedKey.from_json(hierarchy.org.published.to_json())
        result = verify_published_keys(published, [anchor], NOW)
        assert result.rejected == ()
        assert len(result.verified.keys) == len(KeyRole)

    def test_messaging_keys_drop_out_when_they_expire(self, hierarchy: Hierarchy) -> None:
        after = NOW + c.JOURNALIST_MSG_KEY_VALIDITY + SECOND
        result = verify_published_keys(published_keys(hierarchy), [hierarchy.org.published], after)
        rejected = {key.role for key in result.rejected}
        assert rejected == {KeyRole.COVERNODE_MSG, KeyRole.JOURNALIST_MSG}

    def test_keys_of_another_organization_do_not_verify(self, hierarchy: Hierarchy) -> None:
        stranger = build_hierarchy()
        result = verify_published_keys(published_keys(stranger), [hierarchy.org.published], NOW)
        assert result.verified.keys == ()
        assert len(result.rejected) == len(KeyRole)
