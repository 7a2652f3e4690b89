"""NATS JetStream for tests: the machine's shared server on 127.0.0.1:4222 (each test on
streams of its own name), or a private ``nats-server`` a test may stop and start again.

Without a server (or binary) the test is skipped with the reason, except under CI=true,
where it fails: CI must run them (.ci/run starts the shared server).
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from quietline.edge.jetstream import JetStreamQueues, delete_streams
from quietline.edge.queues import DEFAULT_MAX_QUEUED
from quietline.processes import free_port
from quietline.protocol.api import Direction
from tests.support.queues import Queues
from tests.support.required import missing

SHARED = ("127.0.0.1", 4222)
NATS_SERVER = "nats-server"
START_DEADLINE_S = 15.0


def _missing(reason: str) -> NoReturn:
    missing(reason, f"{reason}, and CI must run the JetStream tests")


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def shared_streams() -> Iterator[str]:
    """A URL on the shared server naming streams of this test's own, deleted afterwards
    (skips or fails when no server listens there)."""
    if not _listening(*SHARED):
        _missing("no NATS server listens on 127.0.0.1:4222 (run: nats-server -js)")
    url = f"nats://{SHARED[0]}:{SHARED[1]}/t{uuid.uuid4().hex[:12]}"
    try:
        yield url
    finally:
        asyncio.run(delete_streams(url))


@contextmanager
def jetstream_queues(
    url: str, max_queued: Mapping[Direction, int] = DEFAULT_MAX_QUEUED
) -> Iterator[Queues]:
    """Blocking queues over a JetStream URL, for looking into them from a test."""
    queues = Queues(JetStreamQueues(url, max_queued))
    try:
        yield queues
    finally:
        queues.close()


@dataclass
class PrivateServer:
    """A ``nats-server`` with JetStream of the test's own, on a free port, keeping its
    streams in ``folder`` across restarts."""

    folder: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = shutil.which(NATS_SERVER) or "/usr/sbin/nats-server"
        with (self.folder / "nats-server.log").open("ab") as log:
            self.process = subprocess.Popen(
                [binary, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.folder)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + START_DEADLINE_S
        while not _listening("127.0.0.1", self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                log_text = (self.folder / "nats-server.log").read_text(errors="replace")
                raise RuntimeError(f"nats-server did not start:\n{log_text[-2000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server the hard way (SIGKILL), as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None


@contextmanager
def private_server(folder: Path) -> Iterator[PrivateServer]:
    """A private JetStream server for a test that must restart it (skips or fails when
    nats-server is not installed)."""
    if shutil.which(NATS_SERVER) is None and not Path("/usr/sbin/nats-server").exists():
        _missing("nats-server is not installed (apt install nats-server)")
    folder.mkdir(parents=True, exist_ok=True)
    server = PrivateServer(folder, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
