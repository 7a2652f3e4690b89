"""``quietline source run`` as a real process for tests, and waiting on what it does."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.organisation import Organisation

DEADLINE_S = 30.0
# A light key derivation and a small vault, for a quick test run.
FAST = ("--kdf-cost", "interactive", "--vault-blocks", "48")


def wait_for(condition_name: str, check: Callable[[], object]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {condition_name}")
        time.sleep(0.1)


@dataclass
class SourceRun:
    """A running ``source run``; once stopped, what it printed."""

    process: subprocess.Popen[str]
    out: str = field(default="")
    err: str = field(default="")


@contextmanager
def source_run(
    edge_url: str, folder: Path, org: Organisation, *options: str
) -> Iterator[SourceRun]:
    """``quietline source run`` on ``folder`` with ``org``'s anchor, a send every 0.2 s and
    a download every 0.5 s, until the block ends (SIGTERM: it must exit 0, no traceback)."""
    anchor = folder.parent / "organisation.pub.json"
    anchor.write_text(json.dumps(org.anchor.to_json()))
    run = SourceRun(
        subprocess.Popen(
            [
                *(sys.executable, "-m", "quietline", "source", "run", "--edge", edge_url),
                *("--vault", str(folder), "--anchor", str(anchor), "--period", "0.2"),
                *("--download-period", "0.5", *FAST, *options),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    )
    try:
        yield run
    finally:
        run.process.send_signal(signal.SIGTERM)
        run.out, run.err = run.process.communicate(timeout=DEADLINE_S)
    assert run.process.returncode == 0, run.err
    assert "Traceback" not in run.err
