"""Tests for quietline.mixer.keys: the CoverNode's key folder, rotation and retirement.

The folder is the admin's (tests.mixer.keyfolder): the provisioning key's public half and
four identity keys certified ahead of time, two weeks apart; never the provisioning
secret. Time moves by hand (FixedClock): a messaging key is made at once, the next one a
week later; every two weeks the next identity key certified comes into force and signs
the messaging keys; every key the folder offers for publication verifies from the
organisation anchor; expired keys leave the disk.
"""

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from quietline.clock import FixedClock
from quietline.keystore import certified_key_to_json, write_private_json
from quietline.mixer.keys import CoverNodeKeys, KeyFolderError, RotationOutcome
from quietline.protocol.api import KeySubmission
from quietline.protocol.certificates import KeyRole
from quietline.protocol.errors import KeyUnavailable
from quietline.protocol.hierarchy import (
    IdentityFamily,
    OrganizationFamily,
    ProvisioningFamily,
    PublishedKeys,
    Realm,
)
from quietline.protocol.keygen import generate_messaging_key, generate_signing_key
from quietline.protocol.verification import verify_published_keys
from tests.mixer.keyfolder import write_covernode_folder
from tests.support.organisation import COVERNODE_ID, Organisation

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WEEK = timedelta(weeks=1)
NODE = COVERNODE_ID
NOTHING = RotationOutcome([], [])


@pytest.fixture
def hierarchy() -> Organisation:
    return Organisation.create(T0, ())


@pytest.fixture
def folder(tmp_path: Path, hierarchy: Organisation) -> Path:
    return write_covernode_folder(tmp_path / "covernode", hierarchy)


def published_document(hierarchy: Organisation, bodies: list[KeySubmission]) -> PublishedKeys:
    """The public-keys document an edge would serve after storing the provisioning key
    the admin published (with its role statement) and the mixer's ``bodies``."""
    identities = [b for b in bodies if b.role is KeyRole.COVERNODE_ID]
    families = tuple(
        IdentityFamily(
            identity.key,
            tuple(
                b.key
                for b in bodies
                if b.role is KeyRole.COVERNODE_MSG and b.parent_key == identity.key.key
            ),
        )
        for identity in identities
    )
    # The mixer publishes no provisioning key: the admin does.
    assert {b.role for b in bodies} <= {KeyRole.COVERNODE_ID, KeyRole.COVERNODE_MSG}
    provisioning = hierarchy.covernode_provisioning.published
    assert {b.parent_key for b in identities} <= {provisioning.key}
    return PublishedKeys(
        (),
        None,
        (
            OrganizationFamily(
                hierarchy.anchor,
                (ProvisioningFamily(Realm.COVERNODE, provisioning, {NODE: families}),),
                (),
            ),
        ),
        1,
        hierarchy.role_statements(),
    )


def verified_messaging_keys(
    hierarchy: Organisation, keys: CoverNodeKeys, now: datetime
) -> set[bytes]:
    document = published_document(hierarchy, keys.to_publish(now))
    verification = verify_published_keys(document, [hierarchy.anchor], now)
    assert verification.rejected == ()
    return {k.key for k in verification.verified.of_role(KeyRole.COVERNODE_MSG).get(NODE, [])}


class TestLoad:
    def test_the_admins_folder_loads(self, folder: Path, hierarchy: Organisation) -> None:
        keys = CoverNodeKeys.load(folder, NODE)
        assert keys.provisioning == [hierarchy.covernode_provisioning.published]
        assert keys.current_identity(T0).published == hierarchy.covernode_identity.published
        turns = sorted(identity.created_at for identity in keys.identities.values())
        assert turns == [T0 + n * 2 * WEEK for n in range(4)]
        for identity in keys.identities.values():
            assert keys.provisioning_of(identity) == hierarchy.covernode_provisioning.published
        assert keys.messaging == {}
        with pytest.raises(KeyUnavailable):
            keys.current_messaging(T0)

    def test_a_missing_folder_says_what_to_run(self, tmp_path: Path) -> None:
        with pytest.raises(KeyFolderError, match="admin init"):
            CoverNodeKeys.load(tmp_path / "nowhere", NODE)

    def test_the_provisioning_secret_is_refused_it_belongs_offline(
        self, folder: Path, hierarchy: Organisation
    ) -> None:
        write_private_json(
            folder / "provisioning.json", certified_key_to_json(hierarchy.covernode_provisioning)
        )
        with pytest.raises(KeyFolderError, match=r"provisioning\.json.*belongs offline") as refused:
            CoverNodeKeys.load(folder, NODE)
        assert "certify-mixer" in str(refused.value)

    def test_a_folder_without_the_provisioning_public_key_says_what_to_run(
        self, folder: Path
    ) -> None:
        for path in folder.glob("provisioning-*.pub.json"):
            path.unlink()
        with pytest.raises(KeyFolderError, match="certify-mixer"):
            CoverNodeKeys.load(folder, NODE)

    def test_an_identity_no_provisioning_key_in_the_folder_certified_is_refused(
        self, folder: Path
    ) -> None:
        stranger = Organisation.create(T0, ())
        write_private_json(
            folder / "identity-stranger.json", certified_key_to_json(stranger.covernode_identity)
        )
        with pytest.raises(KeyFolderError, match="not certified by any provisioning key"):
            CoverNodeKeys.load(folder, NODE)

    def test_a_key_of_the_wrong_role_is_named(self, folder: Path, hierarchy: Organisation) -> None:
        write_private_json(
            folder / "identity-wrong.json", certified_key_to_json(hierarchy.journalist_provisioning)
        )
        with pytest.raises(KeyFolderError, match=r"identity-wrong\.json.*journalist_provisioning"):
            CoverNodeKeys.load(folder, NODE)

    def test_a_messaging_key_without_its_identity_is_refused(
        self, folder: Path, hierarchy: Organisation
    ) -> None:
        stranger = generate_signing_key(KeyRole.COVERNODE_ID, hierarchy.covernode_provisioning, T0)
        orphan = generate_messaging_key(KeyRole.COVERNODE_MSG, stranger, T0)
        write_private_json(folder / "messaging-orphan.json", certified_key_to_json(orphan))
        with pytest.raises(KeyFolderError, match="not signed by any identity key"):
            CoverNodeKeys.load(folder, NODE)

    def test_a_damaged_key_file_is_named(self, folder: Path) -> None:
        (folder / "messaging-broken.json").write_text("{not json")
        with pytest.raises(KeyFolderError, match=r"messaging-broken\.json"):
            CoverNodeKeys.load(folder, NODE)


class TestRotation:
    def test_keys_rotate_on_the_schedule(self, folder: Path, hierarchy: Organisation) -> None:
        clock = FixedClock(T0)
        keys = CoverNodeKeys.load(folder, NODE)
        certified = set(keys.identities.values())

        first = keys.rotate(clock.now())
        assert [key.role for key in first.made] == [KeyRole.COVERNODE_MSG]
        assert first.retired_messaging == []
        assert keys.rotate(clock.now()) == NOTHING
        first_msg = keys.current_messaging(clock.now())
        assert keys.parent_of(first_msg).published == hierarchy.covernode_identity.published

        clock.advance(WEEK - timedelta(seconds=1))
        assert keys.rotate(clock.now()) == NOTHING
        clock.advance(timedelta(seconds=1))
        outcome = keys.rotate(clock.now())
        (second,) = outcome.made
        assert outcome.retired_messaging == []
        assert second.role is KeyRole.COVERNODE_MSG
        assert keys.current_messaging(clock.now()).published == second.published
        assert {k.published.key for k in keys.live_messaging(clock.now())} == {
            first_msg.published.key,
            second.published.key,
        }

        # Two weeks in: the mixer makes no identity key; the next one the admin certified
        # comes into force at its turn and signs the new messaging key.
        clock.advance(WEEK - timedelta(seconds=1))
        first_identity = hierarchy.covernode_identity
        assert keys.current_identity(clock.now()).published == first_identity.published
        clock.advance(timedelta(seconds=1))
        third = keys.rotate(clock.now())
        assert [key.role for key in third.made] == [KeyRole.COVERNODE_MSG]
        # The first messaging key expires at this very instant: kept until after it.
        assert third.retired_messaging == []
        (new_messaging,) = third.made
        new_identity = keys.current_identity(clock.now())
        assert new_identity in certified
        assert new_identity.created_at == clock.now()
        assert new_identity.published != hierarchy.covernode_identity.published
        assert keys.parent_of(keys.current_messaging(clock.now())) is new_identity
        assert new_messaging.published.key in verified_messaging_keys(hierarchy, keys, clock.now())

        # The files are private, and a restart reads the same keys back.
        for path in folder.glob("*.json"):
            if not path.name.endswith(".pub.json"):
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        again = CoverNodeKeys.load(folder, NODE)
        assert again.current_messaging(clock.now()).published == new_messaging.published
        assert again.current_identity(clock.now()).published == new_identity.published
        assert len(again.messaging) == 3
        assert len(again.identities) == 4

    def test_every_published_key_verifies_from_the_anchor(
        self, folder: Path, hierarchy: Organisation
    ) -> None:
        clock = FixedClock(T0)
        keys = CoverNodeKeys.load(folder, NODE)
        made: list[bytes] = []
        for _ in range(6):
            made += [
                k.published.key for k in keys.rotate(clock.now()).made if k.role.is_encryption_key
            ]
            live = {k.published.key for k in keys.live_messaging(clock.now())}
            assert verified_messaging_keys(hierarchy, keys, clock.now()) == live
            assert keys.current_messaging(clock.now()).published.key == made[-1]
            clock.advance(WEEK)
        assert len(made) == 6

    def test_an_identity_is_published_when_its_turn_comes_not_before(self, folder: Path) -> None:
        keys = CoverNodeKeys.load(folder, NODE)
        by_turn = sorted(keys.identities.values(), key=lambda identity: identity.created_at)
        for turn, identity in enumerate(by_turn):
            moment = identity.created_at
            keys.rotate(moment)
            published = {
                body.key.key
                for body in keys.to_publish(moment)
                if body.role is KeyRole.COVERNODE_ID
            }
            assert identity.published.key in published
            assert {i.published.key for i in by_turn[turn + 1 :]}.isdisjoint(published)
            before = {
                body.key.key
                for body in keys.to_publish(moment - timedelta(seconds=1))
                if body.role is KeyRole.COVERNODE_ID
            }
            assert identity.published.key not in before
            assert keys.current_identity(moment) is identity

    def test_a_mixer_that_slept_through_expiry_starts_fresh(
        self, folder: Path, hierarchy: Organisation
    ) -> None:
        keys = CoverNodeKeys.load(folder, NODE)
        keys.rotate(T0)
        later = T0 + 5 * WEEK  # every messaging key and the first identity key have expired
        made = keys.rotate(later).made
        assert [k.role for k in made] == [KeyRole.COVERNODE_MSG]
        identity = keys.current_identity(later)
        assert identity.created_at == T0 + 4 * WEEK  # the identity whose turn it is
        assert keys.parent_of(keys.current_messaging(later)) is identity
        assert keys.current_messaging(later).published.key in verified_messaging_keys(
            hierarchy, keys, later
        )

    def test_no_identity_in_force_asks_for_the_admin(self, folder: Path) -> None:
        keys = CoverNodeKeys.load(folder, NODE)
        last_end = T0 + 6 * WEEK + 4 * WEEK  # the fourth identity's turn, plus its validity
        assert keys.identity_runway(T0) == last_end
        keys.rotate(last_end)
        beyond = last_end + timedelta(seconds=1)
        assert keys.identity_runway(beyond) is None
        with pytest.raises(KeyUnavailable, match="certify-mixer"):
            keys.rotate(beyond)
        with pytest.raises(KeyUnavailable, match="certify-mixer"):
            keys.current_identity(beyond)


class TestRetirement:
    def test_expired_keys_leave_the_disk(self, folder: Path) -> None:
        clock = FixedClock(T0)
        keys = CoverNodeKeys.load(folder, NODE)
        forgotten: list[bytes] = []
        history = []
        for _ in range(5):
            # Rotation retires too: what expired before ``now`` goes in the same call.
            forgotten += keys.rotate(clock.now()).retired_messaging
            history.append(keys.current_messaging(clock.now()).published.key)
            clock.advance(WEEK)
        # Just after T0 + 4 weeks the messaging keys made up to T0 + 2 weeks (valid two
        # weeks) are gone, and so is the first identity key (valid four weeks); the
        # identities whose turns come at T0 + 2, 4 and 6 weeks stay.
        clock.advance(timedelta(seconds=1) - WEEK)
        outcome = keys.rotate(clock.now())
        assert outcome.made == []
        forgotten += outcome.retired_messaging
        assert forgotten == history[:3]
        on_disk = [
            json.loads(p.read_text())["published"]["key"] for p in folder.glob("messaging-*")
        ]
        assert sorted(on_disk) == sorted(k.hex() for k in history[3:])
        identities = sorted(p.name for p in folder.glob("identity-*.json"))
        assert [name[9:17] for name in identities] == ["20260315", "20260329", "20260412"]
        assert len(list(folder.glob("provisioning-*.pub.json"))) == 1
        assert not (folder / "provisioning.json").exists()
        assert keys.current_messaging(clock.now()).published.key == history[-1]

    def test_a_plan_touches_nothing_until_it_is_applied(self, folder: Path) -> None:
        keys = CoverNodeKeys.load(folder, NODE)
        keys.rotate(T0)
        first = keys.current_messaging(T0)
        later = T0 + 3 * WEEK  # the first messaging key has expired
        files = sorted(folder.iterdir())
        plan = keys.plan(later)
        assert plan.create == (KeyRole.COVERNODE_MSG,)
        assert first in plan.retire
        assert sorted(folder.iterdir()) == files
        assert keys.live_messaging(later) == []

        outcome = keys.apply(plan, later)
        assert [k.role for k in outcome.made] == list(plan.create)
        assert outcome.retired_messaging == [first.published.key]
        assert first not in keys.messaging.values()
        again = CoverNodeKeys.load(folder, NODE)
        assert again.current_messaging(later).published == outcome.made[-1].published
