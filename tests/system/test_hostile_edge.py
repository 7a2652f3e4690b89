"""A hostile edge against the real mixer, desk and source client, over real HTTP.

The edge here is the real edge app behind an instrument that replaces the answers of
one route with an attacker's: numbers out of every range, forged signatures, keys
served in the wrong role, pages that never end, bodies that are not JSON or far too
long. Each service then does its ordinary step through its real ``EdgeClient``. None
may raise, loop without end (the edge counts requests and cuts a service off past a
budget, which the test reports as a stall) or accept what the attacker forged. Once
the edge behaves again, every service must carry on as before: no lasting damage.
"""

from __future__ import annotations

import copy
import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.responses import Response, StreamingResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from quietline.client.client import SourceClient
from quietline.client.schedule import FixedRate
from quietline.clock import FixedClock
from quietline.config import MixerConfig
from quietline.desk.service import Desk
from quietline.desk.state import DeskState, recipient_from_bundle
from quietline.desk.store import DeskStore
from quietline.edge import EdgeStore, create_app
from quietline.edge_client import EdgeClient
from quietline.mixer.service import PAGE_LIMIT, Mixer
from quietline.mixer.state import MixerStore
from quietline.protocol.api import Route
from quietline.protocol.certificates import KeyRole
from quietline.protocol.constants import MAX_EPOCH
from quietline.protocol.deaddrops import (
    JournalistDeadDrop,
    UserDeadDrop,
    sign_journalist_dead_drop,
    sign_user_dead_drop,
)
from quietline.protocol.encoding import b64_encode
from quietline.protocol.jsonvalues import I64_MAX
from quietline.protocol.keys import SigningKeyPair
from quietline.protocol.messages import (
    ENCRYPTED_U2C,
    cover_j2u,
    encrypt_cover_u2c,
    filler_c2j,
)
from quietline.protocol.mixing import MixingParameters
from quietline.protocol.verification import VerifiedKeys
from quietline.vault import INTERACTIVE
from tests.desk.world import bundle_for
from tests.mixer.keyfolder import write_covernode_folder
from tests.support.edge_server import serve
from tests.support.organisation import COVERNODE_ID, Organisation
from tests.support.queues import sqlite_queues
from tests.support.sources import small_client

pytestmark = pytest.mark.slow

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
PERIOD = timedelta(minutes=1)
RECIPIENT = "desk"
# More requests than any one round of steps needs; past it the edge answers 503 only.
REQUEST_BUDGET = 300
# Longer than any answer a client reads (EdgeClient.MAX_ANSWER_BYTES is 64 MiB).
OVERSIZED_BYTES = 80 * 2**20
MIX = MixingParameters(threshold_min=1, threshold_max=50, timeout=PERIOD, output_size=4)

Document = Any
# What an attacker answers, given the real answer's JSON (None when it was not a 200):
# a JSON value, raw bytes, or an iterator of chunks streamed out.
Rewrite = Callable[[Document], Document | bytes | Iterator[bytes]]


@dataclass
class HostileEdge:
    """The real edge app, with the answers of chosen routes rewritten by an attacker."""

    inner: ASGIApp
    rewrites: dict[str, Rewrite] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    overrun: bool = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        path = scope["path"]
        self.requests[path] += 1
        if sum(self.requests.values()) > REQUEST_BUDGET:
            self.overrun = True
            await Response(b"", status_code=503)(scope, receive, send)
            return
        rewrite = self.rewrites.get(path)
        if rewrite is None:
            await self.inner(scope, receive, send)
            return
        status, body = await _answer_of(self.inner, scope, receive)
        hostile = rewrite(json.loads(body) if status == 200 else None)
        response: Response
        if isinstance(hostile, bytes):
            response = Response(hostile, media_type="application/json")
        elif isinstance(hostile, Iterator):
            response = StreamingResponse(hostile, media_type="application/json")
        else:
            response = Response(json.dumps(hostile), media_type="application/json")
        await response(scope, receive, send)


async def _answer_of(app: ASGIApp, scope: Scope, receive: Receive) -> tuple[int, bytes]:
    status = 500
    body = bytearray()

    async def capture(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))

    await app(scope, receive, capture)
    return status, bytes(body)


# --- what the attacker forges ---------------------------------------------------------------

FORGER = SigningKeyPair.generate()


def forged_journalist_dead_drop(dead_drop_id: int, epoch: int) -> dict[str, Any]:
    body = sign_journalist_dead_drop(
        [filler_c2j()], NOW, epoch, identity=FORGER, identity_not_valid_after=NOW + PERIOD
    )
    return {"id": dead_drop_id, **body.to_json()}


def forged_user_dead_drop(dead_drop_id: int) -> dict[str, Any]:
    body = sign_user_dead_drop(
        [cover_j2u()], NOW, identity=FORGER, identity_not_valid_after=NOW + PERIOD
    )
    return {"id": dead_drop_id, **body.to_json()}


def with_dead_drops(*extra: dict[str, Any]) -> Rewrite:
    """The real page with ``extra`` dead drops added at its end."""
    return lambda page: {"dead_drops": [*(page or {}).get("dead_drops", []), *extra]}


def endless_forgeries(make: Callable[[int], dict[str, Any]]) -> Rewrite:
    """A page of one new forgery each time, with ever larger ids: it always says 'more'."""
    counter = iter(range(1, 10**9))
    return lambda _page: {"dead_drops": [make(10**6 + next(counter))]}


def public_keys(change: Callable[[dict[str, Any]], None]) -> Rewrite:
    def rewrite(document: Document) -> Document:
        document = copy.deepcopy(document)
        change(document)
        return document

    return rewrite


def set_max_epoch(value: int) -> Callable[[dict[str, Any]], None]:
    return lambda document: document.update(max_epoch=value)


def journalists_as_a_covernode(document: dict[str, Any]) -> None:
    """Serve the recipients' provisioning key and its keys as a CoverNode's: a client
    that believed it would wrap messages for a recipient's key as if for the mixer."""
    family = document["keys"][0]
    journalists = family["journalists"][0]
    family["covernodes"].append(
        {
            "provisioning_pk": journalists["provisioning_pk"],
            "covernodes": {"covernode_999": journalists["journalists"][RECIPIENT]},
        }
    )


def covernode_identity_as_messaging(document: dict[str, Any]) -> None:
    """A CoverNode's identity key listed again among its messaging keys."""
    identity = document["keys"][0]["covernodes"][0]["covernodes"][COVERNODE_ID][0]
    identity["msg_pks"].append(identity["id_pk"])


def forged_messaging_certificate(document: dict[str, Any]) -> None:
    """The CoverNode's messaging keys swapped for the attacker's, certificates kept."""
    identity = document["keys"][0]["covernodes"][0]["covernodes"][COVERNODE_ID][0]
    for key in identity["msg_pks"]:
        key["key"] = SigningKeyPair.generate().public.hex()


def queue_items(seqs: range | list[int], data: str) -> dict[str, Any]:
    return {"messages": [{"seq": seq, "data": data} for seq in seqs]}


def u2c_garbage() -> str:
    return b64_encode(bytes(ENCRYPTED_U2C.size))


def queue_always_full() -> Rewrite:
    """A full page of new (garbage) submissions every time: the queue never drains."""
    start = iter(range(1, 10**9, PAGE_LIMIT))

    def rewrite(_page: Document) -> Document:
        first = next(start)
        return queue_items(range(first, first + PAGE_LIMIT), u2c_garbage())

    return rewrite


def deeply_nested(_page: Document) -> bytes:
    return b"[" * 200_000 + b"]" * 200_000


def oversized(_page: Document) -> Iterator[bytes]:
    chunk = b" " * 2**20
    for _ in range(OVERSIZED_BYTES // len(chunk)):
        yield chunk
    yield b"{}"


ALL_READS = (
    Route.PUBLIC_KEYS,
    Route.USER_DEAD_DROPS,
    Route.JOURNALIST_DEAD_DROPS,
    Route.COVERNODE_QUEUE,
)
SCENARIOS: dict[str, dict[str, Rewrite]] = {
    "max_epoch 2^31": {Route.PUBLIC_KEYS: public_keys(set_max_epoch(2**31))},
    "max_epoch 2^63": {Route.PUBLIC_KEYS: public_keys(set_max_epoch(2**63))},
    "max_epoch at the i32 limit": {Route.PUBLIC_KEYS: public_keys(set_max_epoch(MAX_EPOCH))},
    "recipients' keys served as a CoverNode's": {
        Route.PUBLIC_KEYS: public_keys(journalists_as_a_covernode)
    },
    "an identity key served as a messaging key": {
        Route.PUBLIC_KEYS: public_keys(covernode_identity_as_messaging)
    },
    "messaging keys with forged certificates": {
        Route.PUBLIC_KEYS: public_keys(forged_messaging_certificate)
    },
    "queue seq 2^63": {Route.COVERNODE_QUEUE: lambda _: queue_items([2**63], u2c_garbage())},
    "queue seq at the i64 limit": {
        Route.COVERNODE_QUEUE: lambda _: queue_items([I64_MAX], u2c_garbage())
    },
    "queue that never drains": {Route.COVERNODE_QUEUE: queue_always_full()},
    "queue entries that are not submissions": {
        Route.COVERNODE_QUEUE: lambda _: queue_items(range(1, 4), "AAAA")
    },
    "forged dead drops with the largest id and epoch": {
        Route.JOURNALIST_DEAD_DROPS: with_dead_drops(
            forged_journalist_dead_drop(I64_MAX, MAX_EPOCH)
        ),
        Route.USER_DEAD_DROPS: with_dead_drops(forged_user_dead_drop(I64_MAX)),
    },
    "dead drop ids 2^63": {
        Route.JOURNALIST_DEAD_DROPS: with_dead_drops(forged_journalist_dead_drop(2**63, 1)),
        Route.USER_DEAD_DROPS: with_dead_drops(forged_user_dead_drop(2**63)),
    },
    "dead drop pages that never end": {
        Route.JOURNALIST_DEAD_DROPS: endless_forgeries(
            lambda i: forged_journalist_dead_drop(i, MAX_EPOCH)
        ),
        Route.USER_DEAD_DROPS: endless_forgeries(forged_user_dead_drop),
    },
    "not JSON": dict.fromkeys(ALL_READS, lambda _: b"\x00\xff not json"),
    "JSON nested beyond the recursion limit": dict.fromkeys(ALL_READS, deeply_nested),
    "answers of 80 MiB": dict.fromkeys(ALL_READS, oversized),
}


# --- the deployment -------------------------------------------------------------------------


@dataclass
class Deployment:
    clock: FixedClock
    org: Organisation
    edge_store: EdgeStore
    hostile: HostileEdge
    mixer: Mixer
    desk: Desk
    client: SourceClient
    crowd: EdgeClient
    legit: VerifiedKeys | None = None

    def round(self) -> list[str]:
        """A cover message from the crowd, then one step of every service; returns the
        errors and notes of the three."""
        self.clock.advance(PERIOD)
        now = self.clock.now()
        if self.legit is not None:
            self.crowd.send_u2c(encrypt_cover_u2c(self.legit.covernode_wrapping_keys()))
        mixer = self.mixer.step(now)
        desk = self.desk.step(now)
        client = self.client.tick(now)
        return [*([mixer.error] if mixer.error else []), *desk.notes, *client.notes]

    def assert_nothing_forged_was_accepted(self) -> None:
        now = self.clock.now()
        keys = self.client.verified_keys(now)
        assert keys is not None
        assert self.legit is not None
        assert {key.key for key in keys.keys} <= {key.key for key in self.legit.keys}
        journalist_ids = [
            d.id for d in self.edge_store.dead_drops(JournalistDeadDrop, 0, 10**6, now)
        ]
        published = {d.id: d for d in self.edge_store.dead_drops(UserDeadDrop, 0, 10**6, now)}
        held = self.client.storage.read_cache().dead_drops
        assert all(published.get(d.id) == d for d in held)
        assert self.desk.store.read().cursor <= max(journalist_ids, default=0)


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    clock = FixedClock(NOW)
    org = Organisation.create(NOW, (RECIPIENT,))
    edge_store = EdgeStore(tmp_path / "edge.sqlite3")
    edge_queues = sqlite_queues(edge_store.path)
    hostile = HostileEdge(create_app(edge_store, [org.anchor], clock, queues=edge_queues.engine))
    mixer_store = MixerStore(tmp_path / "mixer.sqlite3")
    with (
        closing(edge_queues),
        serve(hostile) as url,
        EdgeClient(url) as admin,
        EdgeClient(url) as mixer_edge,
        EdgeClient(url) as desk_edge,
        EdgeClient(url) as client_edge,
        EdgeClient(url) as crowd,
    ):
        org.publish(admin, NOW, covernode=False, messaging=False)
        config = MixerConfig(
            edge_url=url,
            database=tmp_path / "mixer.sqlite3",
            covernode_id=COVERNODE_ID,
            keys=write_covernode_folder(tmp_path / "covernode", org),
            u2j=MIX,
            j2u=MIX,
            poll_seconds=1,
            anchor=tmp_path / "organization.pub.json",
        )
        mixer = Mixer(config, mixer_edge, [org.anchor], mixer_store, rng=random.Random(3))
        assert mixer.step(NOW).error is None  # publishes the CoverNode's keys
        desk_store = DeskStore(tmp_path / "desk.vault", INTERACTIVE)
        desk_store.create("desk passphrase", DeskState())
        desk = Desk(desk_store, desk_edge, [org.anchor], PERIOD)
        desk.add_recipient(recipient_from_bundle(bundle_for(org, RECIPIENT, NOW)), NOW, print)
        client = small_client(
            client_edge, [org.anchor], tmp_path / "source", FixedRate(PERIOD), FixedRate(PERIOD)
        )
        deployment = Deployment(clock, org, edge_store, hostile, mixer, desk, client, crowd)
        deployment.round()  # keys published
        deployment.legit = org.verified(admin, clock.now())
        assert deployment.legit.of_role(KeyRole.COVERNODE_MSG)
        deployment.round()  # a few cover messages mixed
        hostile.requests.clear()
        yield deployment
    mixer_store.close()
    edge_store.close()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_no_service_crashes_stalls_or_accepts_what_a_hostile_edge_forges(
    deployment: Deployment, scenario: str
) -> None:
    deployment.hostile.rewrites = dict(SCENARIOS[scenario])
    for _ in range(2):
        deployment.round()
        assert not deployment.hostile.overrun, deployment.hostile.requests
        deployment.hostile.requests.clear()
        deployment.assert_nothing_forged_was_accepted()

    # The edge behaves again: every service carries on where it was (the edge refuses a
    # dead drop the mixer signed with an epoch the attacker made up; the mixer signs its
    # entries again with the real one).
    deployment.hostile.rewrites = {}
    deployment.round()
    now = deployment.clock.now()
    assert deployment.mixer.step(now).error is None
    outcome = deployment.client.tick(now + PERIOD)
    assert outcome.downloaded, outcome.notes
    assert deployment.desk.step(now + PERIOD).waiting_for_epoch is None
    deployment.assert_nothing_forged_was_accepted()
