"""``quietline demo`` as a newcomer runs it: real processes, one round trip, a JSON summary."""

import json
import os
import subprocess
from pathlib import Path

from quietline.processes import quietline_command


def test_demo_round_trip_succeeds_and_reports_it(tmp_path: Path) -> None:
    # Its own temporary directory, so demos run at the same time by others are not counted.
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        quietline_command("demo", "--json", "--clients", "6"),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["delivered"] is True
    assert summary["reply_received"] is True
    assert summary["u2c_sent"] >= 6
    assert summary["dead_drops_published"] >= 2
    assert 0 < summary["latency_s"] < summary["elapsed_s"]
    assert "the source read the reply" in done.stderr
    assert leftover_demo_processes(tmp_path) == []
    assert list(tmp_path.glob("quietline-demo-*")) == []


def leftover_demo_processes(temporary: Path) -> list[str]:
    """Command lines of running processes that work in a demo folder under ``temporary``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if f"{temporary}/quietline-demo-" in text:
            found.append(text)
    return found
