"""How fast the mixer drains a backlog of U2C from a real edge, with 1 and 2 workers.

Run: ``.venv/bin/python benchmarks/mixer_drain.py [--messages N] [--workers 1,2]``

A deployment is made as ``quietline admin init`` makes one, a real ``quietline edge``
process serves it on loopback and the mixer publishes its keys; then the edge's user
queue is filled with N cover U2C sealed to those keys (written straight into the edge's
database, which is not what is measured), and the mixer (``Mixer.step`` in this process,
with ``Openers`` of that many workers) steps until the queue is empty, as ``quietline
mixer`` does while its report says there is a backlog. Everything a step does counts:
verifying the published keys, pulling each page over HTTP and acknowledging it, opening,
the lane, one SQLite transaction per page. The opening table
(``benchmarks/mixer_open.py``) says what the opening alone could reach.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from quietline.admin.ceremony import init, publish
from quietline.config import load_config
from quietline.edge_client import EdgeClient
from quietline.mixer.opening import Openers
from quietline.mixer.service import Mixer
from quietline.mixer.state import MixerStore
from quietline.processes import Supervisor, edge_ready, free_port, quietline_command, wait_until
from quietline.protocol.certificates import SignedKey
from quietline.protocol.messages import encrypt_cover_u2c
from quietline.protocol.verification import verify_published_keys

DISTINCT = 2000  # cover U2C made once and queued again and again: the mixer cannot tell


def fill(database: Path, wire: list[bytes], count: int) -> None:
    db = sqlite3.connect(database)
    with db:
        db.executemany(
            "INSERT INTO user_queue (data) VALUES (?)",
            ((wire[n % len(wire)],) for n in range(count)),
        )
    db.close()


def drain(mixer: Mixer) -> tuple[int, float]:
    """Step until a step takes nothing in; returns how many and how long it took."""
    taken = 0
    started = time.perf_counter()
    while True:
        report = mixer.step(datetime.now(UTC))
        if report.error is not None:
            raise SystemExit(report.error)
        taken += report.pulled
        if not report.pulled and not report.backlog:
            return taken, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=40_000, help="backlog to drain")
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        layout = init(folder / "org", datetime.now(UTC), edge_port=port)
        settings = load_config(layout.folder).mixer
        anchor = SignedKey.from_json(json.loads(settings.anchor.read_text()))
        rows = []
        with Supervisor(folder) as supervisor, EdgeClient(url) as edge:
            supervisor.start("edge", quietline_command("edge", "--config", str(layout.folder)))
            wait_until(edge_ready(url), time.monotonic() + 30, "the edge to listen")
            publish(layout, edge, datetime.now(UTC), lambda _line: None)
            for count in (int(workers) for workers in options.workers.split(",")):
                with MixerStore(settings.database) as store, Openers(count) as openers:
                    mixer = Mixer(settings, edge, [anchor], store, openers=openers)
                    drain(mixer)  # publishes its keys
                    keys = verify_published_keys(
                        edge.public_keys(), [anchor], datetime.now(UTC)
                    ).verified.covernode_wrapping_keys()
                    wire = [encrypt_cover_u2c(keys).data for _ in range(DISTINCT)]
                    fill(layout.folder / "edge.sqlite3", wire, options.messages)
                    taken, seconds = drain(mixer)
                rows.append((count, taken, seconds))
    print(
        f"{'draining U2C from a real edge':<32} {'taken in':>9} {'seconds':>8} {'per second':>11}"
    )
    print("-" * 63)
    for count, taken, seconds in rows:
        name = "in-process (workers = 1)" if count == 1 else f"{count} worker processes"
        print(f"{name:<32} {taken:>9,} {seconds:>8.1f} {taken / seconds:>11,.0f}")


if __name__ == "__main__":
    main()
