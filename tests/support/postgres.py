"""A fresh PostgreSQL database per test, on the server at 127.0.0.1:5432 (or the one
``QUIETLINE_TEST_POSTGRES`` names, as a URL of any database on it), dropped afterwards,
so parallel test runs never see each other's rows.

Without a server the test is skipped with the reason, except under CI=true, where the
server must be there (``.ci/run`` starts one) and the test fails instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from quietline.edge.migrations import redacted
from quietline.edge.postgres import create_database, drop_database
from quietline.processes import free_port
from tests.support.required import missing

SERVER = os.environ.get("QUIETLINE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def _unreachable(server: str, error: Exception) -> None:
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    reason = f"cannot connect to PostgreSQL at {redacted(server)} ({first_line})"
    missing(
        f"{reason}: start one, or set QUIETLINE_TEST_POSTGRES to a server's URL",
        f"{reason}, and CI must run the PostgreSQL tests (.ci/run starts one)",
    )


@contextmanager
def fresh_database(server: str = SERVER) -> Iterator[str]:
    """The URL of a new, empty database on ``server``, dropped (with whatever still
    connects to it) when the block ends; skips or fails the test as the module says when
    the server does not answer."""
    name = f"quietline_test_{uuid.uuid4().hex}"
    try:
        url = create_database(server, name)
    except psycopg.OperationalError as error:
        _unreachable(server, error)
        raise
    try:
        yield url
    finally:
        drop_database(server, name)


BINARIES = Path("/usr/lib/postgresql/15/bin")


class PrivateServer:
    """A PostgreSQL server of the test's own (initdb in a temporary folder, on a free
    port), which the test may stop and start; the machine's shared server is never
    touched. Runs as the ``postgres`` user when the test runs as root (PostgreSQL
    refuses root)."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.port = port
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        self._process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def _as_owner(*command: str) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *command]
        return list(command)

    def start(self) -> None:
        """Start the server and wait until it takes connections."""
        self._process = subprocess.Popen(
            self._as_owner(
                str(BINARIES / "postgres"),
                *("-D", str(self.folder / "data"), "-p", str(self.port)),
                *("-k", str(self.folder), "-c", "listen_addresses=127.0.0.1"),
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(self.url, connect_timeout=1).close()
                return
            except psycopg.OperationalError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self) -> None:
        """A fast shutdown: clients are cut off, committed data is kept."""
        if self._process is not None:
            subprocess.run(
                self._as_owner(
                    str(BINARIES / "pg_ctl"), "stop", "-D", str(self.folder / "data"), "-m", "fast"
                ),
                check=True,
                capture_output=True,
            )
            self._process.wait(timeout=30)
            self._process = None


@contextmanager
def private_server() -> Iterator[PrivateServer]:
    """A started :class:`PrivateServer`, stopped and removed at the end; skips the test
    (fails it under CI=true) when PostgreSQL's programs are not installed."""
    if not (BINARIES / "initdb").exists():
        reason = f"PostgreSQL's programs are not in {BINARIES}"
        missing(
            f"{reason} (the Debian package postgresql-15 has them)",
            f"{reason}, and CI must run the restart test",
        )
    folder = Path(tempfile.mkdtemp(prefix="quietline-postgres-"))
    try:
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres", "postgres")
        subprocess.run(
            PrivateServer._as_owner(
                str(BINARIES / "initdb"),
                *("-D", str(folder / "data"), "-U", "postgres", "--auth=trust", "--no-sync"),
            ),
            check=True,
            capture_output=True,
        )
        server = PrivateServer(folder, free_port())
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
