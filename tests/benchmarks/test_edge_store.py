"""A tiny run of ``benchmarks/edge_store.py``, to keep it working."""

from __future__ import annotations

from tests.benchmarks.runs import run
from tests.support.postgres import fresh_database


def test_the_edge_store_benchmark_prints_its_table() -> None:
    with fresh_database() as server:
        lines = run("edge_store.py", "--seconds", "0.05", "--rounds", "1", "--postgres", server)
    assert [line.split()[0] for line in lines[2:]] == ["SQLite"] * 3 + ["PostgreSQL"] * 3
