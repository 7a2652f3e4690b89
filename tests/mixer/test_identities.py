"""The mixer's identity keys, certified ahead of time by the offline admin, against the real
edge app over HTTP with a FixedClock shared by the edge and the test.

The deployment is the admin's own (``admin init``, then ``admin publish``): the mixer's
folder holds four identity keys, one for every two weeks, and no provisioning secret.
Stepping day by day, the mixer takes each identity when its turn comes, publishes it
then and not before, signs its messaging keys, queue pulls and dead drops with it; when
the last one nears its end the step says so, when none is left the step fails asking for
the admin, and once the admin certifies more the same running mixer carries on.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from quietline.admin.ceremony import init, publish
from quietline.admin.covernode import CertifiedIdentity, certified_identities, certify_mixer
from quietline.admin.layout import COVERNODE_ID, Layout
from quietline.clock import FixedClock
from quietline.config import load_config
from quietline.edge import EdgeStore, create_app
from quietline.edge_client import EdgeClient
from quietline.keystore import read_json
from quietline.mixer.keys import KeyFolderError
from quietline.mixer.service import Mixer, MixerReport
from quietline.mixer.state import MixerStore
from quietline.protocol.certificates import KeyRole, SignedKey
from quietline.protocol.constants import COVERNODE_ID_KEY_ROTATE_AFTER
from quietline.protocol.deaddrops import JournalistDeadDrop, journalist_signed_digest
from quietline.protocol.encoding import format_rfc3339
from quietline.protocol.hierarchy import IdentityFamily, PublishedKeys, Realm
from quietline.protocol.keys import PublicSigningKey
from quietline.protocol.mixing import MixingParameters
from quietline.protocol.recipients import RecipientId
from quietline.protocol.verification import VerifiedKeys, verify_published_keys
from tests.mixer.deployment import all_dead_drops, send_cover
from tests.support.edge_server import serve
from tests.support.queues import queues_beside

# Ten weeks of daily steps against a real server: left out of `make check`, run by `make test`.
pytestmark = pytest.mark.slow

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
WEEK = timedelta(weeks=1)
TURN = COVERNODE_ID_KEY_ROTATE_AFTER
RUN_OUT = "the identity keys the admin certified run out"
# Release whatever came in once a minute has passed: every daily step flushes.
MIX = MixingParameters(
    threshold_min=1, threshold_max=50, timeout=timedelta(minutes=1), output_size=4
)


@dataclass
class Run:
    clock: FixedClock
    layout: Layout
    anchor: SignedKey
    edge: EdgeClient
    edge_store: EdgeStore
    mixer: Mixer

    def step(self) -> MixerReport:
        """Send one cover message when the mixer's keys are out, then step the mixer."""
        keys = self.verified()
        if keys.of_role(KeyRole.COVERNODE_MSG):
            send_cover(self.edge, keys, 1)
        return self.mixer.step(self.clock.now())

    def verified(self) -> VerifiedKeys:
        verification = verify_published_keys(
            self.edge.public_keys(), [self.anchor], self.clock.now()
        )
        assert verification.rejected == (), [r.describe() for r in verification.rejected]
        return verification.verified

    def stored_identities(self) -> set[bytes]:
        """Every CoverNode identity key the edge holds (whatever its turn)."""
        return {
            stored.signed.key
            for stored in self.edge_store.live_keys(self.clock.now())
            if stored.role is KeyRole.COVERNODE_ID
        }


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Run]:
    clock = FixedClock(T0)
    layout = init(tmp_path / "org", T0, mixing="demo")
    anchor = SignedKey.from_json(read_json(layout.anchor))
    edge_store = EdgeStore(tmp_path / "edge.sqlite3")
    with (
        queues_beside(edge_store) as queues,
        serve(create_app(edge_store, [anchor], clock, queues=queues.engine)) as url,
        EdgeClient(url) as edge,
    ):
        publish(layout, edge, T0, lambda _: None)
        config = replace(
            load_config(layout.folder).mixer,
            edge_url=url,
            database=tmp_path / "mixer.sqlite3",
            u2j=MIX,
            j2u=MIX,
        )
        with MixerStore(config.database) as store:
            mixer = Mixer(config, edge, [anchor], store, rng=random.Random(3))
            yield Run(clock, layout, anchor, edge, edge_store, mixer)
    edge_store.close()


def in_turn(certified: list[CertifiedIdentity], now: datetime) -> CertifiedIdentity:
    """The identity whose turn came last at ``now``."""
    return [identity for identity in certified if identity.starts_at <= now][-1]


def identity_family_of(document: PublishedKeys, messaging: bytes) -> IdentityFamily:
    """The CoverNode identity family that holds messaging key ``messaging``."""
    for organization in document.families:
        for provisioning in organization.covernodes:
            assert provisioning.realm is Realm.COVERNODE
            for family in provisioning.members.get(RecipientId(COVERNODE_ID), ()):
                if any(key.key == messaging for key in family.messaging):
                    return family
    raise AssertionError("the messaging key is not published")


def check_in_force(run: Run, certified: list[CertifiedIdentity], *, released: bool = True) -> None:
    """Everything the mixer signs at this moment it signs with the identity whose turn it
    is (with ``released``, a dead drop too); that identity is published, and none whose
    turn is still to come is."""
    now = run.clock.now()
    current = in_turn(certified, now)
    assert run.mixer.keys.current_identity(now).published == current.key
    stored = run.stored_identities()
    assert current.key.key in stored
    later = {identity.key.key for identity in certified if identity.starts_at > now}
    assert stored.isdisjoint(later), "an identity was published before its turn"
    keys = run.verified()
    newest = keys.of_role(KeyRole.COVERNODE_MSG)[COVERNODE_ID][0]
    assert identity_family_of(run.edge.public_keys(), newest.key).identity == current.key
    if not released:
        return
    dead_drop = all_dead_drops(run.edge, JournalistDeadDrop)[-1].body
    assert dead_drop.created_at == now
    PublicSigningKey(current.key.key).verify(
        journalist_signed_digest(dead_drop.data, dead_drop.created_at, dead_drop.epoch),
        dead_drop.signature,
    )


def test_the_mixer_takes_each_identity_at_its_turn_and_asks_for_more_in_time(run: Run) -> None:
    certified = certified_identities(run.layout)
    assert [identity.starts_at for identity in certified] == [T0 + n * TURN for n in range(4)]
    last_end = certified[-1].key.not_valid_after
    assert last_end == T0 + 10 * WEEK

    run.step()  # the mixer's first keys are out; the first cover goes in from now on
    identities_used = set()
    while run.clock.now() < T0 + 10 * WEEK:
        run.clock.advance(DAY)
        report = run.step()
        assert report.error is None, report.error
        check_in_force(run, certified)
        identities_used.add(run.mixer.keys.current_identity(run.clock.now()).published.key)
        # Two weeks before the last identity ends (and not earlier), the step asks for more.
        warned = [note for note in report.notes if note.startswith(RUN_OUT)]
        if last_end - run.clock.now() < 2 * WEEK:
            assert warned == [
                f"{RUN_OUT} at {format_rfc3339(last_end)}: ask for more "
                "(`quietline admin certify-mixer`)"
            ]
        else:
            assert warned == []
    assert identities_used == {identity.key.key for identity in certified}

    # None left: the step fails and says whom to ask; nothing is pulled or signed, and
    # sources find no CoverNode key to write to.
    run.clock.advance(DAY)
    report = run.step()
    assert report.error is not None
    assert report.error.startswith("KeyUnavailable")
    assert "quietline admin certify-mixer" in report.error
    assert (report.pulled, report.released) == (0, 0)
    assert not run.verified().of_role(KeyRole.COVERNODE_MSG)

    # The admin certifies more into the mixer's folder: the running mixer carries on.
    lines: list[str] = []
    more = certify_mixer(run.layout, run.clock.now(), lines.append)
    assert [identity.starts_at for identity in more] == [
        run.clock.now() + n * TURN for n in range(4)
    ]
    report = run.step()
    assert report.error is None, report.error
    assert [note for note in report.notes if note.startswith(RUN_OUT)] == []
    check_in_force(run, certified_identities(run.layout), released=False)
    run.clock.advance(DAY)
    report = run.step()
    assert report.error is None, report.error
    check_in_force(run, certified_identities(run.layout))


def test_a_mixer_given_the_provisioning_secret_refuses_to_start(run: Run) -> None:
    shutil.copy(run.layout.covernode_provisioning, run.layout.covernode / "provisioning.json")
    config = load_config(run.layout.folder).mixer
    with (
        MixerStore(run.layout.folder / "another.sqlite3") as store,
        pytest.raises(KeyFolderError, match="belongs offline") as refused,
    ):
        Mixer(config, run.edge, [run.anchor], store)
    assert "provisioning.json" in str(refused.value)
