"""A tiny run of ``benchmarks/mixer_open.py``, to keep it working."""

from __future__ import annotations

from tests.benchmarks.runs import run


def test_the_mixer_open_benchmark_prints_its_table() -> None:
    lines = run("mixer_open.py", "--seconds", "0.05", "--rounds", "1")
    assert [line.split()[0] for line in lines[2:]] == ["raw", "in-process", "raw", "2"]
