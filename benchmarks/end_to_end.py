"""U2C per second sustained through edge, queue, mixer and dead drops, on one machine.

Run: ``.venv/bin/python benchmarks/end_to_end.py [--seconds S] [--connections N]``

A deployment is made as ``quietline admin init`` makes one, with one recipient, and
real ``quietline edge`` and ``quietline mixer`` processes on loopback (the mixer with
its default workers, one per core, and user dead drops of production size: 500 entries,
released whenever 500 inputs have come in). A load process posts cover U2C sealed to the
mixer's keys as fast as the edge answers, on N keep-alive connections, for S seconds;
half-way through, a real message for the recipient goes in among them, and its latency
is the time until the recipient finds it in a published dead drop.

The table gives what the edge accepted and what the mixer took in (its own counter)
over the run, against the limit measured in the same run: the minimal libsodium loop
that opens U2C, in as many processes as there are cores. The machine's cores are shared
by everything here (load, edge, mixer and its workers), as they would be on one server.
Then what it means: how many clients such a machine serves at a given number of U2C
(real or cover) per client per hour.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sqlite3
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from edge_flood import HOST, answer, request
from mixer_open import raw_rate_in

from quietline.admin.ceremony import enroll, init, publish
from quietline.client.client import DEFAULT_SEND_PERIOD_S
from quietline.config import default_config_text, load_config
from quietline.edge_client import EdgeClient
from quietline.keystore import read_bundle, write_private
from quietline.processes import Supervisor, edge_ready, free_port, quietline_command, wait_until
from quietline.protocol.certificates import KeyRole, SignedKey
from quietline.protocol.deaddrops import JournalistDeadDrop, JournalistTrialDecryptor
from quietline.protocol.encoding import b64_encode
from quietline.protocol.keys import (
    CoverNodeMessagingKey,
    EncryptionKeyPair,
    JournalistMessagingKey,
    ReplyKey,
)
from quietline.protocol.messages import encrypt_cover_u2c, encrypt_u2c
from quietline.protocol.verification import VerifiedKeys, verify_published_keys

RECIPIENT = "news_desk"
DISTINCT = 2000  # cover U2C made once and posted again and again: the mixer cannot tell
RELEASES = """
[mixer.override.u2j]
threshold_min = 1
threshold_max = 500
timeout_seconds = 5
output_size = 500
"""
SECRET = "the benchmark's real message"
# CoverDrop's plan (0.17 U2C per client per hour), one an hour, and Quietline's default.
RATES_PER_HOUR = (0.17, 1.0, 3600 / DEFAULT_SEND_PERIOD_S)


def body(u2c: bytes) -> bytes:
    return b'"' + b64_encode(u2c).encode() + b'"'


async def _load(port: int, bodies: list[bytes], connections: int, seconds: float) -> int:
    """Post ``bodies`` round and round on ``connections`` connections; the 204s."""
    accepted = [0]
    deadline = time.monotonic() + seconds

    async def connection(start: int) -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        n = start
        try:
            while time.monotonic() < deadline:
                writer.write(request("POST", "/user/messages", bodies[n % len(bodies)]))
                if await answer(reader) == 204:
                    accepted[0] += 1
                n += connections
        finally:
            writer.close()

    await asyncio.gather(*(connection(start) for start in range(connections)))
    return accepted[0]


def load(port: int, bodies: list[bytes], connections: int, seconds: float) -> int:
    return asyncio.run(_load(port, bodies, connections, seconds))


def mixer_received(database: Path) -> int:
    """The mixer's own count of user inputs taken in (read beside it, never written)."""
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT value FROM counter WHERE name = 'user_received'").fetchall()
        return int(rows[0][0]) if rows else 0
    except sqlite3.OperationalError:  # not created yet
        return 0
    finally:
        db.close()


class Latency:
    """Sends one real message when told, and times it until the recipient reads it."""

    def __init__(self, url: str, keys: VerifiedKeys, recipient: EncryptionKeyPair) -> None:
        self.url = url
        self.keys = keys
        self.recipient = recipient
        self.seconds: float | None = None

    def measure(self) -> None:
        wrapping = self.keys.covernode_wrapping_keys()
        covernode_keys = self.keys.of_role(KeyRole.COVERNODE_MSG).values()
        decryptor = JournalistTrialDecryptor(
            [self.recipient],
            [CoverNodeMessagingKey(key.key) for group in covernode_keys for key in group],
        )
        real = encrypt_u2c(
            wrapping,
            recipient_id=RECIPIENT,
            recipient_key=JournalistMessagingKey.of(self.recipient),
            reply_key=ReplyKey.of(EncryptionKeyPair.generate()),
            text=SECRET,
        )
        with EdgeClient(self.url) as edge:
            after = max((d.id for d in edge.dead_drop_window(JournalistDeadDrop, 1, 0)), default=0)
            sent = time.perf_counter()
            edge.send_u2c(real)
            deadline = sent + 120
            while time.perf_counter() < deadline:
                for dead_drop in edge.dead_drops(JournalistDeadDrop, after):
                    after = dead_drop.id
                    if any(m.message.text.text() == SECRET for m in decryptor.open(dead_drop)):
                        self.seconds = time.perf_counter() - sent
                        return
                time.sleep(0.1)


def raw_submissions() -> tuple[bytes, list[bytes]]:
    """A CoverNode secret key and cover U2C for it, for the raw open loop."""
    covernode = EncryptionKeyPair.generate()
    key = CoverNodeMessagingKey.of(covernode)
    return covernode.secret, [encrypt_cover_u2c([key, key]).data for _ in range(200)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the load")
    parser.add_argument("--connections", type=int, default=32, help="load connections")
    options = parser.parse_args()
    cores = len(os.sched_getaffinity(0))

    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        port = free_port()
        url = f"http://{HOST}:{port}"
        now = datetime.now(UTC)
        layout = init(folder / "org", now, edge_port=port)
        config = default_config_text(port, "production", poll_seconds=0.2)
        write_private(layout.config, (config + RELEASES).encode())
        enroll(
            layout, now, recipient_id=RECIPIENT, display_name="News Desk",
            description="the benchmark's recipient", is_desk=True, default=True,
        )  # fmt: skip
        settings = load_config(layout.folder).mixer
        anchor = SignedKey.from_json(json.loads(settings.anchor.read_text()))
        with Supervisor(folder) as supervisor:
            supervisor.start("edge", quietline_command("edge", "--config", str(layout.folder)))
            wait_until(edge_ready(url), time.monotonic() + 30, "the edge to listen")
            with EdgeClient(url) as edge:
                publish(layout, edge, now, lambda _line: None)
            supervisor.start("mixer", quietline_command("mixer", "--config", str(layout.folder)))

            def verified() -> VerifiedKeys:
                with EdgeClient(url) as edge:
                    published = edge.public_keys()
                return verify_published_keys(published, [anchor], datetime.now(UTC)).verified

            wait_until(
                lambda: bool(verified().of_role(KeyRole.COVERNODE_MSG)),
                time.monotonic() + 60,
                "the mixer to publish its keys",
            )
            keys = verified()
            wrapping = keys.covernode_wrapping_keys()
            bodies = [body(encrypt_cover_u2c(wrapping).data) for _ in range(DISTINCT)]
            latency = Latency(url, keys, read_bundle(layout.bundle(RECIPIENT)).messaging.pair)
            database = settings.database

            with multiprocessing.Pool(cores) as pool:
                raw = raw_rate_in(pool, cores, *raw_submissions(), min(3.0, options.seconds))
                before = mixer_received(database)
                started = time.perf_counter()
                running = pool.apply_async(
                    load, (port, bodies, options.connections, options.seconds)
                )
                timer = threading.Timer(options.seconds / 2, latency.measure)
                timer.start()
                accepted = running.get()
                loaded = time.perf_counter() - started
                timer.join()
                wait_until(
                    lambda: mixer_received(database) - before >= accepted,
                    time.monotonic() + 120,
                    "the mixer to take in everything the edge accepted",
                )
                drained = time.perf_counter() - started
            taken = mixer_received(database) - before

    edge_rate = accepted / loaded
    sustained = taken / drained
    heading = f"through one machine ({cores} cores)"
    print(f"{heading:<44} {'U2C':>9} {'seconds':>8} {'per second':>11} {'/ raw open':>10}")
    print("-" * 86)
    for name, count, seconds, per_second in (
        (f"raw libsodium open loop, {cores} processes", None, None, raw),
        ("accepted by the edge (under load)", accepted, loaded, edge_rate),
        ("taken in by the mixer (until drained)", taken, drained, sustained),
    ):
        counted = "" if count is None else f"{count:,}"
        timed = "" if seconds is None else f"{seconds:.1f}"
        print(f"{name:<44} {counted:>9} {timed:>8} {per_second:>11,.0f} {per_second / raw:>10.2f}")
    shown = "not found in 120 s" if latency.seconds is None else f"{latency.seconds:.1f} s"
    print(f"a real message's latency under this load, to a 500-entry release: {shown}")
    print()
    print(f"{'U2C per client per hour':<28} {'clients served':>15}")
    print("-" * 44)
    for per_hour in RATES_PER_HOUR:
        print(f"{per_hour:<28g} {sustained * 3600 / per_hour:>15,.0f}")


if __name__ == "__main__":
    main()
