"""``quietline edge``: serve the public edge with uvicorn, with no access log.

uvicorn's access logger is the one that writes client addresses: it is off, and the
log configuration below has no formatter that could print one. Proxy headers are not
interpreted either, so nothing rewrites or looks at forwarded addresses.
"""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
import uvicorn

from quietline.cli.files import fail
from quietline.clock import SystemClock
from quietline.config import ConfigError, load_config
from quietline.edge import EdgeStore, create_app
from quietline.keystore import read_json
from quietline.protocol.certificates import SignedKey
from quietline.protocol.errors import ProtocolError

# Only the server's own messages (start-up failures, errors) and the edge's bug reports,
# never a request line.
LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "edge: %(levelname)s %(message)s"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "stream": "ext://sys.stderr",
        },
        "nowhere": {"class": "logging.NullHandler"},
    },
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
        "uvicorn.error": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
        "uvicorn.access": {"handlers": ["nowhere"], "level": "CRITICAL", "propagate": False},
        # The edge's own errors: a bug's type and code location, never request data.
        "quietline.edge": {"handlers": ["stderr"], "level": "ERROR", "propagate": False},
    },
}


class _Stop(Exception):
    """SIGTERM, turned into a clean stop."""


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise _Stop


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
    try:
        store = EdgeStore(settings.database, settings.retention)
    except Exception as error:  # sqlite3 and OS errors alike: say which file
        raise fail(f"cannot open the edge database {settings.database}: {error}") from None
    try:
        app = create_app(store, [anchor], SystemClock())
    except ProtocolError as error:
        store.close()
        raise fail(f"{settings.anchor} does not verify as a self-signed key: {error}") from None

    server_config = uvicorn.Config(
        app,
        host=host or settings.host,
        port=settings.port if port is None else port,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        log_config=LOG_CONFIG,
        log_level="warning",
        lifespan="off",
    )
    # uvicorn re-raises a signal it handled once it has shut down; these turn that into
    # a clean exit, and also cover a signal arriving before uvicorn takes over.
    signal.signal(signal.SIGTERM, _stop)
    try:
        try:
            sock = server_config.bind_socket()
        except SystemExit:  # uvicorn has logged the reason (address in use, no such host)
            where = f"{server_config.host}:{server_config.port}"
            raise fail(f"cannot listen on {where}; is something else listening there?") from None
        bound_host, bound_port = sock.getsockname()[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        typer.echo(f"edge listening on http://{shown}:{bound_port}")
        uvicorn.Server(server_config).run(sockets=[sock])
    except (KeyboardInterrupt, _Stop):
        pass
    finally:
        store.close()
    typer.echo("edge stopped")
