"""Running a benchmark script briefly, to keep it working (its numbers are not checked:
timings belong in docs/performance.md, not in tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def table_rows(script: str, *args: str) -> list[str]:
    """The first word of each row of ``script``'s table (after its two heading lines);
    fails the test when the script fails."""
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [line.split()[0] for line in result.stdout.splitlines()[2:]]
