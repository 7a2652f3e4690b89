"""The edge's store on PostgreSQL, beyond what tests/edge/test_store.py runs on both
engines: several edges on one database, no column about a caller, and a server restart
under a running edge (503 while it is away, nothing stored lost, never a 500)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest
from starlette.testclient import TestClient

from quietline.clock import FixedClock
from quietline.edge import create_app
from quietline.edge.postgres import PostgresEdgeStore
from quietline.protocol.certificates import KeyRole
from quietline.protocol.deaddrops import UserDeadDrop
from tests.edge.checks import TABLES
from tests.edge.submissions import (
    JOURNALIST_ID,
    NOW,
    alice,
    j2c_form,
    publish_keys,
    revocation,
    user_dead_drop,
)
from tests.support.edge_process import running_edge
from tests.support.organisation import Organisation
from tests.support.postgres import fresh_database, private_server
from tests.support.queues import sqlite_queues


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_database() as url:
        yield url


def test_the_schema_has_no_column_about_a_caller(database: str) -> None:
    PostgresEdgeStore(database).close()
    with psycopg.connect(database) as db:
        rows = db.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public'"
        ).fetchall()
    tables = {table for table, _ in rows}
    columns = {column.lower() for _, column in rows}
    assert columns.isdisjoint({"ip", "address", "client", "user_agent", "agent", "request_id"})
    assert set(TABLES) - {"user_queue", "journalist_queue"} <= tables


def test_edges_sharing_a_database_hand_out_epochs_and_ids_once_and_in_order(
    database: str, organization: Organisation
) -> None:
    edges = [PostgresEdgeStore(database, connections=4) for _ in range(2)]
    dead_drops = [user_dead_drop(organization, NOW, entries=1) for _ in range(24)]
    keys = [link.key.published for link in organization.key_chain()]
    stored: list[int] = []

    def write(worker: int) -> None:
        store = edges[worker % 2]
        for dead_drop in dead_drops[worker::4]:
            stored.append(store.add_dead_drop(dead_drop, NOW))
        for key in keys[worker::4]:
            store.add_key(KeyRole.COVERNODE_MSG, "covernode_1", b"p" * 32, key, NOW)

    try:
        threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(stored) == list(range(1, 25))
        read = edges[1].dead_drops(UserDeadDrop, 0, 100, NOW)
        assert [d.id for d in read] == list(range(1, 25))
        assert {d.body for d in read} == set(dead_drops)
        assert sorted(k.epoch for k in edges[0].live_keys(NOW)) == list(range(1, len(keys) + 1))
    finally:
        for store in edges:
            store.close()


@pytest.mark.slow
def test_the_edge_answers_503_while_postgresql_restarts_and_loses_nothing(
    tmp_path: Path, organization: Organisation
) -> None:
    with private_server() as server, fresh_database(server.url) as url:
        store = PostgresEdgeStore(url, wait_seconds=1)
        queues = sqlite_queues(tmp_path / "queues.sqlite3")
        clock = FixedClock(NOW)
        app = create_app(store, [organization.anchor], clock, queues=queues.engine)
        try:
            with TestClient(app) as edge:
                publish_keys(edge, organization)
                before = user_dead_drop(organization, NOW).to_json()
                assert edge.post("/v1/user/dead-drops", json=before).status_code == 200

                server.stop()
                during = user_dead_drop(organization, NOW).to_json()
                refused = edge.post("/v1/user/dead-drops", json=during)
                assert refused.status_code == 503
                assert refused.headers["Retry-After"] == "1"
                assert edge.get("/v1/user/dead-drops").status_code == 503
                assert edge.get("/v1/status").status_code == 503

                server.start()
                statuses: list[int] = []
                deadline = time.monotonic() + 30
                while not statuses or statuses[-1] != 200:
                    assert time.monotonic() < deadline, statuses
                    statuses.append(edge.post("/v1/user/dead-drops", json=during).status_code)
                assert set(statuses) <= {200, 503}
                listed = edge.get("/v1/user/dead-drops").json()["dead_drops"]
                assert [d["signature"] for d in listed] == [
                    before["signature"],
                    during["signature"],
                ]
        finally:
            store.close()
            queues.close()


@pytest.mark.slow
def test_two_edge_processes_on_one_database_serve_one_hierarchy_and_its_dead_drops(
    tmp_path: Path, database: str
) -> None:
    # The edges run on the wall clock: keys and forms are made now.
    now = datetime.now(UTC)
    organization = Organisation.create(now, (JOURNALIST_ID,))
    identity = alice(organization).identity.published.key
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        running_edge(tmp_path / "a", organization, {"store": database}) as a,
        running_edge(tmp_path / "b", organization, {"store": database}) as b,
        httpx.Client(base_url=a.url) as first,
        httpx.Client(base_url=b.url) as second,
    ):
        for link in organization.key_chain():
            response = first.post("/v1/keys", json=organization.submission(link).to_json())
            assert response.status_code == 200, response.text
        profile = organization.signed_profile(JOURNALIST_ID, now, default=True).to_json()
        assert first.post("/v1/journalist-profiles", json=profile).status_code == 204
        assert first.get("/v1/public-keys").json() == second.get("/v1/public-keys").json()

        # Published through one edge, the keys sign forms and dead drops at the other.
        assert (
            second.post("/v1/journalist-messages", json=j2c_form(organization, now)).status_code
            == 204
        )
        dead_drop = user_dead_drop(organization, now).to_json()
        assert second.post("/v1/user/dead-drops", json=dead_drop).json() == {"id": 1}
        listed = first.get("/v1/user/dead-drops").json()["dead_drops"]
        assert [d["signature"] for d in listed] == [dead_drop["signature"]]

        # A revocation through one edge counts at the other at once.
        revoked = revocation(organization, identity, now).to_json()
        assert first.post("/v1/revocations", json=revoked).status_code == 204
        refused = second.post("/v1/journalist-messages", json=j2c_form(organization, now))
        assert refused.status_code == 403
