"""A tiny run of ``benchmarks/mixer_open.py``, to keep it working."""

from __future__ import annotations

from tests.benchmarks.runs import table_rows


def test_the_mixer_open_benchmark_prints_its_table() -> None:
    rows = table_rows("mixer_open.py", "--seconds", "0.05", "--rounds", "1")
    assert rows == ["raw", "in-process", "raw", "2"]
