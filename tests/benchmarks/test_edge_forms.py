"""A tiny run of ``benchmarks/edge_forms.py``, to keep it working."""

from __future__ import annotations

from tests.benchmarks.runs import table_rows


def test_the_edge_forms_benchmark_prints_its_table() -> None:
    rows = table_rows("edge_forms.py", "--recipients", "2", "--days", "2", "--posts", "3")
    assert rows == ["Ed25519", "verify", "GET", "POST"]
