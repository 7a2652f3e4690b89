"""A tiny run of ``benchmarks/edge_forms.py``, to keep it working."""

from __future__ import annotations

from tests.benchmarks.runs import run


def test_the_edge_forms_benchmark_prints_its_table() -> None:
    lines = run("edge_forms.py", "--recipients", "2", "--days", "2", "--posts", "3")
    assert [line.split()[0] for line in lines[2:]] == ["Ed25519", "verify", "GET", "POST"]
