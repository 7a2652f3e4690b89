"""The real ``quietline edge`` process: what a caller sends about itself is kept nowhere,
the edge writes nothing but its database, every route works over real HTTP with the
shared EdgeClient, SIGTERM and Ctrl-C stop it cleanly, and a SIGKILL loses no submission
it acknowledged."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from quietline.clock import SystemClock
from quietline.edge import EdgeStore
from quietline.edge_client import EdgeClient, EdgeRefused
from quietline.protocol.api import Direction, QueuePull
from quietline.protocol.deaddrops import JournalistDeadDrop, UserDeadDrop
from quietline.protocol.encoding import b64_encode
from quietline.protocol.forms import sign_form
from quietline.protocol.messages import ENCRYPTED_U2C, encrypt_cover_u2c
from quietline.protocol.verification import verify_published_keys
from tests.edge.submissions import (
    JOURNALIST_ID,
    JSON,
    build_organization,
    covernode_keys,
    j2c_form,
    journalist_dead_drop,
    key_submissions,
    profile_form,
    queue_form,
    u2c_body,
    user_dead_drop,
)
from tests.support.edge_process import EdgeProcess, files, running_edge
from tests.support.nats import jetstream_queues, shared_streams
from tests.support.organisation import Organisation
from tests.support.queues import queues_beside

# Real processes and servers: left out of `make check`, run by `make test`.
pytestmark = pytest.mark.slow

STOP_DEADLINE_S = 15.0
DATABASE_FILES = {"edge.sqlite3", "edge.sqlite3-wal", "edge.sqlite3-shm"}
CLIENT_ADDRESS = "127.0.0.77"  # a loopback address of its own, to look for afterwards
SENTINEL_HEADERS = {
    "User-Agent": "SentinelAgent/7f3a9c (quietline privacy test)",
    "X-Forwarded-For": "203.0.113.77",
    "X-Real-IP": "198.51.100.99",
    "Forwarded": "for=192.0.2.55;proto=https",
    "X-Request-ID": "sentinel-request-5b1e0d",
}
SENTINELS = [CLIENT_ADDRESS, *SENTINEL_HEADERS.values(), "7f3a9c", "203.0.113", "198.51.100"]


def _stop(edge: EdgeProcess, signum: int) -> None:
    edge.process.send_signal(signum)
    assert edge.process.wait(timeout=STOP_DEADLINE_S) == 0, edge.stderr.read_text()


def _exercise_every_route(client: httpx.Client, organization: Organisation) -> None:
    """Good and bad requests at every route, as a caller with a sentinel identity."""
    now = SystemClock().now()
    for body in key_submissions(organization):
        assert client.post("/v1/keys", json=body).status_code == 200
    assert (
        client.post("/v1/journalist-profiles", json=profile_form(organization, now)).status_code
        == 204
    )
    assert (
        client.post("/user/messages", content=u2c_body(organization), headers=JSON).status_code
        == 204
    )
    assert client.post("/user/messages", content=b'"short"', headers=JSON).status_code == 400
    assert (
        client.post("/v1/journalist-messages", json=j2c_form(organization, now)).status_code == 204
    )
    drop = user_dead_drop(organization, now)
    assert client.post("/v1/user/dead-drops", json=drop.to_json()).status_code == 200
    assert client.post("/v1/user/dead-drops", content=b"{" * 100, headers=JSON).status_code == 400
    assert client.post("/v1/keys", content=b"x" * (65 * 1024), headers=JSON).status_code == 413
    assert client.post("/v1/covernode/queue", json=queue_form(organization, now)).status_code == 200
    for path in ("/v1/public-keys", "/v1/status", "/v1/user/dead-drops", "/openapi.json"):
        assert client.get(path).status_code == 200
    assert client.get("/v1/journalist/dead-drops?ids_greater_than=-1").status_code == 400
    assert client.get("/nowhere").status_code == 404
    assert client.delete("/v1/status").status_code == 405


def test_nothing_about_the_caller_is_kept_and_only_the_database_is_written(
    tmp_path: Path,
) -> None:
    organization = build_organization(SystemClock().now())
    with running_edge(tmp_path, organization) as edge:
        transport = httpx.HTTPTransport(local_address=CLIENT_ADDRESS)
        with httpx.Client(
            base_url=edge.url, transport=transport, headers=SENTINEL_HEADERS, timeout=10
        ) as client:
            _exercise_every_route(client, organization)
        _stop(edge, signal.SIGTERM)

    assert "edge listening on http://127.0.0.1:" in edge.stdout.read_text()
    written = set(files(edge.folder)) - edge.prepared
    assert {path.name for path in written} <= DATABASE_FILES
    assert all(path.parent == edge.folder for path in written)
    assert edge.folder / "edge.sqlite3" in written

    # The database really holds what was sent, so the search below means something.
    store = EdgeStore(edge.folder / "edge.sqlite3")
    try:
        assert store.max_epoch() == 6
        assert store.dead_drop_count() == 1
        with queues_beside(store) as queues:
            assert queues.queue_length(Direction.JOURNALIST) == 1
    finally:
        store.close()

    everything = files(tmp_path)
    assert edge.stdout in everything
    assert edge.stderr in everything
    for path, content in everything.items():
        for sentinel in SENTINELS:
            assert sentinel.encode() not in content, f"{sentinel!r} found in {path}"
            assert sentinel.encode("utf-16-le") not in content, f"{sentinel!r} found in {path}"


def test_every_route_works_with_the_edge_client_and_ctrl_c_stops_cleanly(
    tmp_path: Path,
) -> None:
    now = SystemClock().now()
    organization = build_organization(now)
    with running_edge(tmp_path, organization) as edge:
        with EdgeClient(edge.url) as client:
            assert client.status().is_available is False
            epochs = [
                client.publish_key(organization.submission(link))
                for link in organization.key_chain()
            ]
            assert epochs == [1, 2, 3, 4, 5, 6]
            client.publish_profile(organization.signed_profile(JOURNALIST_ID, now, default=True))
            assert client.status().is_available is True
            verification = verify_published_keys(
                client.public_keys(), [organization.anchor], SystemClock().now()
            )
            assert verification.rejected == ()
            assert verification.verified.default_journalist_id == JOURNALIST_ID

            u2c = encrypt_cover_u2c(covernode_keys(organization))
            client.send_u2c(u2c)
            pulled = client.pull_queue(
                ENCRYPTED_U2C,
                sign_form(
                    QueuePull(Direction.USER, after=0, limit=10, ack_through=0).to_json(),
                    organization.covernode_identity.pair,
                    SystemClock().now(),
                ),
            )
            assert [(item.seq, item.message) for item in pulled.messages] == [(1, u2c)]

            journalist_drop = journalist_dead_drop(organization, now, epoch=6)
            assert client.publish_dead_drop(journalist_drop) == 1
            assert client.publish_dead_drop(journalist_drop) == 1
            (served,) = client.dead_drops(JournalistDeadDrop, 0)
            assert served.body == journalist_drop
            assert client.dead_drops(UserDeadDrop, 0) == []

            with pytest.raises(EdgeRefused) as refused:
                client.publish_dead_drop(journalist_dead_drop(organization, now, epoch=99))
            assert refused.value.status == 400
        _stop(edge, signal.SIGINT)
    assert "edge stopped" in edge.stdout.read_text()


SENDERS = 32
ACKS_BEFORE_KILL = 150


async def _send_until_killed(edge: EdgeProcess, bodies: list[bytes]) -> set[bytes]:
    """Post ``bodies`` over SENDERS keep-alive connections at once, SIGKILL the edge once
    ACKS_BEFORE_KILL have been answered 204 (with more in flight), and return the bodies
    it acknowledged."""
    acknowledged: set[bytes] = set()
    waiting = list(bodies)
    async with httpx.AsyncClient(base_url=edge.url, timeout=10) as client:

        async def sender() -> None:
            while waiting and edge.process.poll() is None:
                body = waiting.pop()
                try:
                    answer = await client.post("/user/messages", content=body, headers=JSON)
                except httpx.HTTPError:
                    return  # the edge is gone: whatever was in flight was not acknowledged
                if answer.status_code == 204:
                    acknowledged.add(body)
                if len(acknowledged) >= ACKS_BEFORE_KILL and edge.process.poll() is None:
                    edge.process.kill()
                    edge.process.wait()

        await asyncio.gather(*(sender() for _ in range(SENDERS)))
    return acknowledged


@contextmanager
def _queue_engine(engine: str) -> Iterator[dict[str, str]]:
    """The ``[edge]`` settings that put the queues in ``engine``."""
    if engine == "sqlite":
        yield {}
        return
    with shared_streams() as url:
        yield {"queue": url}


def _queued(edge: EdgeProcess, settings: dict[str, str]) -> list[tuple[int, bytes]]:
    """Every submission the edge's queues hold, read as a new edge would."""
    if "queue" in settings:
        with jetstream_queues(settings["queue"]) as queues:
            return queues.pull(Direction.USER, 0, 1000, 0)
    store = EdgeStore(edge.folder / "edge.sqlite3")
    try:
        with queues_beside(store) as queues:
            return queues.pull(Direction.USER, 0, 1000, 0)
    finally:
        store.close()


@pytest.mark.parametrize("engine", ["sqlite", "jetstream"])
def test_every_acknowledged_submission_survives_a_sigkill_of_the_edge(
    tmp_path: Path, engine: str
) -> None:
    organization = build_organization(SystemClock().now())
    bodies = [u2c_body(organization) for _ in range(ACKS_BEFORE_KILL * 3)]
    with _queue_engine(engine) as settings:
        with running_edge(tmp_path, organization, settings) as edge:
            acknowledged = asyncio.run(_send_until_killed(edge, bodies))
            assert edge.process.returncode == -signal.SIGKILL
        kept = _queued(edge, settings)
    assert len(acknowledged) >= ACKS_BEFORE_KILL
    stored = {b'"' + b64_encode(data).encode() + b'"' for _, data in kept}
    assert acknowledged <= stored
    assert len(stored) < len(bodies)  # the kill came while submissions were still coming
