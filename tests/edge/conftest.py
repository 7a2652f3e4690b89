"""Fixtures for the edge: a store in a temporary folder, a fixed clock, a key hierarchy
made with the real key generation, and the real app driven by Starlette's TestClient."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from quietline.clock import FixedClock
from quietline.edge import EdgeStore, create_app
from tests.edge.checks import stored_rows
from tests.edge.submissions import (
    JSON,
    NOW,
    build_organization,
    j2c_form,
    publish_keys,
    u2c_body,
    unrelated_revocation,
    user_dead_drop,
)
from tests.support.organisation import Organisation
from tests.support.queues import Queues, sqlite_queues


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[EdgeStore]:
    edge_store = EdgeStore(tmp_path / "edge.sqlite3")
    yield edge_store
    edge_store.close()


@pytest.fixture
def store(sqlite_store: EdgeStore) -> EdgeStore:
    """The edge's store (tests/edge/test_store.py runs its tests on every engine)."""
    return sqlite_store


@pytest.fixture
def queues(sqlite_store: EdgeStore) -> Iterator[Queues]:
    """The submission queues in the SQLite store's file, as the edge keeps them by default."""
    edge_queues = sqlite_queues(sqlite_store.path)
    yield edge_queues
    edge_queues.close()


@pytest.fixture(scope="session")
def organization() -> Organisation:
    return build_organization(NOW)


@pytest.fixture
def client(
    store: EdgeStore, queues: Queues, organization: Organisation, clock: FixedClock
) -> Iterator[TestClient]:
    """A client of an edge that has no keys yet."""
    app = create_app(store, [organization.anchor], clock, queues=queues.engine)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def edge(client: TestClient, organization: Organisation) -> TestClient:
    """A client of an edge with the whole hierarchy and one profile published."""
    publish_keys(client, organization)
    return client


@pytest.fixture
def untouched(edge: TestClient, store: EdgeStore, organization: Organisation) -> Iterator[None]:
    """Some of everything stored first; afterwards, every row must be as it was."""
    edge.post("/user/messages", content=u2c_body(organization), headers=JSON)
    edge.post("/v1/journalist-messages", json=j2c_form(organization, NOW))
    edge.post("/v1/user/dead-drops", json=user_dead_drop(organization, NOW).to_json())
    edge.post("/v1/revocations", json=unrelated_revocation(organization).to_json())
    before = stored_rows(store.path)
    assert all(before.values())
    yield
    assert stored_rows(store.path) == before
