"""``quietline status`` against a real running deployment (edge, mixer, desk and a source
client as processes on loopback): all is well while everything runs, a warning once the
mixer stops releasing, a failure once the edge is gone, and a distinct code when the
check itself cannot run. It never prints anything about a client."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from quietline.processes import quietline_command
from tests.support.deployment import HANG_GUARD, Deployment, deploy

# Real processes: left out of `make check`, run by `make test`.
pytestmark = pytest.mark.slow


def status(deployment: Deployment, *options: str) -> subprocess.CompletedProcess[str]:
    command = quietline_command("status", "--config", str(deployment.layout.folder), *options)
    return deployment.supervisor.run(command, timeout=60)


def status_until(deployment: Deployment, code: int) -> subprocess.CompletedProcess[str]:
    """Run ``quietline status`` until it exits with ``code``; fail with the last output."""
    deadline = time.monotonic() + HANG_GUARD
    while True:
        done = status(deployment)
        if done.returncode == code:
            return done
        if time.monotonic() > deadline:
            pytest.fail(f"status never exited {code}:\n{done.stdout}{done.stderr}")
        time.sleep(1)


def test_status_follows_the_deployment_as_parts_stop(tmp_path: Path) -> None:
    with deploy(tmp_path, 1) as deployment:
        deployment.start("source-0")
        healthy = status_until(deployment, 0)
        lines = healthy.stdout.splitlines()
        assert lines[-1] == "all is well"
        assert lines[0].startswith(f"quietline status of {deployment.url} at ")
        assert any(line.startswith("ok    keys: covernode_msg of covernode_001") for line in lines)
        assert any(line.startswith("ok    keys: journalist_msg of news_desk") for line in lines)
        assert any("journalist dead drops (u2j): newest #" in line for line in lines)
        assert any(
            line.startswith("ok    queues: u2j queue (from source clients): ") for line in lines
        )
        assert any(line.startswith("ok    mixer: u2j: at the current ") for line in lines)
        # Nothing about the client: no vault, no address, no agent.
        assert str(deployment.vaults[0]) not in healthy.stdout
        assert "User-Agent" not in healthy.stdout

        # The mixer stops: its dead drops age past three timeouts (a second each here).
        deployment.kill("mixer")
        stalled = status_until(deployment, 1)
        assert "WARN  dead drops: journalist dead drops (u2j): newest #" in stalled.stdout
        assert "is the mixer running?" in stalled.stdout
        assert stalled.stdout.splitlines()[-1].endswith("warning(s): exit 1")

        deployment.kill("edge")
        down = status(deployment)
        assert down.returncode == 2
        assert f"FAIL  edge: unreachable: {deployment.url}: " in down.stdout

        (deployment.layout.folder / "quietline.toml").write_text("[edge\n", encoding="utf-8")
        broken = status(deployment)
        assert broken.returncode == 3
        assert "is not valid TOML" in broken.stderr
