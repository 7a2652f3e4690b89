"""Tiny runs of the benchmarks, to keep them working: their numbers are never checked
(timings belong in docs/performance.md, not in tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def run(script: str, *args: str, timeout: float = 120) -> list[str]:
    """The lines ``benchmarks/<script>`` printed, after it ended well and quietly."""
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no thread or worker died on the way
    return result.stdout.splitlines()
