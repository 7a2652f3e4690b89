"""The real ``quietline edge`` process on a free loopback port, for tests."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from quietline.config import CONFIG_NAME, default_config_text
from quietline.keystore import write_public_json
from quietline.processes import free_port
from tests.support.organisation import Organisation

QUIETLINE = Path(sys.executable).parent / "quietline"
READY_DEADLINE_S = 30.0
STOP_DEADLINE_S = 15.0


@dataclass
class EdgeProcess:
    process: subprocess.Popen[bytes]
    url: str
    port: int
    folder: Path
    stdout: Path
    stderr: Path
    prepared: frozenset[Path]  # the files in ``folder`` before the edge started


def files(folder: Path) -> dict[Path, bytes]:
    """Every file under ``folder`` with its content."""
    return {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def _deployment(
    folder: Path,
    organization: Organisation,
    port: int,
    edge_settings: Mapping[str, int | float | str],
) -> None:
    folder.mkdir()
    text = default_config_text(edge_port=port)
    settings = "".join(f"{key} = {json.dumps(value)}\n" for key, value in edge_settings.items())
    text = text.replace("[edge]", "[edge]\n" + settings.rstrip("\n"), 1)
    (folder / CONFIG_NAME).write_text(text, encoding="utf-8")
    write_public_json(folder / "organization.pub.json", organization.anchor.to_json())


def _wait_ready(edge: EdgeProcess) -> None:
    deadline = time.monotonic() + READY_DEADLINE_S
    while time.monotonic() < deadline:
        if edge.process.poll() is not None:
            pytest.fail(f"the edge exited early: {edge.stderr.read_text()}")
        try:
            if httpx.get(f"{edge.url}/v1/status", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"the edge was not ready within {READY_DEADLINE_S} s")


@contextmanager
def running_edge(
    tmp_path: Path,
    organization: Organisation,
    edge_settings: Mapping[str, int | float | str] | None = None,
) -> Iterator[EdgeProcess]:
    """Start ``quietline edge`` on a free port, with ``edge_settings`` added to its
    ``[edge]`` section, and stop it however the test ends."""
    port = free_port()
    folder = tmp_path / "deployment"
    _deployment(folder, organization, port, edge_settings or {})
    logs = tmp_path / "logs"
    logs.mkdir()
    stdout, stderr = logs / "stdout.txt", logs / "stderr.txt"
    prepared = frozenset(files(folder))
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [str(QUIETLINE), "edge", "--config", str(folder), "--port", str(port)],
            stdout=out,
            stderr=err,
        )
    url = f"http://127.0.0.1:{port}"
    edge = EdgeProcess(process, url, port, folder, stdout, stderr, prepared)
    try:
        _wait_ready(edge)
        yield edge
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
