"""How many submissions per second real ``quietline edge`` processes accept, on each queue
engine, against what the framework and the engine can do at all, measured in one run.

Run: ``.venv/bin/python benchmarks/edge_accept.py [--seconds S] [--connections N]``

Every row runs for S seconds with 1 and with 2 server processes, each driven by a load
generator process of its own (N keep-alive connections on loopback posting a fresh
1033-byte U2C submission as soon as the previous one is answered):

- ``bare``: Starlette + uvicorn answering the same POST with 204 and nothing else: the
  framework's limit, the row each edge row is compared with ("vs bare");
- ``raw sqlite`` / ``raw jetstream``: the queue engine alone, N enqueues at once in a
  loop in each process (``SqliteQueues`` on one file, ``JetStreamQueues`` on one
  server): the engine's limit ("vs raw");
- ``edge sqlite`` / ``edge jetstream``: ``quietline edge`` processes (two share one
  deployment folder and so one database, or one set of streams), every submission
  durable before its 204.

JetStream rows need a NATS server with JetStream on 127.0.0.1:4222 and are left out
without one. Counted are 204 answers; anything else is shown.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import uvicorn
from edge_flood import answer, request, u2c_body
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from quietline.admin.ceremony import init
from quietline.edge.jetstream import JetStreamQueues, delete_streams
from quietline.edge.queues import QueueFull, SubmissionQueues
from quietline.edge.sqlite_queues import SqliteQueues
from quietline.processes import Supervisor, edge_ready, free_port, quietline_command, wait_until
from quietline.protocol.api import Direction
from quietline.protocol.constants import U2C_ENCRYPTED_LEN

HOST = "127.0.0.1"
NATS = "nats://127.0.0.1:4222"
UNBOUNDED = {Direction.USER: 1 << 40, Direction.JOURNALIST: 1 << 40}


# --- the load generator (a process of its own per server) ------------------------------------


async def _load(port: int, connections: int, seconds: float) -> Counter[str]:
    counts: Counter[str] = Counter()
    deadline = time.monotonic() + seconds

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while time.monotonic() < deadline:
                writer.write(request("POST", "/user/messages", u2c_body(b"")))
                counts[str(await answer(reader))] += 1
        except (OSError, asyncio.IncompleteReadError, IndexError, ValueError):
            counts["cut"] += 1
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    return counts


def load(port: int, connections: int, seconds: float) -> Counter[str]:
    return asyncio.run(_load(port, connections, seconds))


# --- the limits -------------------------------------------------------------------------------


async def _bare_post(request: Request) -> Response:
    await request.body()
    return Response(status_code=204)


def serve_bare(port: int) -> None:
    app = Starlette(routes=[Route("/user/messages", _bare_post, methods=["POST"])])
    uvicorn.run(app, host=HOST, port=port, log_level="warning", access_log=False)


def open_engine(url: str) -> SubmissionQueues:
    if url.startswith("sqlite:"):
        return SqliteQueues(Path(url.removeprefix("sqlite:")), UNBOUNDED)
    return JetStreamQueues(url, UNBOUNDED)


async def _raw(url: str, connections: int, seconds: float) -> Counter[str]:
    """N enqueuers at once on the engine at ``url``, each as fast as it is answered."""
    engine = open_engine(url)
    counts: Counter[str] = Counter()
    await engine.queue_length(Direction.USER)  # connected before the clock starts
    deadline = time.monotonic() + seconds

    async def enqueuer() -> None:
        while time.monotonic() < deadline:
            try:
                await engine.enqueue(Direction.USER, os.urandom(U2C_ENCRYPTED_LEN))
                counts["204"] += 1
            except QueueFull:
                counts["full"] += 1

    try:
        await asyncio.gather(*(enqueuer() for _ in range(connections)))
    finally:
        await engine.close()
    return counts


def raw(url: str, connections: int, seconds: float) -> Counter[str]:
    return asyncio.run(_raw(url, connections, seconds))


# --- rows -------------------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    processes: int
    counts: Counter[str]
    seconds: float

    @property
    def rate(self) -> float:
        return self.counts["204"] / self.seconds


def in_processes(work: Callable[..., Counter[str]], args: list[tuple[object, ...]]) -> Counter[str]:
    """``work`` in one process per argument tuple, all at once; their counts summed."""
    with multiprocessing.get_context("spawn").Pool(len(args)) as pool:
        results = [pool.apply_async(work, item) for item in args]
        total: Counter[str] = Counter()
        for result in results:
            total += result.get()
        return total


@contextmanager
def bare_servers(count: int) -> Iterator[list[int]]:
    ports = [free_port() for _ in range(count)]
    context = multiprocessing.get_context("spawn")
    servers = [context.Process(target=serve_bare, args=(port,), daemon=True) for port in ports]
    for server in servers:
        server.start()
    try:
        for port in ports:
            wait_until(_listening(port), time.monotonic() + 30, "the bare server")
        yield ports
    finally:
        for server in servers:
            server.terminate()
            server.join()


def _listening(port: int) -> Callable[[], bool]:
    async def probe() -> bool:
        try:
            _, writer = await asyncio.open_connection(HOST, port)
        except OSError:
            return False
        writer.close()
        return True

    return lambda: asyncio.run(probe())


@contextmanager
def edges(folder: Path, count: int, queue: str | None) -> Iterator[list[int]]:
    """``count`` ``quietline edge`` processes of one new deployment (its queues at
    ``queue``, or in its database); their ports."""
    port = free_port()
    layout = init(folder / f"org-{uuid.uuid4().hex[:8]}", datetime.now(UTC), edge_port=port)
    if queue is not None:
        text = layout.config.read_text()
        layout.config.write_text(text.replace("[edge]", f'[edge]\nqueue = "{queue}"', 1))
    ports = [port] + [free_port() for _ in range(count - 1)]
    with Supervisor(folder) as supervisor:
        for n, each in enumerate(ports):
            command = ["edge", "--config", str(layout.folder), "--port", str(each)]
            supervisor.start(f"edge-{n}", quietline_command(*command))
        for each in ports:
            wait_until(edge_ready(f"http://{HOST}:{each}"), time.monotonic() + 30, "an edge")
        yield ports


def measure(
    name: str, processes: int, ports_or_urls: list[int] | list[str], args: argparse.Namespace
) -> Row:
    work = load if isinstance(ports_or_urls[0], int) else raw
    counts = in_processes(
        work, [(target, args.connections, args.seconds) for target in ports_or_urls]
    )
    row = Row(name, processes, counts, args.seconds)
    print(f"  measured {name} with {processes} process(es): {row.rate:,.0f}/s", flush=True)
    return row


def nats_listening() -> bool:
    return _listening(4222)()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each row")
    parser.add_argument("--connections", type=int, default=64, help="per load generator")
    args = parser.parse_args()
    engines = ["sqlite"] + (["jetstream"] if nats_listening() else [])
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as temp, ExitStack() as cleanup:
        folder = Path(temp)
        for processes in (1, 2):
            with bare_servers(processes) as ports:
                rows.append(measure("bare", processes, ports, args))
            for engine in engines:
                if engine == "sqlite":
                    shared = f"sqlite:{folder / f'raw-{processes}.sqlite3'}"
                    queue = None
                else:
                    shared = f"{NATS}/bench-raw-{uuid.uuid4().hex[:8]}"
                    queue = f"{NATS}/bench-edge-{uuid.uuid4().hex[:8]}"
                    for url in (shared, queue):
                        cleanup.callback(asyncio.run, delete_streams(url))
                rows.append(measure(f"raw {engine}", processes, [shared] * processes, args))
                with edges(folder, processes, queue) as ports:
                    rows.append(measure(f"edge {engine}", processes, ports, args))
    print_table(rows, args)


def print_table(rows: list[Row], args: argparse.Namespace) -> None:
    limits = {(row.name, row.processes): row.rate for row in rows}
    print()
    print(
        f"accepted U2C per second, {args.connections} keep-alive connections per process,"
        f" {args.seconds:g} s per row; cores: {os.cpu_count()}"
    )
    print()
    print("| row | processes | per second | per process | vs bare | vs raw | other answers |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        bare = limits[("bare", row.processes)]
        engine = row.name.split()[-1]
        raw_rate = limits.get((f"raw {engine}", row.processes))
        vs_bare = f"{row.rate / bare:.2f}" if row.name != "bare" else "1.00"
        vs_raw = f"{row.rate / raw_rate:.2f}" if raw_rate and row.name.startswith("edge") else "-"
        other = {k: v for k, v in row.counts.items() if k != "204"}
        print(
            f"| {row.name} | {row.processes} | {row.rate:,.0f} | {row.rate / row.processes:,.0f}"
            f" | {vs_bare} | {vs_raw} | {dict(sorted(other.items())) or '-'} |"
        )
    one = limits.get(("edge sqlite", 1))
    two = limits.get(("edge sqlite", 2))
    if one and two:
        print()
        print(f"a second edge process (sqlite): {two / one:.2f} times one")


if __name__ == "__main__":
    main()
