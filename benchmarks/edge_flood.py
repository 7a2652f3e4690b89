"""What one flooding client does to everybody else on a real ``quietline edge`` process.

Run: ``.venv/bin/python benchmarks/edge_flood.py [--seconds S] [--clients N] [--slow K]``

In one run, against one edge started for it (default limits):

1. the edge's unloaded throughput: the flooding client alone (64 keep-alive connections
   posting U2C submissions as fast as they are answered, in a process of its own): the
   most this edge takes on this machine, the limit the other rows are compared with;
2. normal clients alone: N clients, each visiting every 1/rate seconds on a new
   connection (GET /v1/status, then POST one U2C), as sources do;
3. the same normal clients while the flooding client runs;
4. the same normal clients while K slow connections trickle header bytes (slowloris),
   reconnecting whenever the edge cuts them off.

For the normal clients it reports the share of visits that succeeded, their latency and
how many of their submissions reached the queue (counted in the edge's database by a
marker in their bytes); for the flood, its rate and its ratio to the unloaded rate.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import sqlite3
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from quietline.admin.ceremony import init
from quietline.processes import Supervisor, edge_ready, free_port, quietline_command, wait_until
from quietline.protocol.constants import U2C_ENCRYPTED_LEN
from quietline.protocol.encoding import b64_encode

FLOOD_CONNECTIONS = 64
VISIT_TIMEOUT_S = 10.0
HOST = "127.0.0.1"


def u2c_body(marker: bytes) -> bytes:
    """A U2C submission as clients post it (the edge cannot tell it from a real one),
    starting with ``marker`` so it can be found in the queue."""
    data = marker + os.urandom(U2C_ENCRYPTED_LEN - len(marker))
    return b'"' + b64_encode(data).encode() + b'"'


def request(method: str, path: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: edge\r\nUser-Agent: quietline\r\n"
    if method == "POST":
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


async def answer(reader: asyncio.StreamReader) -> int:
    """Read one response; returns its status."""
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


# --- the flooding client (a process of its own) -----------------------------------------------


async def _flood(port: int, seconds: float) -> dict[str, int]:
    counts: dict[str, int] = {}
    deadline = time.monotonic() + seconds

    async def connection() -> None:
        while time.monotonic() < deadline:
            try:
                reader, writer = await asyncio.open_connection(HOST, port)
            except OSError:
                counts["refused"] = counts.get("refused", 0) + 1
                await asyncio.sleep(0.01)
                continue
            try:
                while time.monotonic() < deadline:
                    writer.write(request("POST", "/user/messages", u2c_body(b"flood")))
                    status = str(await answer(reader))
                    counts[status] = counts.get(status, 0) + 1
            except (OSError, asyncio.IncompleteReadError, IndexError, ValueError):
                counts["cut"] = counts.get("cut", 0) + 1
            finally:
                writer.close()

    await asyncio.gather(*(connection() for _ in range(FLOOD_CONNECTIONS)))
    return counts


def flood(port: int, seconds: float) -> dict[str, int]:
    return asyncio.run(_flood(port, seconds))


# --- slow connections ---------------------------------------------------------------------------


async def _trickle(port: int, deadline: float, cut: list[int]) -> None:
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.open_connection(HOST, port)
            writer.write(b"POST /user/messages HTTP/1.1\r\nHost: edge\r\nX-Slow: ")
            while time.monotonic() < deadline:
                await asyncio.sleep(1.0)
                writer.write(b"x")
                await writer.drain()
                if reader.at_eof():
                    break
            writer.close()
        except OSError:
            await asyncio.sleep(0.1)
        cut[0] += 1


# --- normal clients -----------------------------------------------------------------------------


@dataclass
class Visits:
    latencies: list[float] = field(default_factory=list)
    failed: int = 0
    sent: int = 0


async def _visit(port: int, marker: bytes, visits: Visits) -> None:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(VISIT_TIMEOUT_S):
            reader, writer = await asyncio.open_connection(HOST, port)
            try:
                writer.write(request("GET", "/v1/status"))
                ok = await answer(reader) == 200
                visits.sent += 1
                writer.write(request("POST", "/user/messages", u2c_body(marker)))
                ok = await answer(reader) == 204 and ok
            finally:
                writer.close()
    except (OSError, TimeoutError, asyncio.IncompleteReadError, IndexError, ValueError):
        ok = False
    if ok:
        visits.latencies.append(time.perf_counter() - started)
    else:
        visits.failed += 1


async def _normal(port: int, clients: int, rate: float, seconds: float, marker: bytes) -> Visits:
    visits = Visits()
    deadline = time.monotonic() + seconds

    async def client() -> None:
        await asyncio.sleep(random.uniform(0, 1 / rate))
        while time.monotonic() < deadline:
            started = time.monotonic()
            await _visit(port, marker, visits)
            await asyncio.sleep(max(0.0, 1 / rate - (time.monotonic() - started)))

    await asyncio.gather(*(client() for _ in range(clients)))
    return visits


async def _normal_with_slow(
    port: int, clients: int, rate: float, seconds: float, marker: bytes, slow: int
) -> tuple[Visits, int]:
    cut = [0]
    deadline = time.monotonic() + seconds
    trickling = [asyncio.create_task(_trickle(port, deadline, cut)) for _ in range(slow)]
    await asyncio.sleep(2.0)  # let them take their places first
    visits = await _normal(port, clients, rate, seconds - 2.0, marker)
    await asyncio.gather(*trickling)
    return visits, cut[0]


# --- the run ------------------------------------------------------------------------------------


def delivered(database: Path, marker: bytes) -> int:
    db = sqlite3.connect(database)
    try:
        query = "SELECT COUNT(*) FROM user_queue WHERE substr(data, 1, ?) = ?"
        ((count,),) = db.execute(query, (len(marker), marker)).fetchall()
        return int(count)
    finally:
        db.close()


def row(name: str, visits: Visits, got: int, flood_rate: float, unloaded: float) -> str:
    total = len(visits.latencies) + visits.failed
    ok = len(visits.latencies) / max(1, total) * 100
    lat = sorted(visits.latencies) or [float("nan")]
    p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))]
    flood = f"{flood_rate:,.0f}" if flood_rate else "-"
    ratio = f"{flood_rate / unloaded:.2f}" if flood_rate else "-"
    return (
        f"| {name} | {ok:.1f} "
        f"| {statistics.median(lat) * 1000:.0f} | {p95 * 1000:.0f} | {lat[-1] * 1000:.0f} "
        f"| {got}/{visits.sent} | {flood} | {ratio} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--clients", type=int, default=20, help="normal clients")
    parser.add_argument("--rate", type=float, default=1.0, help="visits per client per second")
    parser.add_argument("--slow", type=int, default=1000, help="slow connections")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        port = free_port()
        layout = init(folder / "org", datetime.now(UTC), edge_port=port)
        with Supervisor(folder) as supervisor:
            supervisor.start("edge", quietline_command("edge", "--config", str(layout.folder)))
            url = f"http://{HOST}:{port}"
            wait_until(edge_ready(url), time.monotonic() + 30, "the edge to listen")
            database = layout.folder / "edge.sqlite3"
            with multiprocessing.Pool(1) as pool:
                alone = pool.apply(flood, (port, args.seconds))
                unloaded = alone.get("204", 0) / args.seconds

                normal = asyncio.run(_normal(port, args.clients, args.rate, args.seconds, b"calm"))
                flooding = pool.apply_async(flood, (port, args.seconds + 1))
                time.sleep(1.0)
                flooded = asyncio.run(
                    _normal(port, args.clients, args.rate, args.seconds, b"flooded")
                )
                under = flooding.get()
            flood_rate = sum(v for k, v in under.items() if k.isdigit()) / (args.seconds + 1)
            slowed, cut = asyncio.run(
                _normal_with_slow(
                    port, args.clients, args.rate, args.seconds + 2, b"slowed", args.slow
                )
            )
            log = (folder / "edge.log").read_text()

            print(
                f"edge unloaded: {unloaded:,.0f} U2C/s accepted ({FLOOD_CONNECTIONS} connections,"
                f" {args.seconds:g} s); normal load offered: {args.clients * args.rate:g} visits/s"
                f" ({args.clients * args.rate / unloaded:.3f} of unloaded)"
            )
            print()
            print(
                "| normal clients | visits ok % | p50 ms | p95 ms | max ms | delivered"
                " | flood req/s | flood / unloaded |"
            )
            print("|---|---|---|---|---|---|---|---|")
            rows = [
                ("alone", normal, b"calm", 0.0),
                ("with the flood", flooded, b"flooded", flood_rate),
                (f"with {args.slow} slow connections", slowed, b"slowed", 0.0),
            ]
            for name, visits, marker, rate in rows:
                print(row(name, visits, delivered(database, marker), rate, unloaded))
            print()
            print(f"flood answers: {dict(sorted(under.items()))}")
            print(f"slow connections cut off and reopened: {cut}")
            print(f"edge log: {len(log.splitlines())} lines")
            for line in log.splitlines()[:10]:
                print(f"    {line}")


if __name__ == "__main__":
    main()
