"""A whole deployment as real processes on loopback, for system tests.

:func:`deploy` runs the admin ceremony (``init``, ``enroll`` of one desk, ``publish``),
starts ``quietline edge``, ``quietline mixer`` and ``quietline desk run`` under a
:class:`~quietline.processes.Supervisor`, and hands back a :class:`Deployment` that starts
source clients (each against the edge or any other URL, a proxy for instance), runs short
commands, and stops everything when the block ends.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from quietline.admin.ceremony import enroll, init, publish
from quietline.admin.layout import Layout
from quietline.client.passphrase import read_shown
from quietline.config import default_config_text
from quietline.edge_client import EdgeClient, EdgeUnavailable
from quietline.keystore import write_private
from quietline.processes import Service, Supervisor, edge_ready, free_port, quietline_command
from quietline.protocol.deaddrops import JournalistDeadDrop, UserDeadDrop
from quietline.protocol.jsonvalues import load_json, require_object
from tests.mixer.deployment import all_dead_drops

PASSPHRASE = "system test passphrase"
RECIPIENT = "news_desk"
HANG_GUARD = 240.0  # seconds: only so that a hang fails instead of blocking CI
# Release every second whatever came in: many batches, short waits.
FAST_MIXING = """
[mixer.override.u2j]
threshold_min = 1
threshold_max = 8
timeout_seconds = 1
output_size = 6

[mixer.override.j2u]
threshold_min = 1
threshold_max = 4
timeout_seconds = 1
output_size = 4
"""
# Source clients sending and downloading often, so a short test sees many cycles, with
# small vaults (quick to re-randomise at every send) and a light key derivation.
SMALL_VAULT = ("--vault-blocks", "48", "--kdf-cost", "interactive")
FAST_SOURCE = ("--period", "0.3", "--download-period", "0.5", *SMALL_VAULT)


@dataclass
class Deployment:
    layout: Layout
    url: str
    supervisor: Supervisor
    vaults: list[Path]
    source_options: Sequence[str] = FAST_SOURCE
    source_edges: dict[int, str] = field(default_factory=dict)  # source -> URL, if not ``url``
    running: dict[str, Service] = field(default_factory=dict)
    started: Counter[str] = field(default_factory=Counter)
    # source -> the passphrase its first message made (see :meth:`write`)
    passphrases: dict[int, str] = field(default_factory=dict)
    # source -> what its run loop's command line starts with (a tracer, say)
    source_prefix: dict[int, Sequence[str]] = field(default_factory=dict)
    # How the desk runs: ``desk run``, or ``desk serve`` and its options
    desk_args: Sequence[str] = ("run",)

    def start(self, name: str) -> None:
        """Start ``edge``, ``mixer``, ``desk`` or ``source-N`` (again, if it ran before)."""
        self.started[name] += 1
        passphrase = PASSPHRASE if name == "desk" else None
        self.running[name] = self.supervisor.start(name, self.command(name), passphrase=passphrase)

    def command(self, name: str) -> list[str]:
        folder = str(self.layout.folder)
        if name == "edge":
            return quietline_command("edge", "--config", folder)
        if name == "mixer":
            return quietline_command("mixer", "--config", folder)
        if name == "desk":
            return self.desk(*self.desk_args)
        n = int(name.removeprefix("source-"))
        return [*self.source_prefix.get(n, ()), *quietline_command(
            "source", "run", "--edge", self.source_edges.get(n, self.url),
            "--vault", str(self.vaults[n]), "--anchor", str(self.layout.anchor),
            *self.source_options,
        )]  # fmt: skip

    def kill(self, name: str) -> None:
        process = self.running[name].process
        process.kill()
        process.wait()

    def desk(self, *args: str) -> list[str]:
        config = ["--config", str(self.layout.folder), "--kdf-cost", "interactive"]
        return quietline_command("desk", *args, *config)

    def source(self, n: int, *args: str) -> list[str]:
        return quietline_command("source", *args, "--vault", str(self.vaults[n]))

    def write(
        self,
        n: int,
        text: str,
        to: str = RECIPIENT,
        *,
        wait: bool = True,
        prefix: Sequence[str] = (),
    ) -> bool:
        """The person at source ``n`` sends ``text`` with ``quietline source send`` (its
        command line after ``prefix``): the first message starts the vault and keeps the
        passphrase it shows. Whether it worked (it waits for the client's first key
        download; the caller tries again)."""
        first = n not in self.passphrases
        options = [*(("--new", "--replace-existing-vault") if first else ())]
        options += [] if wait else ["--no-wait"]
        command = [*prefix, *self.source(n, "send", "--to", to, *options)]
        done = self.supervisor.run(
            command, stdin=text, passphrase=None if first else self.passphrases[n]
        )
        if done.returncode != 0:
            return False
        if first:
            self.passphrases[n] = read_shown(done.stdout)
        return True

    def inbox(self, n: int, prefix: Sequence[str] = ()) -> list[dict[str, Any]] | None:
        """Source ``n``'s replies (``inbox --json``), or None when it failed."""
        command = [*prefix, *self.source(n, "inbox", "--json")]
        done = self.supervisor.run(command, passphrase=self.passphrases.get(n, ""))
        if done.returncode != 0:
            return None
        answer = require_object(load_json(done.stdout), "the inbox")
        replies = answer.get("replies")
        return replies if isinstance(replies, list) else None

    def answer(self, command: list[str]) -> dict[str, Any] | None:
        """A short command's JSON answer, or None if it failed (the desk vault or a key
        download may be mid-way; the caller tries again)."""
        done = self.supervisor.run(command, passphrase=PASSPHRASE)
        if done.returncode != 0:
            return None
        return require_object(load_json(done.stdout), "the command's answer")

    def dead_drops_published(self) -> int:
        """Dead drops of both kinds at the edge (waiting for it, if it is starting again)."""
        counted: list[int] = []

        def count() -> bool:
            try:
                with EdgeClient(self.url) as edge:
                    counted.append(
                        len(all_dead_drops(edge, JournalistDeadDrop))
                        + len(all_dead_drops(edge, UserDeadDrop))
                    )
            except EdgeUnavailable:
                return False
            return True

        wait_for("the edge to answer", count, self)
        return counted[0]

    def logs(self) -> str:
        return "".join(
            f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}"
            for log in sorted(self.supervisor.folder.glob("*.log"))
        )


@contextmanager
def deploy(
    folder: Path,
    sources: int,
    *,
    mixing: str = FAST_MIXING,
    source_options: Sequence[str] = FAST_SOURCE,
    recipients: Sequence[str] = (),
    desk_args: Sequence[str] = ("run",),
) -> Iterator[Deployment]:
    """An organisation with one desk in ``folder``, its edge, mixer and desk running, and
    room for ``sources`` source clients (not started); everything stops when the block ends.
    ``recipients`` are further desks, enrolled and published but run by no one (their
    bundles are in ``layout.bundle(id)``). The desk runs as ``quietline desk`` with
    ``desk_args`` (``serve --port N`` for the web desk), its passphrase on a pipe."""
    port = free_port()
    now = datetime.now(UTC)
    layout = init(folder / "org", now, mixing="demo", edge_port=port)
    config = default_config_text(port, "demo", poll_seconds=0.2, desk_period_seconds=0.5)
    write_private(layout.config, (config + mixing).encode())
    enroll(
        layout, now, recipient_id=RECIPIENT, display_name="News Desk",
        description="the desk under test", is_desk=True, default=True,
    )  # fmt: skip
    for other in recipients:
        enroll(
            layout, now, recipient_id=other, display_name=f"Desk {other}",
            description="another desk", is_desk=True,
        )  # fmt: skip
    (folder / "logs").mkdir()
    url = f"http://127.0.0.1:{port}"
    vaults = [folder / "clients" / f"client-{n}" for n in range(sources)]
    with Supervisor(folder / "logs") as supervisor:
        deployment = Deployment(
            layout, url, supervisor, vaults, source_options, desk_args=desk_args
        )
        deployment.start("edge")
        wait_for("the edge to listen", edge_ready(url), deployment)
        with EdgeClient(url) as edge:
            publish(layout, edge, now, lambda _line: None)
        add = deployment.desk("add-recipient", str(layout.bundle(RECIPIENT)))
        done = supervisor.run(add, passphrase=PASSPHRASE)
        assert done.returncode == 0, done.stderr
        deployment.start("mixer")
        deployment.start("desk")
        yield deployment


def wait_for(what: str, condition: Callable[[], bool], deployment: Deployment) -> None:
    """Poll ``condition`` until it holds; fail the test with the logs after HANG_GUARD."""
    deadline = time.monotonic() + HANG_GUARD
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"hang guard: no {what} after {HANG_GUARD:g} s\n{deployment.logs()}")
        time.sleep(0.5)
