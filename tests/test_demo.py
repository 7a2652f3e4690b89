"""``quietline demo`` as a newcomer runs it: real processes, one round trip, a JSON summary."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from quietline.processes import quietline_command
from tests.support.postgres import fresh_database


def _demo(folder: Path, *args: str) -> tuple[dict[str, Any], str]:
    """Run ``quietline demo --json`` with ``args`` and its temporary files in ``folder``;
    its summary (which says the message was delivered) and what it told the user."""
    # Its own temporary directory: the demo makes its folder there, and every process of
    # the demo names that folder on its command line, so demos run at the same time by
    # others on the machine are not counted.
    env = {**os.environ, "TMPDIR": str(folder)}
    done = subprocess.run(
        quietline_command("demo", "--json", *args),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["delivered"] is True
    return summary, done.stderr


@pytest.mark.slow
def test_demo_round_trip_succeeds_and_reports_it(tmp_path: Path) -> None:
    summary, stderr = _demo(tmp_path, "--clients", "6")
    assert summary["reply_received"] is True
    assert summary["u2c_sent"] >= 6
    assert summary["dead_drops_published"] >= 2
    assert 0 < summary["latency_s"] < summary["elapsed_s"]
    assert "the source read the reply" in stderr
    assert processes_naming(tmp_path) == []
    assert list(tmp_path.glob("quietline-demo-*")) == []


@pytest.mark.slow
def test_demo_round_trip_with_the_edge_on_postgresql(tmp_path: Path) -> None:
    with fresh_database() as server:
        summary, stderr = _demo(tmp_path, "--clients", "4", "--store", server)
        assert summary["reply_received"] is True
        # The demo's own database on that server held the edge's store and is gone.
        used = re.search(r"dead drops in \S+/(quietline_demo_[0-9a-f]+)", stderr)
        assert used is not None, stderr[-3000:]
        with psycopg.connect(server) as db:
            left = db.execute("SELECT 1 FROM pg_database WHERE datname = %s", (used[1],))
            assert left.fetchall() == []


def test_a_process_left_running_in_the_folder_is_found(tmp_path: Path) -> None:
    folder = tmp_path / "quietline-demo-abc"
    with subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", str(folder)]
    ) as left:
        try:
            # Until the child has exec'd, /proc shows the parent's command line.
            deadline = time.monotonic() + 30
            while not processes_naming(tmp_path) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert len(processes_naming(tmp_path)) == 1
        finally:
            left.kill()
    assert processes_naming(tmp_path) == []


def processes_naming(folder: Path) -> list[str]:
    """Command lines of running processes that name ``folder`` or a path inside it."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if f"{folder}/" in text:
            found.append(text)
    return found
