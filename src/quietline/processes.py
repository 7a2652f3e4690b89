"""Starting and stopping the services as real processes (for the demo and end-to-end tests).

Every process started through a :class:`Supervisor` is stopped when it closes: politely
(SIGTERM), then firmly (SIGKILL) after a grace period, also on Ctrl-C or an exception.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def quietline_command(*args: str) -> list[str]:
    """The command line that runs ``quietline ARGS`` with this interpreter."""
    return [sys.executable, "-m", "quietline", *args]


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    log: Path


@dataclass
class Supervisor:
    """Starts processes with their output in ``folder`` and stops them all on exit."""

    folder: Path
    environment: Mapping[str, str] = field(default_factory=dict)
    services: list[Service] = field(default_factory=list)

    def start(self, name: str, command: Sequence[str]) -> Service:
        log = self.folder / f"{name}.log"
        with log.open("ab") as output:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                list(command),
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.environment},
                start_new_session=True,
            )
        service = Service(name, process, log)
        self.services.append(service)
        return service

    def run(self, command: Sequence[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a short command to completion, with the supervisor's environment."""
        return subprocess.run(  # noqa: S603 - our own interpreter and arguments
            list(command),
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **self.environment},
            check=False,
        )

    def check_alive(self) -> None:
        """Raise RuntimeError naming any service that has exited."""
        for service in self.services:
            code = service.process.poll()
            if code is not None:
                tail = service.log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{service.name} exited with status {code}:\n{tail}")

    def stop(self, service: Service, grace: float = 5.0) -> None:
        if service.process.poll() is None:
            service.process.send_signal(signal.SIGTERM)
            try:
                service.process.wait(grace)
            except subprocess.TimeoutExpired:
                service.process.kill()
                service.process.wait()

    def close(self) -> None:
        for service in reversed(self.services):
            self.stop(service)
        self.services.clear()

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def wait_until(
    condition: Callable[[], bool], deadline: float, what: str, poll: float = 0.2
) -> None:
    """Poll ``condition`` until it holds; raise TimeoutError naming ``what`` at ``deadline``
    (a time.monotonic() value)."""
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(poll)


def edge_ready(url: str) -> Callable[[], bool]:
    """A condition that holds once the edge at ``url`` answers GET /v1/status."""

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/v1/status", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    return ready
