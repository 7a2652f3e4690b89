"""Revocations honoured by everyone: the admin revokes a recipient, then a seized mixer's
identity keys, publishes, and the source client, the desk and the edge all stop trusting
them; a fresh mixer certified by the admin then carries messages end to end again.

Every part is the real one, in one process sharing a FixedClock: the admin ceremony's
folder, the edge app served over HTTP, the mixer, a desk acting for two recipients and a
source client. See docs/deploy.md, "Recovering from a seized mixer".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from quietline.admin.ceremony import enroll, init, publish
from quietline.admin.covernode import certify_mixer, mixer_keys
from quietline.admin.layout import Layout
from quietline.admin.revocation import recipient_keys, revoke
from quietline.client.errors import NoVerifiedKeys
from quietline.client.schedule import FixedRate
from quietline.clock import FixedClock
from quietline.config import MixerConfig, load_config
from quietline.desk.report import DeskReport
from quietline.desk.service import Desk
from quietline.desk.state import DeskState, recipient_from_bundle
from quietline.desk.store import DeskStore
from quietline.edge import EdgeStore, create_app
from quietline.edge_client import EdgeClient, EdgeRefused
from quietline.keystore import read_bundle, read_json
from quietline.mixer.service import Mixer, MixerReport
from quietline.mixer.state import MixerStore
from quietline.protocol.api import Direction, J2CSubmission, QueuePull, Route
from quietline.protocol.certificates import KeyRole, SignedKey
from quietline.protocol.deaddrops import sign_journalist_dead_drop
from quietline.protocol.errors import UnknownRecipient
from quietline.protocol.forms import sign_form
from quietline.protocol.messages import ENCRYPTED_U2C, encrypt_cover_j2c, filler_c2j
from quietline.protocol.mixing import MixingParameters
from quietline.protocol.verification import VerifiedKeys, verify_published_keys
from quietline.vault import INTERACTIVE
from tests.support.edge_server import serve
from tests.support.queues import queues_beside
from tests.support.sources import SourceUser, small_client

# Real servers: left out of `make check`, run by `make test`.
pytestmark = pytest.mark.slow

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
STEP = timedelta(hours=6)
PASSPHRASE = "revocation test passphrase"
# Release after two inputs, or one once an hour has passed: a step always flushes.
FAST = MixingParameters(threshold_min=1, threshold_max=2, timeout=timedelta(hours=1), output_size=3)


@dataclass
class System:
    tmp: Path
    url: str
    clock: FixedClock
    layout: Layout
    edge: EdgeClient
    anchor: SignedKey
    mixer_config: MixerConfig
    mixer: Mixer
    mixer_store: MixerStore
    desk: Desk
    source: SourceUser
    mixer_reports: list[MixerReport] = field(default_factory=list)
    desk_reports: list[DeskReport] = field(default_factory=list)
    source_notes: list[str] = field(default_factory=list)

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def advance(self, steps: int = 1) -> None:
        """Move time on by ``steps`` steps, letting every part do what is due at each."""
        for _ in range(steps):
            self.clock.advance(STEP)
            self.source_notes += self.source.client.tick(self.now).notes
            self.mixer_reports.append(self.mixer.step(self.now))
            self.desk_reports.append(self.desk.step(self.now))

    def start_mixer(self, name: str) -> None:
        """A mixer over the admin's key folder with a database of its own (a new machine)."""
        self.mixer_store.close()
        self.mixer_config = replace(self.mixer_config, database=self.tmp / f"{name}.sqlite3")
        self.mixer_store = MixerStore(self.mixer_config.database)
        self.mixer = Mixer(self.mixer_config, self.edge, [self.anchor], self.mixer_store)

    def admin_publish(self) -> None:
        publish(self.layout, self.edge, self.now, lambda _line: None)

    def verified(self) -> VerifiedKeys:
        verification = verify_published_keys(self.edge.public_keys(), [self.anchor], self.now)
        return verification.verified

    def received(self) -> list[str]:
        return [
            message.text
            for conversation in self.desk.store.read().conversations.values()
            for message in conversation.messages
        ]

    def round_trip(self, text: str, reply: str) -> None:
        """The source writes to the news desk, which reads and replies; the source reads
        the reply."""
        self.source.write("news_desk", text, self.now)
        for _ in range(12):
            self.advance()
            if text in self.received():
                break
        assert text in self.received()
        (conversation,) = [
            c
            for c in self.desk.store.read().conversations.values()
            if any(message.text == text for message in c.messages)
        ]
        self.desk.reply(conversation.short_id, reply, self.now)
        for _ in range(12):
            self.advance()
            replies = self.source.replies(self.now)
            if reply in replies:
                break
        assert reply in replies


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    clock = FixedClock(T0)
    layout = init(tmp_path / "org", T0, mixing="demo")
    for recipient_id, default in (("news_desk", True), ("alice", False)):
        enroll(
            layout,
            T0,
            recipient_id=recipient_id,
            display_name=recipient_id,
            description="",
            is_desk=default,
            default=default,
        )
    config = load_config(layout.folder)
    anchor = SignedKey.from_json(read_json(layout.anchor))
    edge_store = EdgeStore(tmp_path / "edge.sqlite3")
    mixer_config = replace(
        config.mixer, u2j=FAST, j2u=FAST, database=tmp_path / "seized-mixer.sqlite3"
    )
    mixer_store = MixerStore(mixer_config.database)
    with (
        queues_beside(edge_store) as queues,
        serve(create_app(edge_store, [anchor], clock, queues=queues.engine)) as url,
        EdgeClient(url) as edge,
    ):
        publish(layout, edge, T0, lambda _line: None)
        mixer = Mixer(mixer_config, edge, [anchor], mixer_store)
        desk_store = DeskStore(tmp_path / "desk.vault", INTERACTIVE)
        desk_store.create(PASSPHRASE, DeskState())
        desk_store.unlock(PASSPHRASE)
        desk = Desk(desk_store, edge, [anchor], STEP)
        for recipient_id in ("news_desk", "alice"):
            bundle = read_bundle(layout.bundle(recipient_id))
            desk.add_recipient(recipient_from_bundle(bundle), T0, lambda _problem: None)
        source = SourceUser(
            small_client(
                edge,
                [anchor],
                tmp_path / "source",
                FixedRate(STEP, origin=T0),
                FixedRate(STEP, origin=T0),
            )
        )
        source.client.start(T0)
        the_system = System(
            tmp_path,
            url,
            clock,
            layout,
            edge,
            anchor,
            mixer_config,
            mixer,
            mixer_store,
            desk,
            source,
        )
        the_system.advance(2)
        yield the_system
        the_system.mixer_store.close()
    edge_store.close()


def test_a_revoked_recipient_is_refused_by_the_source_the_desk_and_the_edge(
    system: System,
) -> None:
    alice = read_bundle(system.layout.bundle("alice"))
    keys = system.source.client.verified_keys(system.now)
    assert keys is not None
    assert {profile.id for profile in keys.profiles} == {"news_desk", "alice"}

    revoke(system.layout, system.now, recipient_keys(system.layout, "alice"), lambda _: None)
    system.admin_publish()
    system.desk_reports.clear()
    system.advance()

    # The source: she is gone from the keys it verifies, and it will not write to her.
    keys = system.source.client.verified_keys(system.now)
    assert keys is not None
    assert [profile.id for profile in keys.profiles] == ["news_desk"]
    assert "alice" not in keys.of_role(KeyRole.JOURNALIST_ID)
    assert "alice" not in keys.of_role(KeyRole.JOURNALIST_MSG)
    with pytest.raises(UnknownRecipient, match="not a recipient the organisation publishes"):
        system.source.write("alice", "are you there?", system.now)
    # The desk that acts for her says so.
    notes = [note for report in system.desk_reports for note in report.notes]
    assert any(
        note.startswith("the identity key of alice is not among the verified published keys")
        for note in notes
    ), notes
    # The edge: it serves none of her keys, to CoverDrop's apps either (the plain
    # document), and takes nothing her identity signs.
    plain = httpx.get(system.url + Route.PUBLIC_KEYS).text
    assert alice.identity.published.key.hex() not in plain
    assert alice.messaging.published.key.hex() not in plain
    cover = encrypt_cover_j2c(keys.covernode_wrapping_keys())
    with pytest.raises(EdgeRefused) as refused:
        system.edge.send_j2c(
            sign_form(J2CSubmission(cover).to_json(), alice.identity.pair, system.now)
        )
    assert refused.value.status == 403
    # Everyone else carries on.
    system.round_trip("for the news desk", "the news desk replies")


def test_a_seized_mixer_is_revoked_and_a_fresh_one_takes_over(system: System) -> None:
    system.round_trip("before the seizure", "reply before")
    seized = system.mixer
    seized_identity = seized.keys.current_identity(system.now)
    next_turn = min(
        (i for i in seized.keys.identities.values() if i.created_at > system.now),
        key=lambda identity: identity.created_at,
    )

    # A message goes out wrapped for the mixer's keys, and then the mixer is taken.
    system.source.write("news_desk", "in flight", system.now)
    system.clock.advance(STEP)
    assert system.source.client.tick(system.now).sent
    revoke(system.layout, system.now, mixer_keys(system.layout, system.now), lambda _: None)
    system.admin_publish()

    # The edge refuses whatever its identity keys sign, the turns to come included.
    report = seized.step(system.now)
    assert report.error is not None
    assert "(403)" in report.error
    epoch = system.verified().max_epoch
    for identity in (seized_identity, next_turn):
        pull = QueuePull(Direction.USER, 0, 10, 0)
        with pytest.raises(EdgeRefused) as refused:
            system.edge.pull_queue(
                ENCRYPTED_U2C, sign_form(pull.to_json(), identity.pair, system.now)
            )
        assert refused.value.status == 403
        forged = sign_journalist_dead_drop(
            [filler_c2j() for _ in range(FAST.output_size)],
            system.now,
            epoch,
            identity=identity.pair,
            identity_not_valid_after=identity.not_valid_after,
        )
        with pytest.raises(EdgeRefused) as refused:
            system.edge.publish_dead_drop(forged)
        assert refused.value.status == 403

    # Sources find no CoverNode key that verifies: they stop sending (cover included)
    # rather than wrap for the seized mixer, and cannot queue a message either.
    system.source_notes.clear()
    system.advance()
    assert system.source.client.verified_keys(system.now) is None
    assert "send skipped: no verified keys yet" in system.source_notes
    with pytest.raises(NoVerifiedKeys):
        system.source.write("news_desk", "anyone?", system.now)

    # Recovery: the admin certifies a fresh folder for a new mixer machine and publishes.
    system.layout.covernode.rename(system.layout.secrets / "covernode-seized")
    certified = certify_mixer(system.layout, system.now, lambda _: None)
    assert certified[0].starts_at == system.now
    system.admin_publish()
    system.start_mixer("fresh-mixer")
    system.mixer_reports.clear()
    system.advance(2)  # the new mixer publishes its keys; then the source fetches them
    assert system.source.client.verified_keys(system.now) is not None
    system.round_trip("after the recovery", "reply after")
    assert system.mixer.keys.current_identity(system.now).published == certified[0].key
    # What was in flight, wrapped for the seized mixer's keys, is lost.
    assert "in flight" not in system.received()
    assert sum(report.unreadable for report in system.mixer_reports) >= 1
    assert all(report.error is None for report in system.mixer_reports)
