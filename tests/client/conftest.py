"""Fixtures for the client's tests against a real edge: each test module that asks for
``edge`` defines the ``org`` fixture it publishes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.edge_server import RunningEdge, published_edge
from tests.support.organisation import Organisation


@pytest.fixture
def edge(tmp_path: Path, org: Organisation) -> Iterator[RunningEdge]:
    """A fresh edge with ``org`` published, recording every request after that."""
    with published_edge(tmp_path / "edge", org) as running:
        yield running
