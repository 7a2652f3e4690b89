"""A tiny run of ``benchmarks/mixer_open.py``, to keep it working (its numbers are not
checked: timings belong in docs/performance.md, not in tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "mixer_open.py"


def test_the_mixer_open_benchmark_prints_its_table() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCHMARK), "--seconds", "0.05", "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = [line.split()[0] for line in result.stdout.splitlines()[2:]]
    assert rows == ["raw", "in-process", "raw", "2"]
