"""A tiny run of ``benchmarks/client_desk.py``, to keep it working."""

from __future__ import annotations

from tests.benchmarks.runs import run


def test_the_client_and_desk_benchmark_prints_its_tables() -> None:
    lines = run("client_desk.py", "--repeat", "1", "--recipients", "2")
    assert lines[0].startswith("CPU per event")
    assert any(line.startswith("a key download (2 recipients)") for line in lines)
    assert any(line.startswith("one source client") for line in lines)
