"""``quietline edge``: serve the public edge with uvicorn, with no access log and with
the limits of ``[edge]`` (quietline.edge.server says how each is kept)."""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
import uvicorn

from quietline.cli.files import fail
from quietline.clock import SystemClock
from quietline.config import ConfigError, EdgeConfig, load_config
from quietline.edge import EdgeStore, create_app
from quietline.edge.migrations import current, redacted
from quietline.edge.postgres import PostgresEdgeStore
from quietline.edge.server import descriptor_budget, server_config
from quietline.edge.store import SqlEdgeStore
from quietline.keystore import read_json
from quietline.protocol.api import Direction
from quietline.protocol.certificates import SignedKey
from quietline.protocol.errors import ProtocolError


class _Stop(Exception):
    """SIGTERM, turned into a clean stop."""


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise _Stop


def _open_stores(settings: EdgeConfig) -> tuple[EdgeStore, SqlEdgeStore]:
    """The SQLite store (the queues, and everything else without ``[edge] store``) and
    the store of the keys, profiles, status and dead drops; exits with the reason when
    one cannot be opened."""
    try:
        queues = EdgeStore(
            settings.database,
            settings.retention,
            {
                Direction.USER: settings.limits.max_queued_user,
                Direction.JOURNALIST: settings.limits.max_queued_journalist,
            },
        )
    except Exception as error:  # sqlite3 and OS errors alike: say which file
        raise fail(f"cannot open the edge database {settings.database}: {error}") from None
    if settings.store is None:
        return queues, queues
    try:
        store = PostgresEdgeStore(settings.store, settings.retention)
        revision = current(settings.store)
    except Exception as error:  # psycopg, SQLAlchemy and Alembic errors alike
        queues.close()
        where = redacted(settings.store)
        raise fail(f"cannot open or migrate the edge's store {where}: {error}") from None
    typer.echo(f"edge store: {redacted(settings.store)} at schema revision {revision}")
    return queues, store


def _close(queues: EdgeStore, store: SqlEdgeStore) -> None:
    store.close()
    if queues is not store:
        queues.close()


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
    queues, store = _open_stores(settings)
    try:
        app = create_app(
            store, [anchor], SystemClock(), queues=queues, page_bytes=settings.limits.page_bytes
        )
    except ProtocolError as error:
        _close(queues, store)
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
        bound_host, bound_port = sock.getsockname()[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        typer.echo(f"edge listening on http://{shown}:{bound_port}")
        uvicorn.Server(served).run(sockets=[sock])
    except (KeyboardInterrupt, _Stop):
        pass
    finally:
        _close(queues, store)
    typer.echo("edge stopped")
