"""The real edge app served on loopback (``tests.support.edge_server.serve``) behind a
recording ASGI wrapper: a test instrument that notes, for every request, the method, path,
query, headers and body size the edge received, the size of its answer's body, and which
connection carried it (the loopback client port, an identity for the connection only;
never a client address)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from quietline.clock import SystemClock
from quietline.edge.app import create_app
from quietline.edge.store import EdgeStore
from quietline.edge_client import EdgeClient
from quietline.edge_endpoint import EdgeEndpoint
from tests.support.certificates import EdgeCertificate
from tests.support.edge_server import serve
from tests.support.organisation import Organisation
from tests.support.queues import Queues, sqlite_queues


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    body_size: int
    connection: int = field(default=0, compare=False)
    answer_size: int = field(default=0, compare=False)

    def shape(self) -> tuple[str, str, tuple[tuple[bytes, bytes], ...], int]:
        """Everything an observer of the request sees but the query (which varies with
        what a client already downloaded, never with what its user did)."""
        return (self.method, self.path, self.headers, self.body_size)


SETTLE_DEADLINE_S = 10.0


@dataclass
class Recorder:
    app: ASGIApp
    requests: list[RecordedRequest] = field(default_factory=list)
    begun: int = 0

    def settled(self) -> list[RecordedRequest]:
        """The requests, once every request begun so far is recorded: an answer without a
        body can reach its client before its record is written."""
        deadline = time.monotonic() + SETTLE_DEADLINE_S
        while len(self.requests) < self.begun and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.requests)

    def forget(self) -> None:
        """Start again from no request, once every request begun so far is recorded."""
        self.settled()
        self.requests.clear()
        self.begun = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.begun += 1
        size = 0

        async def counting_receive() -> Message:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
            return message

        answered = 0

        def record() -> None:
            self.requests.append(
                RecordedRequest(
                    scope["method"],
                    scope["path"],
                    scope["query_string"],
                    tuple(sorted((bytes(k), bytes(v)) for k, v in scope["headers"])),
                    size,
                    scope["client"][1] if scope.get("client") else 0,
                    answered,
                )
            )

        async def counting_send(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.body":
                answered += len(message.get("body", b""))
                if not message.get("more_body", False):
                    record()  # before the client can have the whole answer
            await send(message)

        await self.app(scope, counting_receive, counting_send)


@dataclass
class RunningEdge:
    url: str
    store: EdgeStore
    queues: Queues
    recorder: Recorder


@contextmanager
def published_edge(
    folder: Path, org: Organisation, tls: EdgeCertificate | None = None
) -> Iterator[RunningEdge]:
    """Serve a fresh edge (SQLite store in ``folder``, the system clock) behind a
    :class:`Recorder` until the block ends, with every key and profile of ``org``
    published; the recorder starts empty, after the publishing. With ``tls``, over TLS
    (``serve``)."""
    folder.mkdir(parents=True, exist_ok=True)
    store = EdgeStore(folder / "edge.sqlite")
    queues = sqlite_queues(store.path)
    recorder = Recorder(create_app(store, [org.anchor], SystemClock(), queues=queues.engine))
    try:
        with closing(queues), serve(recorder, tls) as url:
            endpoint = EdgeEndpoint(url, ca_file=tls.ca_file if tls else None)
            with EdgeClient(endpoint) as admin:
                org.publish(admin, datetime.now(UTC))
            recorder.forget()
            yield RunningEdge(url, store, queues, recorder)
    finally:
        store.close()
