"""SIGKILL of the edge, the mixer and the desk at random points under load.

Every service runs as its real process (``quietline edge``, ``quietline mixer``,
``quietline desk run``, several ``quietline source run``) on loopback. Each source client
queues known real messages (sentinel texts) in place of its cover; the desk replies to
each source as soon as its messages are in. Meanwhile a seeded schedule SIGKILLs the
edge, the mixer and the desk, each several times at random moments, and starts each one
again at once, as a process supervisor would: nobody repairs anything by hand.

It then checks that every real message reached the desk exactly once and every reply
reached its source exactly once (the mixer keeps no count of real messages, so a
duplicate the desk's own de-duplication hides is left to
``tests/mixer/test_process.py``, which reads every published dead drop), and that the
pipeline did not stall: after the last fault, everything arrived within a bounded number
of releases. The deadline only guards against a hang; nothing asserts on time.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from quietline.admin.ceremony import enroll, init, publish
from quietline.admin.layout import Layout
from quietline.config import default_config_text
from quietline.edge_client import EdgeClient, EdgeUnavailable
from quietline.keystore import write_private
from quietline.processes import Service, Supervisor, edge_ready, free_port, quietline_command
from quietline.protocol.deaddrops import JournalistDeadDrop, UserDeadDrop
from quietline.protocol.jsonvalues import load_json, require_object
from tests.mixer.deployment import all_dead_drops

# Real processes: left out of `make check`, run by `make test`.
pytestmark = pytest.mark.slow

PASSPHRASE = "fault test passphrase"
RECIPIENT = "news_desk"
SOURCES = 4
MESSAGES_PER_SOURCE = 2
SEED = 2026
# Each of the edge, the mixer and the desk is killed this many times.
KILLS_EACH = 3
# After the last fault, everything must arrive within this many new dead drops (both
# kinds): far more than the few a healthy pipeline needs, far fewer than a stall makes.
RELEASE_BOUND = 60
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


def sentinel(source: int, n: int) -> str:
    return f"sentinel {source}-{n}: the ledger is in the blue folder"


def reply_to(source: int) -> str:
    return f"reply to source {source}: we read both messages"


@dataclass
class Deployment:
    layout: Layout
    url: str
    supervisor: Supervisor
    vaults: list[Path]
    running: dict[str, Service] = field(default_factory=dict)
    started: Counter[str] = field(default_factory=Counter)

    def start(self, name: str) -> None:
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
            return self.desk("run")
        n = int(name.removeprefix("source-"))
        return quietline_command(
            "source", "run", "--edge", self.url, "--vault", str(self.vaults[n]),
            "--anchor", str(self.layout.anchor), "--period", "0.3", "--download-period", "0.5",
        )  # fmt: skip

    def kill(self, name: str) -> None:
        process = self.running[name].process
        process.kill()
        process.wait()

    def desk(self, *args: str) -> list[str]:
        config = ["--config", str(self.layout.folder), "--kdf-cost", "interactive"]
        return quietline_command("desk", *args, *config)

    def source(self, n: int, *args: str) -> list[str]:
        vault = ["--vault", str(self.vaults[n]), "--kdf-cost", "interactive"]
        return quietline_command("source", *args, *vault)

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


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    port = free_port()
    now = datetime.now(UTC)
    layout = init(tmp_path / "org", now, mixing="demo", edge_port=port)
    config = default_config_text(port, "demo", poll_seconds=0.2, desk_period_seconds=0.5)
    write_private(layout.config, (config + FAST_MIXING).encode())
    enroll(
        layout, now, recipient_id=RECIPIENT, display_name="News Desk",
        description="the desk under test", is_desk=True, default=True,
    )  # fmt: skip
    (tmp_path / "logs").mkdir()
    url = f"http://127.0.0.1:{port}"
    vaults = [tmp_path / "clients" / f"client-{n}" for n in range(SOURCES)]
    with Supervisor(tmp_path / "logs") as supervisor:
        deployment = Deployment(layout, url, supervisor, vaults)
        deployment.start("edge")
        wait_for("the edge to listen", edge_ready(url), deployment)
        with EdgeClient(url) as edge:
            publish(layout, edge, now, lambda _line: None)
        add = deployment.desk("add-recipient", str(layout.bundle(RECIPIENT)))
        done = supervisor.run(add, passphrase=PASSPHRASE)
        assert done.returncode == 0, done.stderr
        for name in ("mixer", "desk", *(f"source-{n}" for n in range(SOURCES))):
            deployment.start(name)
        yield deployment


def wait_for(what: str, condition: Callable[[], bool], deployment: Deployment) -> None:
    deadline = time.monotonic() + HANG_GUARD
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"hang guard: no {what} after {HANG_GUARD:g} s\n{deployment.logs()}")
        time.sleep(0.5)


@dataclass
class Faults:
    """Kills ``KILLS_EACH`` times each of the edge, the mixer and the desk in a seeded
    order at seeded moments, restarting each at once, until told the load is over."""

    deployment: Deployment
    rng: random.Random = field(default_factory=lambda: random.Random(SEED))
    injected: Counter[str] = field(default_factory=Counter)
    load_over: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        plan = ["edge", "mixer", "desk"] * KILLS_EACH
        self.rng.shuffle(plan)
        try:
            # Keep killing in the same order until the load is over, if it outlasts the plan.
            while plan or not self.load_over.is_set():
                victim = plan.pop(0) if plan else self.rng.choice(["edge", "mixer", "desk"])
                time.sleep(self.rng.uniform(1.0, 4.0))
                self.deployment.kill(victim)
                self.injected[victim] += 1
                self.deployment.start(victim)
        finally:
            self.done.set()


def queue_sentinel(deployment: Deployment, n: int, m: int) -> None:
    # A fresh install's first message creates its vault, replacing the random one.
    first = ("--new", "--replace-existing-vault") if m == 0 else ()
    command = deployment.source(n, "send", "--to", RECIPIENT, *first)

    def queued() -> bool:
        done = deployment.supervisor.run(command, stdin=sentinel(n, m), passphrase=PASSPHRASE)
        return done.returncode == 0

    wait_for(f"client {n} to queue message {m}", queued, deployment)


def test_killing_the_edge_mixer_and_desk_loses_and_duplicates_nothing(
    deployment: Deployment,
) -> None:
    faults = Faults(deployment)
    threading.Thread(target=faults.run, daemon=True).start()
    # Every source client queues its sentinels once it has the keys (it downloads them
    # on its own schedule); the edge may be down meanwhile: queueing is local.
    for n in range(SOURCES):
        for m in range(MESSAGES_PER_SOURCE):
            queue_sentinel(deployment, n, m)

    # The desk replies to each source as soon as all its messages are in.
    expected = Counter(sentinel(n, m) for n in range(SOURCES) for m in range(MESSAGES_PER_SOURCE))
    replied: dict[str, int] = {}
    received: Counter[str] = Counter()

    def delivered_and_replied() -> bool:
        answer = deployment.answer(deployment.desk("sources", "--json"))
        if answer is None:
            return False
        received.clear()
        for row in answer["sources"]:
            thread = deployment.answer(deployment.desk("thread", row["source"], "--json"))
            if thread is None:
                return False
            texts = [m["text"] for m in thread["messages"] if m["direction"] == "in"]
            received.update(texts)
            writer = int(texts[0].split()[1].split("-")[0])
            if len(texts) >= MESSAGES_PER_SOURCE and row["source"] not in replied:
                command = deployment.desk("reply", row["source"])
                done = deployment.supervisor.run(
                    command, stdin=reply_to(writer), passphrase=PASSPHRASE
                )
                if done.returncode == 0:
                    replied[row["source"]] = writer
        return len(replied) == SOURCES

    wait_for("delivery of every message", delivered_and_replied, deployment)
    faults.load_over.set()
    wait_for("the last fault", faults.done.is_set, deployment)
    at_last_fault = deployment.dead_drops_published()

    inboxes: dict[int, list[str]] = {}

    def replies_read() -> bool:
        for n in range(SOURCES):
            answer = deployment.answer(deployment.source(n, "inbox", "--json"))
            if answer is None:
                return False
            inboxes[n] = [reply["text"] for reply in answer["replies"]]
        return all(inboxes[n] for n in range(SOURCES))

    wait_for("every reply", replies_read, deployment)
    replies_in = deployment.dead_drops_published()
    # Whatever was still on its way has had time to show up twice, if it were to.
    wait_for(
        "a few more releases",
        lambda: deployment.dead_drops_published() >= replies_in + 6,
        deployment,
    )
    delivered_and_replied()
    replies_read()
    deployment.supervisor.close()

    needed = replies_in - at_last_fault
    lost = sum((expected - received).values())
    duplicated = sum((received - expected).values())
    print(
        f"faults injected {sum(faults.injected.values())} ({dict(faults.injected)}), "
        f"messages lost {lost}, duplicated {duplicated}, "
        f"dead drops from the last fault to the last reply read {needed}"
    )
    assert faults.injected["edge"] >= KILLS_EACH
    assert faults.injected["mixer"] >= KILLS_EACH
    assert faults.injected["desk"] >= KILLS_EACH
    assert received == expected, received
    assert inboxes == {n: [reply_to(n)] for n in range(SOURCES)}
    assert needed <= RELEASE_BOUND
