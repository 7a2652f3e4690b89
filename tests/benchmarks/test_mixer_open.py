"""A tiny run of ``benchmarks/mixer_open.py``, to keep it working (its numbers are not
checked: timings belong in docs/performance.md, not in tests)."""

from __future__ import annotations

from tests.benchmarks.runs import run_benchmark


def test_the_mixer_open_benchmark_prints_its_table() -> None:
    output = run_benchmark("mixer_open.py", "--seconds", "0.05", "--rounds", "1")
    rows = [line.split()[0] for line in output.splitlines()[2:]]
    assert rows == ["raw", "in-process", "raw", "2"]
