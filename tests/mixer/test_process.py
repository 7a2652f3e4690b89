"""The mixer as a real process (``quietline mixer --config DIR``) against the real edge.

The crash test SIGKILLs the mixer again and again at varied moments while sources keep
writing, restarts it each time, and then checks that every real message reached the
desk exactly once across all journalist dead drops, that the edge queue was fully
acknowledged, and that SIGTERM stops the mixer cleanly; it runs with the edge's queues in
SQLite and in NATS JetStream, where the NATS server is killed and started again mid-run
too. A second one does the same to
the mixer's worker processes (the ones that open submissions), leaving the mixer be.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from quietline.clock import SystemClock
from quietline.config import default_config_text, load_config
from quietline.edge.jetstream import JetStreamQueues
from quietline.edge.queues import SubmissionQueues
from quietline.edge.store import EdgeStore
from quietline.edge_client import EdgeClient, EdgeUnavailable
from quietline.keystore import write_public_json
from quietline.mixer.state import MixerStore
from quietline.protocol.api import Direction
from quietline.protocol.certificates import KeyRole
from quietline.protocol.mixing import MixingParameters
from quietline.protocol.verification import VerifiedKeys
from tests.mixer.deployment import RECIPIENT, desk_reads, send_cover, send_real, serve_edge
from tests.mixer.keyfolder import write_covernode_folder
from tests.support.nats import PrivateServer, jetstream_queues, private_server
from tests.support.organisation import Organisation
from tests.support.queues import Queues, queues_beside

# Real processes and servers: left out of `make check`, run by `make test`.
pytestmark = pytest.mark.slow

QUIETLINE = Path(sys.executable).parent / "quietline"
DEADLINE = 40.0
# Each of the mixer's POSTs waits this long before and after the edge handles it, so
# that kills often land while a pull or a dead drop is in flight.
LATENCY = 0.1
KILLS = 8
# Release every half second whatever came in, four entries a dead drop: many batches.
FAST_U2J = MixingParameters(
    threshold_min=0, threshold_max=6, timeout=timedelta(seconds=0.5), output_size=4
)
OVERRIDES = """
[mixer.override.u2j]
threshold_min = 0
threshold_max = 6
timeout_seconds = 0.5
output_size = 4
"""


@dataclass
class Deployment:
    folder: Path
    org: Organisation
    edge: EdgeClient
    edge_queues: Queues
    nats: PrivateServer | None  # the JetStream server holding the queues, if they are there
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def log(self) -> Path:
        """The output of the mixer process started last."""
        return self.folder / f"mixer-{len(self.processes)}.log"

    def logs(self) -> str:
        return "".join(
            f"--- run {n}\n" + (self.folder / f"mixer-{n}.log").read_text()
            for n in range(1, len(self.processes) + 1)
        )

    def start_mixer(self) -> subprocess.Popen[bytes]:
        with (self.folder / f"mixer-{len(self.processes) + 1}.log").open("ab") as output:
            process = subprocess.Popen(
                [str(QUIETLINE), "mixer", "--config", str(self.folder)],
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        """Kill whatever a failed test left running."""
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    def keys(self) -> VerifiedKeys:
        return self.org.verified(self.edge, SystemClock().now())

    def wait_for(self, what: str, condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + DEADLINE
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}; mixer logs:\n{self.logs()}")
            time.sleep(0.1)


@pytest.fixture
def deployment(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Deployment]:
    """A deployment whose edge keeps its queues in SQLite, or with the parameter
    "jetstream" in a private NATS server the test may restart."""
    now = SystemClock().now()
    org = Organisation.create(now, (RECIPIENT,))
    covernode_keys = write_covernode_folder(tmp_path / "secrets" / "covernode", org)
    write_public_json(tmp_path / "organization.pub.json", org.anchor.to_json())
    edge_store = EdgeStore(tmp_path / "edge.sqlite3")
    with ExitStack() as stack:
        nats: PrivateServer | None = None
        if getattr(request, "param", "sqlite") == "jetstream":
            nats = stack.enter_context(private_server(tmp_path / "nats"))
            edge_queues = stack.enter_context(jetstream_queues(nats.url))
            served: SubmissionQueues = JetStreamQueues(nats.url)
        else:
            edge_queues = stack.enter_context(queues_beside(edge_store))
            served = edge_queues.engine
        url = stack.enter_context(
            serve_edge(edge_store, served, org, SystemClock(), latency=LATENCY)
        )
        edge = stack.enter_context(EdgeClient(url))
        port = int(url.rsplit(":", 1)[1])
        text = default_config_text(edge_port=port, mixing="demo")
        text = text.replace("poll_seconds = 5", "poll_seconds = 0.2") + OVERRIDES
        (tmp_path / "quietline.toml").write_text(text)
        settings = load_config(tmp_path).mixer
        assert (settings.u2j, settings.edge_url, settings.poll_seconds) == (FAST_U2J, url, 0.2)
        assert settings.keys == covernode_keys
        org.publish(edge, now, covernode=False)
        deployment = Deployment(tmp_path, org, edge, edge_queues, nats)
        try:
            yield deployment
        finally:
            deployment.stop_all()
    edge_store.close()


def covernode_published(deployment: Deployment) -> bool:
    try:
        return bool(deployment.keys().of_role(KeyRole.COVERNODE_MSG))
    except EdgeUnavailable:
        return False


def test_one_step_prints_counts_and_nothing_else(deployment: Deployment) -> None:
    result = subprocess.run(
        [str(QUIETLINE), "mixer", "--config", str(deployment.folder), "--once", "--demo"],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "2 and 900 s" in lines[0]  # --demo: CoverDrop's demo parameters, not the config's
    assert lines[-1].endswith("took in 0 · dead drops made 0, published 0")
    assert covernode_published(deployment)


def test_a_bad_config_folder_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(QUIETLINE), "mixer", "--config", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )
    assert result.returncode == 1
    assert "quietline.toml" in result.stderr


def start_sources(deployment: Deployment, texts: list[str]) -> threading.Thread:
    """Sources writing ``texts`` among cover, one every quarter second, once the mixer
    has published its keys."""
    deployment.wait_for("the mixer's keys", lambda: covernode_published(deployment))
    keys = deployment.keys()

    def sources() -> None:
        for text in texts:
            send_cover(deployment.edge, keys, 2)
            send_real(deployment.edge, keys, text)
            time.sleep(0.25)

    writer = threading.Thread(target=sources, daemon=True)
    writer.start()
    return writer


def delivered(deployment: Deployment) -> list[str]:
    return desk_reads(deployment.org, deployment.edge, deployment.keys())[1]


def wait_for_every_message(deployment: Deployment, texts: list[str]) -> None:
    deployment.wait_for("every message", lambda: len(delivered(deployment)) >= len(texts))
    deployment.wait_for(
        "the queue to be acknowledged",
        lambda: deployment.edge_queues.queue_length(Direction.USER) == 0,
    )


@pytest.mark.parametrize("deployment", ["sqlite", "jetstream"], indirect=True)
def test_a_mixer_killed_again_and_again_loses_and_duplicates_nothing(
    deployment: Deployment,
) -> None:
    """On JetStream, the NATS server is also SIGKILLed and started again mid-run."""
    process = deployment.start_mixer()
    texts = [f"message {n:02d}" for n in range(24)]
    writer = start_sources(deployment, texts)
    rng = random.Random(2026)
    kills = 0
    nats_restarts = 0
    while writer.is_alive() or kills < KILLS:
        time.sleep(rng.uniform(0.8, 2.0))  # start-up takes about 0.7 s
        if process.poll() is None:
            kills += 1
        process.kill()
        process.wait()
        if deployment.nats is not None and kills == KILLS // 2 and not nats_restarts:
            deployment.nats.stop()
            time.sleep(rng.uniform(0.3, 1.0))  # sources and the mixer meet a 503 meanwhile
            deployment.nats.start()
            nats_restarts += 1
        process = deployment.start_mixer()
    wait_for_every_message(deployment, texts)
    assert nats_restarts == (deployment.nats is not None)

    # SIGTERM once the last mixer is in its loop (before that, Python's default applies).
    deployment.wait_for(
        "the last mixer's first step", lambda: "took in" in deployment.log.read_text()
    )
    print(deployment.logs())  # shown when the test fails
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=DEADLINE) == 0
    assert "mixer stopped" in deployment.log.read_text()

    counts = Counter(delivered(deployment))
    assert counts == Counter(texts), counts
    assert kills >= KILLS
    with MixerStore(deployment.folder / "mixer.sqlite3") as state:
        assert state.outbox() == []
        assert [state.pending_count(d) for d in Direction] == [0, 0]


def workers_of(process: subprocess.Popen[bytes]) -> list[int]:
    """The worker processes the mixer ``process`` runs (not its resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue  # not a process, or one that just ended
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == process.pid and b"spawn_main" in command:
            found.append(int(entry.name))
    return found


def test_a_mixer_whose_workers_are_killed_again_and_again_loses_and_duplicates_nothing(
    deployment: Deployment,
) -> None:
    config = deployment.folder / "quietline.toml"
    config.write_text(
        config.read_text().replace("poll_seconds = 0.2", "poll_seconds = 0.2\nworkers = 2")
    )
    assert load_config(deployment.folder).mixer.workers == 2
    process = deployment.start_mixer()
    texts = [f"message {n:02d}" for n in range(16)]
    writer = start_sources(deployment, texts)
    rng = random.Random(2027)
    kills = 0
    while writer.is_alive() or kills < KILLS:
        time.sleep(rng.uniform(0.2, 0.6))
        for pid in workers_of(process)[:1]:
            os.kill(pid, signal.SIGKILL)
            kills += 1
    wait_for_every_message(deployment, texts)
    print(deployment.logs())  # shown when the test fails
    assert process.poll() is None  # the mixer itself carried on
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=DEADLINE) == 0
    assert Counter(delivered(deployment)) == Counter(texts)
    assert len(deployment.processes) == 1
    assert workers_of(process) == []
