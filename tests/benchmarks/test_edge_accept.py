"""A tiny run of ``benchmarks/edge_accept.py``, to keep it working."""

from __future__ import annotations

import pytest

from tests.benchmarks.runs import run
from tests.support.nats import shared_streams

# Real processes (edges, load generators, bare servers): left out of `make check`.
pytestmark = pytest.mark.slow


def test_the_edge_accept_benchmark_prints_its_table() -> None:
    with shared_streams():  # the JetStream rows need the server: skip or fail without it
        pass
    lines = run("edge_accept.py", "--seconds", "0.3", "--connections", "4", timeout=240)
    table = [line for line in lines if line.startswith("| ")][1:]
    rows = [tuple(cell.strip() for cell in line.split("|")[1:3]) for line in table]
    names = ["bare", "raw sqlite", "edge sqlite", "raw jetstream", "edge jetstream"]
    assert rows == [(name, count) for count in ("1", "2") for name in names]
