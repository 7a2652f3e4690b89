"""Starting and stopping the services as real processes (for the demo and end-to-end tests).

Every process started through a :class:`Supervisor` is stopped when it closes: politely
(SIGTERM), then firmly (SIGKILL) after a grace period, also on Ctrl-C or an exception.
A command that needs a vault passphrase gets it on a pipe (``--passphrase-fd N``) and
its message text on standard input: never in its arguments or environment, which any
process on the machine can read in /proc.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
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


@contextmanager
def passphrase_pipe(passphrase: str) -> Iterator[int]:
    """The read end of a pipe holding ``passphrase`` and a newline, to hand a child for
    ``--passphrase-fd``; closed on exit (the child keeps its own copy)."""
    data = passphrase.encode("utf-8") + b"\n"
    if len(data) > select.PIPE_BUF:
        raise ValueError("a passphrase this long could block the pipe it is written to")
    read, write = os.pipe()
    try:
        os.write(write, data)
    finally:
        os.close(write)
    try:
        yield read
    finally:
        os.close(read)


@contextmanager
def with_passphrase(
    command: Sequence[str], passphrase: str | None
) -> Iterator[tuple[list[str], tuple[int, ...]]]:
    """``command`` with ``--passphrase-fd N`` added and the descriptors to pass, if asked."""
    if passphrase is None:
        yield list(command), ()
        return
    with passphrase_pipe(passphrase) as fd:
        yield [*command, "--passphrase-fd", str(fd)], (fd,)


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    log: Path


@dataclass
class Supervisor:
    """Starts processes with their output in ``folder`` and stops them all on exit."""

    folder: Path
    services: list[Service] = field(default_factory=list)

    def start(self, name: str, command: Sequence[str], *, passphrase: str | None = None) -> Service:
        """Start ``command`` in the background (given ``passphrase`` on a pipe, if any)."""
        log = self.folder / f"{name}.log"
        with log.open("ab") as output, with_passphrase(command, passphrase) as (argv, fds):
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                argv,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                pass_fds=fds,
                start_new_session=True,
            )
        service = Service(name, process, log)
        self.services.append(service)
        return service

    def run(
        self,
        command: Sequence[str],
        timeout: float = 120,
        *,
        stdin: str = "",
        passphrase: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a short command to completion, ``stdin`` as its standard input (a message,
        for commands that read one) and ``passphrase`` on a pipe, if given."""
        with with_passphrase(command, passphrase) as (argv, fds):
            return subprocess.run(  # noqa: S603 - our own interpreter and arguments
                argv,
                input=stdin,
                capture_output=True,
                text=True,
                timeout=timeout,
                pass_fds=fds,
                start_new_session=True,
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
