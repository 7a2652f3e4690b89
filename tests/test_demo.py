"""``quietline demo`` as a newcomer runs it: real processes, one round trip, a JSON summary."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from quietline.processes import quietline_command


@pytest.mark.slow
def test_demo_round_trip_succeeds_and_reports_it(tmp_path: Path) -> None:
    # Its own temporary directory: the demo makes its folder there, and every process of
    # the demo names that folder on its command line, so demos run at the same time by
    # others on the machine are not counted.
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
    assert processes_naming(tmp_path) == []
    assert list(tmp_path.glob("quietline-demo-*")) == []


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
