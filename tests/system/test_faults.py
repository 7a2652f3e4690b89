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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.deployment import PASSPHRASE, Deployment, deploy, wait_for

# Real processes: left out of `make check`, run by `make test`.
pytestmark = pytest.mark.slow

SOURCES = 4
MESSAGES_PER_SOURCE = 2
SEED = 2026
# Each of the edge, the mixer and the desk is killed this many times.
KILLS_EACH = 3
# After the last fault, everything must arrive within this many new dead drops (both
# kinds): far more than the few a healthy pipeline needs, far fewer than a stall makes.
RELEASE_BOUND = 60


def sentinel(source: int, n: int) -> str:
    return f"sentinel {source}-{n}: the ledger is in the blue folder"


def reply_to(source: int) -> str:
    return f"reply to source {source}: we read both messages"


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    with deploy(tmp_path, SOURCES) as deployment:
        for n in range(SOURCES):
            deployment.start(f"source-{n}")
        yield deployment


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
    # Handed to the running client, which sends it whenever the edge is up.
    def queued() -> bool:
        return deployment.write(n, sentinel(n, m), wait=False)

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
            replies = deployment.inbox(n)
            if replies is None:
                return False
            inboxes[n] = [reply["text"] for reply in replies]
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
