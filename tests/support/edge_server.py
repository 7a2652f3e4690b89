"""The real edge app, served by uvicorn in a thread on a free loopback port, for tests."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

from quietline.edge.queues import SubmissionQueues
from tests.support.certificates import EdgeCertificate

STARTUP_DEADLINE_S = 10.0


@contextmanager
def serve(
    app: ASGIApp, tls: EdgeCertificate | None = None, queues: SubmissionQueues | None = None
) -> Iterator[str]:
    """Serve ``app`` (the edge, possibly wrapped by a test instrument) until the block ends;
    yields its base URL: ``http://127.0.0.1:PORT``, or with ``tls`` (whose certificate
    must name ``localhost``) ``https://localhost:PORT``. ``queues``, when given, are
    closed on the server's event loop once it stopped (JetStream's connection lives
    there)."""
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            access_log=False,
            log_level="warning",
            lifespan="off",
            ssl_certfile=tls.cert_file if tls else None,
            ssl_keyfile=tls.key_file if tls else None,
        )
    )

    async def run() -> None:
        try:
            await server.serve()
        finally:
            if queues is not None:
                await queues.close()

    thread = threading.Thread(target=asyncio.run, args=(run(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the edge did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"https://localhost:{port}" if tls else f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_DEADLINE_S)
