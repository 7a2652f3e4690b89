"""A tiny run of ``benchmarks/edge_accept.py``, to keep it working (its numbers are not
checked: timings belong in docs/performance.md, not in tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.nats import shared_streams

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "edge_accept.py"

# Real processes (edges, load generators, bare servers): left out of `make check`.
pytestmark = pytest.mark.slow


def test_the_edge_accept_benchmark_prints_its_table() -> None:
    with shared_streams():  # JetStream rows need the server: skip or fail without it
        pass
    result = subprocess.run(
        [sys.executable, str(BENCHMARK), "--seconds", "0.3", "--connections", "4"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    table = [line for line in result.stdout.splitlines() if line.startswith("| ")][1:]
    rows = [tuple(cell.strip() for cell in line.split("|")[1:3]) for line in table]
    names = ["bare", "raw sqlite", "edge sqlite", "raw jetstream", "edge jetstream"]
    assert rows == [(name, count) for count in ("1", "2") for name in names]
