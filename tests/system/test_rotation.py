"""A round trip, three weeks of key rotation under an injected clock, then another round trip.

Every part is the real one, in one process sharing a FixedClock: the admin ceremony's
folder, the edge app served over HTTP, the mixer, the desk and a source client. Over the
three weeks the desk rotates its messaging keys daily, the mixer its messaging keys
weekly and its identity every two weeks; the old keys expire and leave the published
set, and the second round trip runs entirely on keys that did not exist at the first.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from quietline.admin.ceremony import enroll, init, publish
from quietline.admin.layout import Layout
from quietline.client.schedule import FixedRate
from quietline.clock import FixedClock
from quietline.config import load_config
from quietline.desk.service import Desk
from quietline.desk.state import DeskState, recipient_from_bundle
from quietline.desk.store import DeskStore
from quietline.edge import EdgeStore, create_app
from quietline.edge_client import EdgeClient
from quietline.keystore import read_bundle, read_json
from quietline.mixer.service import Mixer
from quietline.mixer.state import MixerStore
from quietline.protocol.certificates import KeyRole, SignedKey
from quietline.protocol.mixing import MixingParameters
from quietline.protocol.verification import VerifiedKeys, verify_published_keys
from quietline.vault import INTERACTIVE
from tests.support.edge_server import serve
from tests.support.queues import queues_beside
from tests.support.sources import SourceUser, small_client

# Real processes and servers: left out of `make check`, run by `make test`.
pytestmark = pytest.mark.slow

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
STEP = timedelta(hours=6)
PASSPHRASE = "rotation test passphrase"
# Release after two inputs, or one once an hour has passed: a step always flushes.
FAST = MixingParameters(threshold_min=1, threshold_max=2, timeout=timedelta(hours=1), output_size=3)


@dataclass
class System:
    clock: FixedClock
    edge: EdgeClient
    anchor: SignedKey
    mixer: Mixer
    desk: Desk
    source: SourceUser

    def advance(self, steps: int = 1) -> None:
        """Move time on by ``steps`` steps, letting every part do what is due at each."""
        for _ in range(steps):
            self.clock.advance(STEP)
            now = self.clock.now()
            self.source.client.tick(now)
            self.mixer.step(now)
            self.desk.step(now)

    def verified(self) -> VerifiedKeys:
        verification = verify_published_keys(
            self.edge.public_keys(), [self.anchor], self.clock.now()
        )
        assert verification.rejected == (), [r.describe() for r in verification.rejected]
        return verification.verified

    def messaging_keys(self, role: KeyRole) -> set[bytes]:
        return {key.key for keys in self.verified().of_role(role).values() for key in keys}

    def round_trip(self, text: str, reply: str) -> None:
        """The source writes, the desk reads and replies, the source reads the reply."""
        self.source.write("news_desk", text, self.clock.now())
        for _ in range(12):
            self.advance()
            received = [
                message.text
                for conversation in self.desk.store.read().conversations.values()
                for message in conversation.messages
            ]
            if text in received:
                break
        assert text in received
        (conversation,) = self.desk.store.read().conversations.values()
        self.desk.reply(conversation.short_id, reply, self.clock.now())
        for _ in range(12):
            self.advance()
            replies = self.source.replies(self.clock.now())
            if reply in replies:
                break
        assert reply in replies


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    clock = FixedClock(T0)
    layout: Layout = init(tmp_path / "org", T0, mixing="demo")
    enroll(
        layout,
        T0,
        recipient_id="news_desk",
        display_name="News Desk",
        description="",
        is_desk=True,
        default=True,
    )
    config = load_config(layout.folder)
    anchor = SignedKey.from_json(read_json(layout.anchor))
    edge_store = EdgeStore(tmp_path / "edge.sqlite3")
    mixer_store = MixerStore(tmp_path / "mixer.sqlite3")
    with (
        queues_beside(edge_store) as queues,
        serve(create_app(edge_store, [anchor], clock, queues=queues.engine)) as url,
        EdgeClient(url) as edge,
    ):
        publish(layout, edge, T0, lambda _line: None)
        mixer = Mixer(replace(config.mixer, u2j=FAST, j2u=FAST), edge, [anchor], mixer_store)
        desk_store = DeskStore(tmp_path / "desk.vault", INTERACTIVE)
        desk_store.create(PASSPHRASE, DeskState())
        desk_store.unlock(PASSPHRASE)
        desk = Desk(desk_store, edge, [anchor], STEP)
        desk.add_recipient(
            recipient_from_bundle(read_bundle(layout.bundle("news_desk"))), T0, lambda problem: None
        )
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
        the_system = System(clock, edge, anchor, mixer, desk, source)
        the_system.advance(2)
        yield the_system
        mixer_store.close()
        edge_store.close()


def test_round_trips_survive_three_weeks_of_rotation(system: System) -> None:
    system.round_trip("before the rotations", "reply before")
    covernode_before = system.messaging_keys(KeyRole.COVERNODE_MSG)
    journalist_before = system.messaging_keys(KeyRole.JOURNALIST_MSG)
    identity_before = system.messaging_keys(KeyRole.COVERNODE_ID)

    system.advance(4 * 21)  # three weeks in six-hour steps

    covernode_after = system.messaging_keys(KeyRole.COVERNODE_MSG)
    journalist_after = system.messaging_keys(KeyRole.JOURNALIST_MSG)
    assert covernode_after  # new ones published...
    assert covernode_after.isdisjoint(covernode_before)  # ...and the old ones expired and gone
    assert journalist_after.isdisjoint(journalist_before)
    assert system.messaging_keys(KeyRole.COVERNODE_ID) - identity_before  # a new identity
    assert len(journalist_after) >= 10  # a new key a day, each valid two weeks

    system.round_trip("after the rotations", "reply after")
