"""A recording TCP proxy on loopback: what a network observer between clients and the edge sees.

Each observed client gets its own listening port (:meth:`RecordingProxy.listen`), so the
proxy knows whose a connection is; the edge never learns it. Bytes pass through unchanged
in both directions; a copy of each direction is parsed with h11 (a request parser and a
response parser, each told what the other saw, so keep-alive cycles follow one another)
and recorded: per connection its open and close times, per request its time, method,
target, header names and values as sent, body size, and the answer's status, body size (as
it crossed the wire, before any content decoding) and time. What h11 cannot parse still
passes through; the connection is then marked ``unparsed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import h11

READ_SIZE = 65536
START_DEADLINE_S = 10.0


@dataclass
class Exchange:
    """One HTTP request and its answer, as seen on the wire."""

    at: float  # time.monotonic() when the request head arrived
    method: str
    target: str
    headers: tuple[tuple[str, str], ...]  # as sent: names in their case, in their order
    request_bytes: int = 0
    status: int | None = None
    response_bytes: int = 0
    answered_at: float | None = None  # when the answer's end arrived

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


@dataclass
class Connection:
    """One TCP connection from a client, with its exchanges in order."""

    opened_at: float
    closed_at: float | None = None
    exchanges: list[Exchange] = field(default_factory=list)
    unparsed: bool = False


@dataclass
class Trace:
    """Everything the proxy saw of one client."""

    name: str
    connections: list[Connection] = field(default_factory=list)

    def exchanges(self) -> list[Exchange]:
        """Every exchange of the client, in the order the requests arrived."""
        return sorted((e for c in self.connections for e in c.exchanges), key=lambda e: e.at)


class _Mirror:
    """Parses both directions of one connection with a pair of h11 state machines."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.requests = h11.Connection(h11.SERVER)  # parses what the client sends
        self.responses = h11.Connection(h11.CLIENT)  # parses what the edge answers
        self.current: Exchange | None = None

    def from_client(self, data: bytes) -> None:
        self._feed(self.requests, self._drain_requests, data)

    def from_edge(self, data: bytes) -> None:
        self._feed(self.responses, self._drain_responses, data)

    def _feed(self, parser: h11.Connection, drain: Callable[[], None], data: bytes) -> None:
        if self.connection.unparsed:
            return
        try:
            parser.receive_data(data)
            drain()
        except h11.ProtocolError:
            self.connection.unparsed = True

    def _drain_requests(self) -> None:
        while True:
            event = self.requests.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self.current = Exchange(
                    time.monotonic(),
                    event.method.decode("ascii", "replace"),
                    event.target.decode("ascii", "replace"),
                    tuple(
                        (name.decode("latin-1"), value.decode("latin-1"))
                        for name, value in event.headers.raw_items()
                    ),
                )
                self.connection.exchanges.append(self.current)
                self.responses.send(event)
            elif isinstance(event, h11.Data):
                if self.current is not None:
                    self.current.request_bytes += len(event.data)
                self.responses.send(event)
            elif isinstance(event, h11.EndOfMessage):
                self.responses.send(event)
            elif isinstance(event, h11.ConnectionClosed):
                return

    def _drain_responses(self) -> None:
        while True:
            event = self.responses.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.InformationalResponse):
                continue
            if isinstance(event, h11.Response):
                if self.current is not None:
                    self.current.status = event.status_code
                self.requests.send(event)
            elif isinstance(event, h11.Data):
                if self.current is not None:
                    self.current.response_bytes += len(event.data)
                self.requests.send(event)
            elif isinstance(event, h11.EndOfMessage):
                if self.current is not None:
                    self.current.answered_at = time.monotonic()
                self.requests.send(event)
                self._next_cycle()
            elif isinstance(event, h11.ConnectionClosed):
                return

    def _next_cycle(self) -> None:
        both = (self.requests, self.responses)
        if all(c.our_state is h11.DONE and c.their_state is h11.DONE for c in both):
            for c in both:
                c.start_next_cycle()
            self._drain_requests()  # a request that arrived early (pipelined)


class RecordingProxy:
    """Forwards loopback ports to one upstream ``host:port`` and records each port's client.

    Runs its own event loop in a thread; use as a context manager."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.traces: dict[str, Trace] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._servers: list[asyncio.Server] = []
        self._lock = threading.Lock()

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def listen(self, name: str) -> int:
        """A new loopback port whose connections are recorded as client ``name``'s."""
        trace = Trace(name)
        self.traces[name] = trace

        async def start() -> asyncio.Server:
            return await asyncio.start_server(lambda r, w: self._serve(trace, r, w), "127.0.0.1", 0)

        server = asyncio.run_coroutine_threadsafe(start(), self._loop).result(START_DEADLINE_S)
        self._servers.append(server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    @contextlib.contextmanager
    def frozen(self) -> Iterator[dict[str, Trace]]:
        """The traces, with no connection changing while the block reads them."""
        with self._lock:
            yield self.traces

    def close(self) -> None:
        if not self._thread.is_alive():
            return

        async def stop() -> None:
            for server in self._servers:
                server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(START_DEADLINE_S)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(START_DEADLINE_S)

    async def _serve(
        self, trace: Trace, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        connection = Connection(time.monotonic())
        with self._lock:
            trace.connections.append(connection)
        mirror = _Mirror(connection)
        try:
            edge_in, edge_out = await asyncio.open_connection(*self.upstream)
        except OSError:
            connection.closed_at = time.monotonic()
            client_out.close()
            return

        async def pump(
            source: asyncio.StreamReader, sink: asyncio.StreamWriter, from_client: bool
        ) -> None:
            try:
                while data := await source.read(READ_SIZE):
                    with self._lock:
                        if from_client:
                            mirror.from_client(data)
                        else:
                            mirror.from_edge(data)
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    sink.close()

        try:
            await asyncio.gather(
                pump(client_in, edge_out, from_client=True),
                pump(edge_in, client_out, from_client=False),
            )
        except asyncio.CancelledError:
            # The proxy is stopping. Ending normally keeps asyncio's stream callback (which
            # asks a finished connection task for its exception) from logging a traceback.
            pass
        finally:
            with self._lock:
                connection.closed_at = time.monotonic()
