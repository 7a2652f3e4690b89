"""``quietline edge``: serve the public edge with uvicorn, with no access log and with
the limits of ``[edge]`` (quietline.edge.server says how each is kept)."""

from __future__ import annotations

import asyncio
import signal
import socket
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
import uvicorn

from quietline.cli.files import fail
from quietline.clock import SystemClock
from quietline.config import SQLITE_QUEUE, ConfigError, EdgeConfig, load_config
from quietline.edge import EdgeStore, create_app
from quietline.edge.jetstream import JetStreamQueues
from quietline.edge.migrations import current, redacted
from quietline.edge.postgres import PostgresEdgeStore
from quietline.edge.queues import QueueUnavailable, SubmissionQueues
from quietline.edge.server import descriptor_budget, server_config
from quietline.edge.sqlite_queues import SqliteQueues
from quietline.edge.store import SqlEdgeStore
from quietline.keystore import read_json
from quietline.protocol.api import Direction
from quietline.protocol.certificates import SignedKey
from quietline.protocol.errors import ProtocolError


class _Stop(Exception):
    """SIGTERM, turned into a clean stop."""


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise _Stop


def _open_store(settings: EdgeConfig) -> SqlEdgeStore:
    """The store of the keys, profiles, status and dead drops: the SQLite file, or
    PostgreSQL with ``[edge] store`` (migrated first); exits with the reason when it
    cannot be opened."""
    if settings.store is None:
        try:
            return EdgeStore(settings.database, settings.retention)
        except Exception as error:  # sqlite3 and OS errors alike: say which file
            raise fail(f"cannot open the edge database {settings.database}: {error}") from None
    where = redacted(settings.store)
    try:
        store = PostgresEdgeStore(settings.store, settings.retention)
    except Exception as error:  # psycopg, SQLAlchemy and Alembic errors alike
        raise fail(f"cannot open or migrate the edge's store {where}: {error}") from None
    try:
        revision = current(settings.store)
    except Exception as error:
        store.close()
        raise fail(f"cannot read the edge's store {where}: {error}") from None
    typer.echo(f"edge store: {where} at schema revision {revision}")
    return store


def open_queues(settings: EdgeConfig) -> SubmissionQueues:
    """The submission queues ``[edge] queue`` names, with the bounds of ``[edge]``."""
    max_queued = {
        Direction.USER: settings.limits.max_queued_user,
        Direction.JOURNALIST: settings.limits.max_queued_journalist,
    }
    if settings.queue.startswith(SQLITE_QUEUE):
        return SqliteQueues(Path(settings.queue.removeprefix(SQLITE_QUEUE)), max_queued)
    return JetStreamQueues(settings.queue, max_queued)


async def _serve(server: uvicorn.Server, sock: socket.socket, queues: SubmissionQueues) -> None:
    """Reach the queues (QueueUnavailable if they cannot be), say where the edge listens,
    serve until stopped, then close the queues on the loop that used them."""
    try:
        await queues.queue_length(Direction.USER)
        bound_host, bound_port = sock.getsockname()[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        typer.echo(f"edge listening on http://{shown}:{bound_port}")
        await server.serve(sockets=[sock])
    finally:
        await queues.close()


def edge(
    config: Annotated[
        Path, typer.Option("--config", help="The deployment folder (or its quietline.toml).")
    ],
    host: Annotated[
        str | None, typer.Option("--host", help="Listen on this address instead.")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", help="Listen on this port instead (0: any free one).")
    ] = None,
) -> None:
    """Serve the public edge: published keys, dead drops, status and the submission queues."""
    try:
        settings = load_config(config).edge
    except ConfigError as error:
        raise fail(str(error)) from None
    try:
        anchor = SignedKey.from_json(read_json(settings.anchor))
    except OSError as error:
        raise fail(
            f"cannot read the organisation key {settings.anchor}: {error.strerror}"
        ) from None
    except ProtocolError as error:
        raise fail(f"{settings.anchor} is not an organisation key: {error}") from None
    store = _open_store(settings)
    try:
        queues = open_queues(settings)
    except Exception as error:  # sqlite3, OS errors and a bad JetStream URL: say which
        store.close()
        raise fail(f"cannot open the submission queues {settings.queue}: {error}") from None
    try:
        app = create_app(
            store, [anchor], SystemClock(), queues=queues, page_bytes=settings.limits.page_bytes
        )
    except ProtocolError as error:
        asyncio.run(queues.close())
        store.close()
        raise fail(f"{settings.anchor} does not verify as a self-signed key: {error}") from None

    limits, note = descriptor_budget(settings.limits)
    if note is not None:
        typer.echo(f"edge: WARNING {note}", err=True)
    where = (host or settings.host, settings.port if port is None else port)
    served = server_config(app, *where, limits)
    # uvicorn re-raises a signal it handled once it has shut down; these turn that into
    # a clean exit, and also cover a signal arriving before uvicorn takes over.
    signal.signal(signal.SIGTERM, _stop)
    try:
        try:
            sock = served.bind_socket()
        except SystemExit:  # uvicorn has logged the reason (address in use, no such host)
            raise fail(
                f"cannot listen on {where[0]}:{where[1]}; is something else listening there?"
            ) from None
        asyncio.run(_serve(uvicorn.Server(served), sock, queues))
    except QueueUnavailable as error:
        raise fail(f"cannot reach the submission queues at {settings.queue}: {error}") from None
    except (KeyboardInterrupt, _Stop):
        pass
    finally:
        store.close()
    typer.echo("edge stopped")
