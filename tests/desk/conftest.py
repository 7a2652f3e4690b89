"""The world most desk tests run in: a real edge on loopback, an organisation, a desk."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from quietline.clock import FixedClock
from quietline.edge_client import EdgeClient
from tests.desk.world import NOW, World, make_desk, real_edge
from tests.support.organisation import Organisation


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    clock = FixedClock(NOW)
    org = Organisation.create(NOW, ("alice", "bob", "carol"))
    with (
        real_edge(tmp_path, org, clock) as (url, store),
        EdgeClient(url) as edge,
        EdgeClient(url) as desk_edge,
    ):
        org.publish(edge, NOW, recipients=("alice", "bob"), messaging=False)
        yield World(clock, org, edge, store, make_desk(tmp_path, desk_edge, org))
