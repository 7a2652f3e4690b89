"""Tests for quietline.protocol.rotation: rotation plans, and the keys they make.

Each holder's real policy is planned at the moments that matter, with keys made by
:mod:`quietline.protocol.keygen` at ``T0`` and the time passed in: the mixer's
(messaging every week, under the identity in force that the admin certified ahead), the
desk's (messaging every day, kept a week past expiry) and the admin's (provisioning
keys, recipients' identities). A plan says what to make, retire and publish;
:func:`make_keys` makes it, each key signed by the newest valid parent, even one made
earlier in the same plan.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from quietline.admin.ceremony import IDENTITY_ROTATION, PROVISIONING_ROTATION
from quietline.desk.keys import DESK_ROTATION
from quietline.mixer.keys import COVERNODE_ROTATION
from quietline.protocol.certificates import KeyRole
from quietline.protocol.errors import KeyUnavailable, MisuseError
from quietline.protocol.keygen import (
    AnyCertifiedKey,
    CertifiedSigningKey,
    generate_messaging_key,
    generate_organization_key,
    generate_signing_key,
)
from quietline.protocol.rotation import (
    RotationPlan,
    RotationPolicy,
    make_keys,
    newest_valid,
    plan_rotation,
    publishable,
    signed_by,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)
WEEK = timedelta(weeks=1)


@dataclass(frozen=True)
class Hierarchy:
    """An organisation made at ``T0``: the keys above the holders under test."""

    organization: CertifiedSigningKey
    covernode_provisioning: CertifiedSigningKey
    journalist_provisioning: CertifiedSigningKey
    covernode_identity: CertifiedSigningKey
    journalist_identity: CertifiedSigningKey


@pytest.fixture(scope="module")
def org() -> Hierarchy:
    organization = generate_organization_key(T0)
    cn_provisioning = generate_signing_key(KeyRole.COVERNODE_PROVISIONING, organization, T0)
    j_provisioning = generate_signing_key(KeyRole.JOURNALIST_PROVISIONING, organization, T0)
    return Hierarchy(
        organization,
        cn_provisioning,
        j_provisioning,
        generate_signing_key(KeyRole.COVERNODE_ID, cn_provisioning, T0),
        generate_signing_key(KeyRole.JOURNALIST_ID, j_provisioning, T0),
    )


def carry_out(
    keys: list[AnyCertifiedKey], policy: RotationPolicy, now: datetime
) -> tuple[RotationPlan, list[AnyCertifiedKey]]:
    """What a holder does: plan, make, drop the retired. Returns the plan and what was made."""
    plan = plan_rotation(keys, policy, now)
    made = make_keys(plan, keys, now)
    keys[:] = [key for key in keys if key not in plan.retire] + made
    return plan, made


def roles(keys: Sequence[AnyCertifiedKey]) -> list[KeyRole]:
    return [key.role for key in keys]


class TestPolicy:
    def test_the_holders_policies(self) -> None:
        # The mixer makes messaging keys only; the admin certifies its identities offline.
        assert COVERNODE_ROTATION.rotates == (KeyRole.COVERNODE_MSG,)
        assert COVERNODE_ROTATION.retired_roles == (KeyRole.COVERNODE_ID, KeyRole.COVERNODE_MSG)
        assert COVERNODE_ROTATION.keep_expired == timedelta(0)
        assert DESK_ROTATION.rotates == (KeyRole.JOURNALIST_MSG,)
        assert DESK_ROTATION.keep_expired == WEEK
        assert PROVISIONING_ROTATION.rotates == (
            KeyRole.COVERNODE_PROVISIONING,
            KeyRole.JOURNALIST_PROVISIONING,
        )
        assert IDENTITY_ROTATION.rotates == (KeyRole.JOURNALIST_ID,)

    def test_parents_must_come_before_their_children(self) -> None:
        with pytest.raises(MisuseError, match="parent roles before their children"):
            RotationPolicy((KeyRole.COVERNODE_MSG, KeyRole.COVERNODE_ID))
        with pytest.raises(MisuseError, match="parent roles before their children"):
            RotationPolicy((KeyRole.JOURNALIST_MSG, KeyRole.COVERNODE_ID, KeyRole.JOURNALIST_ID))
        # Unrelated roles in any order, and a whole branch parents first, are fine.
        RotationPolicy((KeyRole.JOURNALIST_MSG, KeyRole.COVERNODE_ID))
        RotationPolicy(
            (KeyRole.COVERNODE_PROVISIONING, KeyRole.COVERNODE_ID, KeyRole.COVERNODE_MSG)
        )

    def test_the_organisation_key_is_not_rotated(self) -> None:
        with pytest.raises(MisuseError, match="pinned"):
            RotationPolicy((KeyRole.ORGANIZATION, KeyRole.COVERNODE_PROVISIONING))


class TestMixerPlan:
    def test_a_first_messaging_key_is_due_at_once(self, org: Hierarchy) -> None:
        keys: list[AnyCertifiedKey] = [org.covernode_provisioning, org.covernode_identity]
        plan, made = carry_out(keys, COVERNODE_ROTATION, T0)
        assert (plan.create, plan.retire) == ((KeyRole.COVERNODE_MSG,), ())
        (messaging,) = made
        assert signed_by(messaging, keys) is org.covernode_identity
        assert plan.publish == (org.covernode_provisioning, org.covernode_identity)

    def test_nothing_is_due_before_a_week_then_a_messaging_key(self, org: Hierarchy) -> None:
        keys: list[AnyCertifiedKey] = [org.covernode_provisioning, org.covernode_identity]
        carry_out(keys, COVERNODE_ROTATION, T0)
        plan = plan_rotation(keys, COVERNODE_ROTATION, T0 + WEEK - SECOND)
        assert (plan.create, plan.retire) == ((), ())
        assert make_keys(plan, keys, T0 + WEEK - SECOND) == []
        plan, made = carry_out(keys, COVERNODE_ROTATION, T0 + WEEK)
        assert (plan.create, plan.retire) == ((KeyRole.COVERNODE_MSG,), ())
        assert signed_by(made[0], keys) is org.covernode_identity

    def test_the_next_identity_takes_over_at_its_turn(self, org: Hierarchy) -> None:
        # Certified at T0 by the admin, in force only from its turn two weeks on.
        successor = generate_signing_key(
            KeyRole.COVERNODE_ID, org.covernode_provisioning, T0, starts_at=T0 + 2 * WEEK
        )
        keys: list[AnyCertifiedKey] = [org.covernode_provisioning, org.covernode_identity]
        keys.append(successor)
        carry_out(keys, COVERNODE_ROTATION, T0)
        _, made = carry_out(keys, COVERNODE_ROTATION, T0 + WEEK)
        assert signed_by(made[0], keys) is org.covernode_identity
        assert newest_valid(keys, KeyRole.COVERNODE_ID, T0 + 2 * WEEK - SECOND) is (
            org.covernode_identity
        )
        now = T0 + 2 * WEEK
        plan, made = carry_out(keys, COVERNODE_ROTATION, now)
        assert plan.create == (KeyRole.COVERNODE_MSG,)
        (messaging,) = made
        assert signed_by(messaging, keys) is successor
        assert newest_valid(keys, KeyRole.COVERNODE_ID, now) is successor
        assert newest_valid(keys, KeyRole.COVERNODE_MSG, now) is messaging
        # The first messaging key expires at this very instant: it is not retired yet.
        assert plan.retire == ()

    def test_expired_keys_are_retired_once_past_their_expiry(self, org: Hierarchy) -> None:
        keys: list[AnyCertifiedKey] = [org.covernode_provisioning, org.covernode_identity]
        made: list[AnyCertifiedKey] = []
        for week in range(4):
            made += carry_out(keys, COVERNODE_ROTATION, T0 + week * WEEK)[1]
        # Made at T0, T0 + 1 week, T0 + 2 weeks and T0 + 3 weeks: messaging keys only.
        assert roles(made) == [KeyRole.COVERNODE_MSG] * 4
        first, second = made[0], made[1]
        assert first not in keys  # expired at T0 + 2 weeks, retired at T0 + 3 weeks
        assert second in keys  # expires at T0 + 3 weeks: retired only after that
        assert plan_rotation(keys, COVERNODE_ROTATION, T0 + 3 * WEEK).retire == ()
        plan = plan_rotation(keys, COVERNODE_ROTATION, T0 + 3 * WEEK + SECOND)
        assert plan.retire == (second,)
        # The identity that signed it is still valid, and the provisioning key is not
        # the mixer's to retire.
        assert org.covernode_identity in keys

    def test_a_parent_goes_in_the_same_plan_as_its_last_child(self, org: Hierarchy) -> None:
        identity = org.covernode_identity
        # Made a week before the identity expires: clamped to the identity's expiry.
        late_child = generate_messaging_key(
            KeyRole.COVERNODE_MSG, identity, identity.not_valid_after - WEEK
        )
        assert late_child.not_valid_after == identity.not_valid_after
        keys: list[AnyCertifiedKey] = [org.covernode_provisioning, identity, late_child]
        assert plan_rotation(keys, COVERNODE_ROTATION, identity.not_valid_after).retire == ()
        plan = plan_rotation(keys, COVERNODE_ROTATION, identity.not_valid_after + SECOND)
        assert plan.retire == (late_child, identity)

    def test_a_parent_stays_while_a_child_it_signed_is_kept(self, org: Hierarchy) -> None:
        messaging = generate_messaging_key(KeyRole.COVERNODE_MSG, org.covernode_identity, T0)
        keys: list[AnyCertifiedKey] = [org.covernode_provisioning, org.covernode_identity]
        later = org.covernode_identity.not_valid_after + SECOND
        # A policy that rotates identities only keeps every messaging key, and so the
        # expired identity that signed one.
        identities_only = RotationPolicy((KeyRole.COVERNODE_ID,))
        assert plan_rotation([*keys, messaging], identities_only, later).retire == ()
        assert plan_rotation(keys, identities_only, later).retire == (org.covernode_identity,)

    def test_an_expired_provisioning_key_makes_nothing(self, org: Hierarchy) -> None:
        keys: list[AnyCertifiedKey] = [org.covernode_provisioning, org.covernode_identity]
        later = org.covernode_provisioning.not_valid_after + SECOND
        plan = plan_rotation(keys, COVERNODE_ROTATION, later)
        assert plan.create == (KeyRole.COVERNODE_MSG,)
        assert plan.publish == ()
        # The mixer cannot certify an identity: with none in force it makes nothing.
        with pytest.raises(KeyUnavailable, match="covernode_id"):
            make_keys(plan, keys, later)

    def test_an_identity_before_its_turn_signs_nothing(self, org: Hierarchy) -> None:
        ahead = generate_signing_key(
            KeyRole.COVERNODE_ID, org.covernode_provisioning, T0, starts_at=T0 + WEEK
        )
        keys: list[AnyCertifiedKey] = [org.covernode_provisioning, ahead]
        plan = plan_rotation(keys, COVERNODE_ROTATION, T0)
        assert plan.publish == (org.covernode_provisioning,)
        with pytest.raises(KeyUnavailable, match="covernode_id"):
            make_keys(plan, keys, T0)
        _, made = carry_out(keys, COVERNODE_ROTATION, T0 + WEEK)
        assert signed_by(made[0], keys) is ahead


class TestDeskPlan:
    def test_a_messaging_key_a_day_signed_by_the_identity(self, org: Hierarchy) -> None:
        first = generate_messaging_key(KeyRole.JOURNALIST_MSG, org.journalist_identity, T0)
        keys: list[AnyCertifiedKey] = [org.journalist_identity, first]
        assert plan_rotation(keys, DESK_ROTATION, T0 + DAY - SECOND).create == ()
        plan, made = carry_out(keys, DESK_ROTATION, T0 + DAY)
        assert plan.create == (KeyRole.JOURNALIST_MSG,)
        assert signed_by(made[0], keys) is org.journalist_identity

    def test_an_expired_key_is_kept_a_week_then_retired(self, org: Hierarchy) -> None:
        first = generate_messaging_key(KeyRole.JOURNALIST_MSG, org.journalist_identity, T0)
        keys: list[AnyCertifiedKey] = [org.journalist_identity, first]
        for day in range(1, 22):
            carry_out(keys, DESK_ROTATION, T0 + day * DAY)
            assert first in keys
        expiry = first.not_valid_after
        assert expiry == T0 + 2 * WEEK
        assert first not in plan_rotation(keys, DESK_ROTATION, expiry + WEEK).retire
        # Past its expiry it is no longer published, though still held.
        assert first not in plan_rotation(keys, DESK_ROTATION, expiry + SECOND).publish
        plan = plan_rotation(keys, DESK_ROTATION, expiry + WEEK + SECOND)
        assert plan.retire == (first,)
        # The identity is the admin's to renew: never retired by the desk.
        late = org.journalist_identity.not_valid_after + 2 * WEEK
        assert org.journalist_identity not in plan_rotation(keys, DESK_ROTATION, late).retire

    def test_an_expired_identity_signs_no_new_messaging_key(self, org: Hierarchy) -> None:
        keys: list[AnyCertifiedKey] = [org.journalist_identity]
        later = org.journalist_identity.not_valid_after + SECOND
        plan = plan_rotation(keys, DESK_ROTATION, later)
        assert plan.create == (KeyRole.JOURNALIST_MSG,)
        with pytest.raises(KeyUnavailable, match="journalist_id"):
            make_keys(plan, keys, later)


class TestAdminPlan:
    def test_provisioning_keys_are_renewed_at_half_life(self, org: Hierarchy) -> None:
        keys: list[AnyCertifiedKey] = [
            org.organization,
            org.covernode_provisioning,
            org.journalist_provisioning,
        ]
        assert plan_rotation(keys, PROVISIONING_ROTATION, T0 + 26 * WEEK - SECOND).create == ()
        plan, made = carry_out(keys, PROVISIONING_ROTATION, T0 + 26 * WEEK)
        assert plan.create == (KeyRole.COVERNODE_PROVISIONING, KeyRole.JOURNALIST_PROVISIONING)
        assert [signed_by(key, keys) for key in made] == [org.organization] * 2
        assert plan.retire == ()  # the old ones stay until they expire

    def test_an_identity_is_renewed_under_the_journalist_provisioning_key(
        self, org: Hierarchy
    ) -> None:
        keys: list[AnyCertifiedKey] = [org.journalist_provisioning, org.journalist_identity]
        assert plan_rotation(keys, IDENTITY_ROTATION, T0 + 4 * WEEK - SECOND).create == ()
        plan, made = carry_out(keys, IDENTITY_ROTATION, T0 + 4 * WEEK)
        assert (plan.create, plan.retire) == ((KeyRole.JOURNALIST_ID,), ())
        assert roles(made) == [KeyRole.JOURNALIST_ID]
        assert signed_by(made[0], keys) is org.journalist_provisioning

    def test_an_expired_organisation_key_signs_no_provisioning_key(self, org: Hierarchy) -> None:
        keys: list[AnyCertifiedKey] = [org.organization, org.covernode_provisioning]
        later = org.organization.not_valid_after + SECOND
        plan = plan_rotation(keys, PROVISIONING_ROTATION, later)
        with pytest.raises(KeyUnavailable, match="organization"):
            make_keys(plan, keys, later)


class TestHelpers:
    def test_newest_valid_picks_the_latest_made_of_the_valid(self, org: Hierarchy) -> None:
        old = generate_messaging_key(KeyRole.COVERNODE_MSG, org.covernode_identity, T0)
        new = generate_messaging_key(KeyRole.COVERNODE_MSG, org.covernode_identity, T0 + WEEK)
        keys: list[AnyCertifiedKey] = [new, org.covernode_identity, old]
        assert newest_valid(keys, KeyRole.COVERNODE_MSG, T0 + WEEK) is new
        assert newest_valid(keys, KeyRole.COVERNODE_MSG, T0 + 2 * WEEK) is new
        with pytest.raises(KeyUnavailable):
            newest_valid(keys, KeyRole.COVERNODE_MSG, new.not_valid_after + SECOND)
        with pytest.raises(KeyUnavailable):
            newest_valid(keys, KeyRole.JOURNALIST_MSG, T0)

    def test_signed_by_finds_the_certifying_key_only(self, org: Hierarchy) -> None:
        messaging = generate_messaging_key(KeyRole.COVERNODE_MSG, org.covernode_identity, T0)
        stranger = generate_signing_key(KeyRole.COVERNODE_ID, org.covernode_provisioning, T0)
        assert signed_by(messaging, [stranger, org.covernode_identity]) is org.covernode_identity
        assert signed_by(messaging, [stranger]) is None
        assert signed_by(org.organization, [org.organization]) is None

    def test_publishable_is_parents_first_oldest_first_and_only_the_valid(
        self, org: Hierarchy
    ) -> None:
        old = generate_messaging_key(KeyRole.COVERNODE_MSG, org.covernode_identity, T0)
        new = generate_messaging_key(KeyRole.COVERNODE_MSG, org.covernode_identity, T0 + WEEK)
        j_msg = generate_messaging_key(KeyRole.JOURNALIST_MSG, org.journalist_identity, T0)
        everything: list[AnyCertifiedKey] = [
            org.organization,
            org.covernode_provisioning,
            org.journalist_provisioning,
            org.covernode_identity,
            org.journalist_identity,
            old,
            new,
            j_msg,
        ]
        shuffled = list(everything)
        random.Random(7).shuffle(shuffled)
        assert publishable(shuffled, T0 + WEEK) == everything
        # Two weeks on, the first messaging keys have expired at T0 + 2 weeks.
        later = T0 + 2 * WEEK + SECOND
        assert publishable(shuffled, later) == [
            k for k in everything if k is not old and k is not j_msg
        ]
        assert plan_rotation(shuffled, COVERNODE_ROTATION, later).publish == tuple(
            publishable(shuffled, later)
        )
