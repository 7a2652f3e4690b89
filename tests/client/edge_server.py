"""The real edge app served by uvicorn on a free loopback port in a background thread,
behind a recording ASGI wrapper: a test instrument that notes, for every request, the
method, path, query, headers and body size the edge received (never a client address)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from quietline.clock import Clock
from quietline.edge.app import create_app
from quietline.edge.store import EdgeStore
from quietline.protocol.certificates import SignedKey

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

STARTUP_DEADLINE_S = 10.0


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    body_size: int

    def shape(self) -> tuple[str, str, tuple[tuple[bytes, bytes], ...], int]:
        """Everything an observer of the request sees but the query (which varies with
        what a client already downloaded, never with what its user did)."""
        return (self.method, self.path, self.headers, self.body_size)


@dataclass
class Recorder:
    app: App
    requests: list[RecordedRequest] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        size = 0

        async def counting_receive() -> Message:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
            return message

        await self.app(scope, counting_receive, send)
        self.requests.append(
            RecordedRequest(
                scope["method"],
                scope["path"],
                scope["query_string"],
                tuple(sorted((bytes(k), bytes(v)) for k, v in scope["headers"])),
                size,
            )
        )


@dataclass
class RunningEdge:
    url: str
    store: EdgeStore
    recorder: Recorder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_edge(folder: Path, anchors: Sequence[SignedKey], clock: Clock) -> Iterator[RunningEdge]:
    """Serve a fresh edge (SQLite store in ``folder``) until the block ends."""
    folder.mkdir(parents=True, exist_ok=True)
    store = EdgeStore(folder / "edge.sqlite")
    recorder = Recorder(create_app(store, anchors, clock))
    port = free_port()
    config = uvicorn.Config(
        recorder, host="127.0.0.1", port=port, access_log=False, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the edge did not start")
        time.sleep(0.01)
    try:
        yield RunningEdge(f"http://127.0.0.1:{port}", store, recorder)
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_DEADLINE_S)
        store.close()
