"""A tiny run of ``benchmarks/end_to_end.py``, to keep it working."""

from __future__ import annotations

from tests.benchmarks.runs import run


def test_the_end_to_end_benchmark_drains_what_the_edge_took() -> None:
    lines = run("end_to_end.py", "--seconds", "1", "--connections", "4")
    assert lines[0].startswith("through one machine")
    assert "not found" not in "\n".join(lines)  # the real message reached its recipient
    assert lines[-1].startswith("60 ")
