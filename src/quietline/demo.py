"""``quietline demo``: the whole system, as real processes on loopback, end to end.

An organisation is set up in a temporary folder; an edge, a mixer, a desk with two
recipients and a crowd of source clients start as separate processes talking HTTP; one
client writes to the desk, the desk reads it and replies, the client reads the reply.
Every process started is stopped at the end, on failure and on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from nats.errors import Error as NatsError

from quietline.admin.ceremony import enroll, init, publish
from quietline.admin.layout import Layout
from quietline.client.passphrase import read_shown
from quietline.config import default_config_text
from quietline.edge.jetstream import delete_streams, parse_url
from quietline.edge.migrations import redacted
from quietline.edge.postgres import create_database, drop_database
from quietline.edge_client import EdgeClient
from quietline.keystore import write_private
from quietline.processes import Supervisor, edge_ready, free_port, quietline_command, wait_until
from quietline.protocol.deaddrops import JournalistDeadDrop, UserDeadDrop
from quietline.protocol.errors import ProtocolError, QuietlineError
from quietline.protocol.jsonvalues import load_json, require_object

# Fast enough to finish in a minute or two, slow enough to mix a real crowd.
DEMO_MIXING = """
[mixer.override.u2j]
threshold_min = 2
threshold_max = 10
timeout_seconds = 5
output_size = 10

[mixer.override.j2u]
threshold_min = 2
threshold_max = 5
timeout_seconds = 5
output_size = 5
"""
PASSPHRASE = "demo passphrase, never use one like it"  # noqa: S105 - the demo's own
WRITER_MESSAGE = "I have documents about the harbour contracts. How can we talk safely?"
DESK_REPLY = "Thank you. Keep using this app; we will write again here."
RECIPIENT = "news_desk"


@dataclass
class DemoResult:
    delivered: bool
    reply_received: bool
    u2c_sent: int
    dead_drops_published: int
    latency_s: float
    clients: int
    elapsed_s: float


class DemoFailed(QuietlineError):
    """The round trip did not complete; the message says at which stage."""


class Demo:
    def __init__(
        self,
        folder: Path,
        clients: int,
        report: Callable[[str], None],
        timeout: float,
        *,
        edge_store: str | None = None,
        queue: str | None = None,
    ) -> None:
        self.folder = folder
        self.edge_store = edge_store
        self.queue = queue
        self.clients = clients
        self.report = report
        self.started = time.monotonic()
        self.deadline = self.started + timeout
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.supervisor = Supervisor(folder / "logs")

    def say(self, line: str) -> None:
        self.report(f"[{time.monotonic() - self.started:6.1f}s] {line}")

    def desk(self, *args: str) -> list[str]:
        """A ``quietline desk`` command line for this demo's deployment."""
        config = ["--config", str(self.layout.folder), "--kdf-cost", "interactive"]
        return quietline_command("desk", *args, *config)

    def source(self, *args: str, vault: Path) -> list[str]:
        """A ``quietline source`` command line (send or inbox) for the client at ``vault``."""
        return quietline_command("source", *args, "--vault", str(vault))

    def answer(
        self, command: list[str], message: str = "", passphrase: str = PASSPHRASE
    ) -> dict[str, Any]:
        """Run a short command (given ``passphrase`` on a pipe and ``message`` on standard
        input); its JSON answer (if asked for), or DemoFailed with its error."""
        done = self.supervisor.run(command, stdin=message, passphrase=passphrase)
        if done.returncode != 0:
            raise DemoFailed(f"{' '.join(command[3:5])} failed: {done.stderr.strip()}")
        if "--json" not in command:
            return {}
        try:
            return require_object(load_json(done.stdout), "the command's answer")
        except ProtocolError as error:
            raise DemoFailed(f"{' '.join(command[3:5])} answered garbage: {error}") from None

    def u2c_sent(self) -> int:
        logs = (self.folder / "logs").glob("source-*.log")
        return sum(log.read_text(errors="replace").count(" sent message ") for log in logs)

    def wait(self, condition: Callable[[], bool], what: str) -> None:
        def checked() -> bool:
            self.supervisor.check_alive()
            return condition()

        try:
            wait_until(checked, self.deadline, what, poll=0.5)
        except TimeoutError as error:
            raise DemoFailed(f"{error} (after {time.monotonic() - self.started:.0f} s)") from None

    def run(self) -> DemoResult:
        (self.folder / "logs").mkdir(parents=True)
        self.say("setting up the organisation: root key, provisioning keys, mixer identity")
        layout = self.layout = init(
            self.folder / "org", datetime.now(UTC), mixing="demo", edge_port=self.port
        )
        config_text = default_config_text(
            self.port, "demo", poll_seconds=0.5, desk_period_seconds=1, edge_store=self.edge_store
        )
        if self.queue is not None:
            self.say(f"the edge's submission queues are in NATS JetStream at {self.queue}")
            config_text = config_text.replace(
                "[edge]", f"[edge]\nqueue = {json.dumps(self.queue)}", 1
            )
        write_private(layout.config, (config_text + DEMO_MIXING).encode())
        for recipient, name, default in (
            (RECIPIENT, "News Desk", True),
            ("investigations", "Investigations", False),
        ):
            enroll(
                layout,
                datetime.now(UTC),
                recipient_id=recipient,
                display_name=name,
                description=f"{name} of the demo newsroom",
                is_desk=True,
                default=default,
            )
        self.say(f"starting the edge on {self.url}")
        self.supervisor.start("edge", quietline_command("edge", "--config", str(layout.folder)))
        wait_until(edge_ready(self.url), self.deadline, "the edge to listen")
        with EdgeClient(self.url) as edge:
            publish(layout, edge, datetime.now(UTC), lambda line: None)
        self.say("published provisioning keys, identities and profiles; starting the mixer")
        self.supervisor.start("mixer", quietline_command("mixer", "--config", str(layout.folder)))
        self._start_desk(layout)
        writer = self._start_crowd(layout)
        passphrase = self._write(writer)
        sent_at = time.monotonic()
        source = self._await_delivery()
        latency = time.monotonic() - sent_at
        self.say(f"the desk read the message {latency:.1f} s after it was queued; replying")
        self.answer(self.desk("reply", source), message=DESK_REPLY)
        self._await_reply(writer, passphrase)
        self.say("the source read the reply; stopping every process")
        with EdgeClient(self.url) as edge:
            published = len(edge.dead_drops(UserDeadDrop, 0)) + len(
                edge.dead_drops(JournalistDeadDrop, 0)
            )
        self.supervisor.close()
        return DemoResult(
            True,
            True,
            self.u2c_sent(),
            published,
            round(latency, 2),
            self.clients,
            round(time.monotonic() - self.started, 2),
        )

    def _start_desk(self, layout: Layout) -> None:
        for bundle in sorted(layout.recipients.glob("*.json")):
            self.answer(self.desk("add-recipient", str(bundle)))
        self.supervisor.start("desk", self.desk("run"), passphrase=PASSPHRASE)
        self.say("the desk holds news_desk and investigations; it sends one J2C a second")

    def _start_crowd(self, layout: Layout) -> Path:
        vaults = [self.folder / "clients" / f"client-{n:03d}" for n in range(self.clients)]
        for n, vault in enumerate(vaults):
            self.supervisor.start(
                f"source-{n:03d}",
                quietline_command(
                    "source",
                    "run",
                    "--edge",
                    self.url,
                    "--vault",
                    str(vault),
                    "--anchor",
                    str(layout.anchor),
                    "--period",
                    "1",
                    "--download-period",
                    "2",
                    # Small vaults and a light key derivation: 20 clients share a laptop.
                    "--vault-blocks",
                    "32",
                    "--kdf-cost",
                    "interactive",
                ),
            )
        self.say(f"{self.clients} source clients send one 773-byte U2C a second each, all cover")
        return vaults[len(vaults) // 2]

    def _write(self, writer: Path) -> str:
        """Start using the writer's client; returns the passphrase it made."""
        shown: list[str] = []

        def sent() -> bool:
            # A fresh install: nothing to lose, so the new vault replaces the random one.
            send = ("send", "--to", RECIPIENT, "--new", "--replace-existing-vault")
            done = self.supervisor.run(self.source(*send, vault=writer), stdin=WRITER_MESSAGE)
            if done.returncode == 0:
                shown.append(read_shown(done.stdout))
            return bool(shown)

        self.wait(sent, "a client to download the keys it needs to write")
        self.say(
            f"client {writer.name} sent a real message for {RECIPIENT} in place of its next "
            "cover message (its traffic does not change) and showed its new passphrase"
        )
        return shown[0]

    def _await_delivery(self) -> str:
        found: list[str] = []

        def read() -> bool:
            self.say(f"mixing · {self.u2c_sent()} U2C sent by the crowd so far")
            sources = self.answer(self.desk("sources", "--json"))["sources"]
            found.extend(row["source"] for row in sources if row["received"])
            return bool(found)

        self.wait(read, "the desk to receive the message")
        return found[0]

    def _await_reply(self, writer: Path, passphrase: str) -> None:
        def replied() -> bool:
            self.say(f"the reply is mixing · {self.u2c_sent()} U2C sent so far")
            inbox = self.source("inbox", "--json", vault=writer)
            replies = self.answer(inbox, passphrase=passphrase)["replies"]
            return any(reply["text"] == DESK_REPLY for reply in replies)

        self.wait(replied, "the source to receive the reply")


def run_demo(
    clients: int,
    report: Callable[[str], None],
    *,
    timeout: float = 110,
    keep: Path | None = None,
    store: str | None = None,
    queue: str | None = None,
) -> DemoResult:
    """Run the demo in a temporary folder (or ``keep``); raises DemoFailed (ValueError
    for a bad ``queue``).

    With ``store`` (the URL of any database on a PostgreSQL server, as a user who may
    create databases) the edge keeps its keys and dead drops in a new database there,
    dropped at the end unless ``keep`` is given. With ``queue`` (``nats://HOST:PORT``)
    its submission queues are in that JetStream server, on streams of the demo's own,
    deleted afterwards.
    """
    folder = keep or Path(tempfile.mkdtemp(prefix="quietline-demo-"))
    streams = None if queue is None else f"{parse_url(queue).server}/demo-{secrets.token_hex(6)}"
    name = f"quietline_demo_{secrets.token_hex(4)}"
    edge_store = None
    if store is not None:
        try:
            edge_store = create_database(store, name)
        except psycopg.Error as error:
            raise DemoFailed(f"cannot create a database at {redacted(store)}: {error}") from None
        report(f"the edge keeps its keys and dead drops in {redacted(edge_store)}")
    demo = Demo(folder, clients, report, timeout, edge_store=edge_store, queue=streams)
    try:
        return demo.run()
    finally:
        demo.supervisor.close()
        if keep is None:
            shutil.rmtree(folder, ignore_errors=True)
            if store is not None:
                drop_database(store, name)
        if streams is not None:
            try:
                asyncio.run(delete_streams(streams))
            except (OSError, TimeoutError, NatsError) as error:
                report(f"could not delete the demo's streams at {streams}: {type(error).__name__}")


def result_json(result: DemoResult) -> str:
    return json.dumps(asdict(result))
