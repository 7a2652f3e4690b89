"""``quietline demo``: the whole system as real processes, one round trip, then a summary."""

import sys
from pathlib import Path
from typing import Annotated

import typer

from quietline.cli.files import fail
from quietline.demo import DemoFailed, result_json, run_demo
from quietline.edge.jetstream import parse_url


def demo(
    clients: Annotated[
        int, typer.Option("--clients", min=2, max=200, help="Source clients in the crowd.")
    ] = 20,
    as_json: Annotated[
        bool, typer.Option("--json", help="End with one JSON line on stdout; progress on stderr.")
    ] = False,
    keep: Annotated[
        Path | None,
        typer.Option("--keep", help="Run in this new folder and keep it (keys, logs) afterwards."),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", min=10, help="Give up after this many seconds.")
    ] = 110,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            help="Keep the edge's keys and dead drops on this PostgreSQL server"
            " (postgresql://user@host:port/db), in a new database dropped at the end.",
        ),
    ] = None,
    queue: Annotated[
        str | None,
        typer.Option(
            "--queue",
            help="Keep the edge's submission queues in this NATS JetStream server"
            " (nats://HOST:PORT) instead of its database.",
        ),
    ] = None,
) -> None:
    """Start an edge, a mixer, a desk and a crowd of clients; deliver one message and a reply."""
    if keep is not None and keep.exists():
        raise fail(f"--keep {keep} exists; give a new folder")
    if queue is not None:
        try:
            parse_url(queue)
        except ValueError as error:
            raise fail(f"--queue {queue}: {error}") from None

    def report(line: str) -> None:
        print(line, file=sys.stderr if as_json else sys.stdout, flush=True)

    try:
        result = run_demo(clients, report, timeout=timeout, keep=keep, store=store, queue=queue)
    except DemoFailed as error:
        if as_json:
            print('{"delivered": false, "reply_received": false}', flush=True)
        raise fail(f"the demo failed: {error}") from None
    except KeyboardInterrupt:
        raise fail("interrupted; every process was stopped") from None
    if as_json:
        print(result_json(result), flush=True)
        return
    print(
        f"\nround trip complete with {result.clients} clients in {result.elapsed_s:.0f} s:\n"
        f"the desk read the message {result.latency_s:.1f} s after it was queued, "
        f"and the source read the reply.\n"
        f"{result.u2c_sent} U2C were sent, every one 773 bytes on the same route; "
        f"{result.dead_drops_published} dead drops were published."
    )
