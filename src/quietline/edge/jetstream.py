"""The submission queues in NATS JetStream.

Each direction is one durable stream on file storage (``NAME-user`` and
``NAME-journalist``, for subjects ``NAME.user`` and ``NAME.journalist``; ``NAME`` is
``quietline`` unless the URL names another), replicated on ``?replicas=N`` servers of a
cluster (1 by default), and a stream's sequence number is the queue's:
``pull`` purges the stream below ``ack_through + 1`` and reads from ``after + 1`` with a
short-lived pull consumer, so the mixer's cursor protocol, and with it its exactly-once
bookkeeping, is the same as on SQLite. A stream keeps at most ``max_queued`` messages and
discards new ones beyond: the publish is refused and the edge answers QueueFull.

Every publish carries ``Nats-Msg-Id``, a hash of the submission: the same bytes
published again within the duplicate window (the edge's publish retried after a lost
acknowledgement, a client posting a submission again) are stored once. Publishes from
concurrent requests share the one connection and are pipelined; each request awaits its
own acknowledgement, which JetStream sends once the message is in the stream's file (on
one server) or on a quorum of servers (a cluster): docs/deploy.md.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from urllib.parse import urlsplit

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from quietline.edge.queues import DEFAULT_MAX_QUEUED, QueueFull, QueueUnavailable, check_cursor
from quietline.protocol.api import Direction
from quietline.protocol.messages import ENCRYPTED_J2C, ENCRYPTED_U2C

DEFAULT_NAME = "quietline"
DUPLICATE_WINDOW_SECONDS = 120.0
REQUEST_TIMEOUT_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 2
FIRST_CONNECT_SECONDS = 3.0
RECONNECT_WAIT_SECONDS = 1
# A pull's consumer is deleted by the server this long after its last use.
CONSUMER_IDLE_SECONDS = 10.0
FETCH_TIMEOUT_SECONDS = 2.0
# Room for the headers (Nats-Msg-Id, the expected stream) next to a submission.
HEADER_ROOM = 256
# JetStream's error codes (nats-server's server/errors.json).
_MAXIMUM_MESSAGES_EXCEEDED = 10077
_STREAM_EXISTS_OTHERWISE = 10058
_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")
_SIZES = {Direction.USER: ENCRYPTED_U2C.size, Direction.JOURNALIST: ENCRYPTED_J2C.size}
_log = logging.getLogger("quietline.edge")


@dataclass(frozen=True, slots=True)
class _Stream:
    name: str
    subject: str


@dataclass(frozen=True, slots=True)
class JetStreamLocation:
    server: str  # nats://HOST:PORT or tls://HOST:PORT
    name: str  # the deployment's streams are NAME-user and NAME-journalist
    replicas: int  # servers of a cluster holding each stream


def parse_url(url: str) -> JetStreamLocation:
    """Where ``nats://HOST:PORT[/NAME][?replicas=N]`` keeps the queues: NAME (letters,
    digits, ``-`` and ``_``; ``quietline`` without it) lets deployments share a server,
    N (1 to 5, 1 without it) is how many servers of a cluster hold each stream. Raises
    ValueError naming what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in ("nats", "tls") or not parts.netloc:
        raise ValueError("a JetStream URL is nats://HOST:PORT or tls://HOST:PORT")
    name = parts.path.strip("/") or DEFAULT_NAME
    if not _NAME.fullmatch(name):
        raise ValueError("the name after the JetStream server is 1-32 letters, digits, - or _")
    replicas = parts.query.removeprefix("replicas=") if parts.query else "1"
    if parts.fragment or replicas not in ("1", "2", "3", "4", "5"):
        raise ValueError("a JetStream URL takes only ?replicas=N, N from 1 to 5")
    return JetStreamLocation(f"{parts.scheme}://{parts.netloc}", name, int(replicas))


class JetStreamQueues:
    """Both submission queues in the JetStream server at ``url``, each bounded by
    ``max_queued``. Connects (and creates or updates the streams) on first use, on the
    event loop that uses it; reconnects by itself after the server went away."""

    def __init__(self, url: str, max_queued: Mapping[Direction, int] = DEFAULT_MAX_QUEUED) -> None:
        location = parse_url(url)
        self.server = location.server
        self.replicas = location.replicas
        self.max_queued = dict(max_queued)
        self.streams = {
            direction: _Stream(
                f"{location.name}-{direction.value}", f"{location.name}.{direction.value}"
            )
            for direction in Direction
        }
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._connecting = asyncio.Lock()

    async def enqueue(self, direction: Direction, data: bytes) -> int:
        stream = self.streams[direction]
        msg_id = hashlib.blake2b(data, digest_size=16).hexdigest()
        js = await self._jetstream()
        try:
            ack = await js.publish(
                stream.subject,
                data,
                timeout=REQUEST_TIMEOUT_SECONDS,
                stream=stream.name,
                headers={"Nats-Msg-Id": msg_id},
            )
        except nats.js.errors.APIError as error:
            if error.err_code == _MAXIMUM_MESSAGES_EXCEEDED:
                raise QueueFull(f"the {direction.value} queue is full; try again later") from None
            raise _unavailable(error) from error
        except nats.errors.Error as error:
            raise _unavailable(error) from error
        return int(ack.seq)

    async def pull(
        self, direction: Direction, after: int, limit: int, ack_through: int
    ) -> list[tuple[int, bytes]]:
        stream = self.streams[direction]
        js = await self._jetstream()
        try:
            state = (await js.stream_info(stream.name)).state
            check_cursor(direction, after, ack_through, state.last_seq)
            # Never purge past the last message: that would move the stream's sequence on.
            acknowledged = min(ack_through, state.last_seq)
            if acknowledged >= state.first_seq:
                await js.purge_stream(stream.name, seq=acknowledged + 1)
            first = max(after, acknowledged) + 1
            wanted = min(limit, state.last_seq - first + 1)
            if wanted <= 0:
                return []
            return await self._read(js, stream, first, wanted)
        except nats.errors.Error as error:
            raise _unavailable(error) from error

    async def _read(
        self, js: JetStreamContext, stream: _Stream, first: int, count: int
    ) -> list[tuple[int, bytes]]:
        """Up to ``count`` messages of ``stream`` from sequence ``first`` on, in order."""
        subscription = await js.pull_subscribe(
            stream.subject,
            stream=stream.name,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=first,
                ack_policy=AckPolicy.EXPLICIT,  # never acknowledged: the purge forgets
                max_ack_pending=count,
                inactive_threshold=CONSUMER_IDLE_SECONDS,
                mem_storage=True,
            ),
        )
        try:
            messages = await subscription.fetch(count, timeout=FETCH_TIMEOUT_SECONDS)
        except nats.errors.TimeoutError:
            return []  # purged meanwhile
        finally:
            await subscription.unsubscribe()
        return [(int(m.metadata.sequence.stream), bytes(m.data)) for m in messages]

    async def queue_length(self, direction: Direction) -> int:
        js = await self._jetstream()
        try:
            info = await js.stream_info(self.streams[direction].name)
        except nats.errors.Error as error:
            raise _unavailable(error) from error
        return int(info.state.messages)

    async def close(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None and not nc.is_closed:
            await nc.close()

    async def _disconnected(self) -> None:
        if self._nc is not None:  # not while closing
            _log.warning("the JetStream server went away; reconnecting")

    async def _jetstream(self) -> JetStreamContext:
        """The JetStream context, connecting and setting up the streams first if need be.
        Raises QueueUnavailable at once while the server is away, rather than holding the
        request until it comes back."""
        if self._js is not None:
            if self._nc is None or not self._nc.is_connected:
                raise QueueUnavailable("the edge's queue is unavailable (reconnecting); try again")
            return self._js
        async with self._connecting:
            if self._js is None:
                self._nc = Client()
                try:
                    # Reconnecting never gives up (a server restart must not need an edge
                    # restart), so it is the first connection that has a deadline.
                    await asyncio.wait_for(
                        self._nc.connect(
                            self.server,
                            connect_timeout=CONNECT_TIMEOUT_SECONDS,
                            reconnect_time_wait=RECONNECT_WAIT_SECONDS,
                            max_reconnect_attempts=-1,
                            error_cb=_report,
                            disconnected_cb=self._disconnected,
                        ),
                        FIRST_CONNECT_SECONDS,
                    )
                    js = self._nc.jetstream(timeout=REQUEST_TIMEOUT_SECONDS)
                    for direction, stream in self.streams.items():
                        await self._set_up(js, direction, stream)
                except (nats.errors.Error, OSError, TimeoutError) as error:
                    await self.close()
                    raise _unavailable(error) from error
                self._js = js
            return self._js

    async def _set_up(self, js: JetStreamContext, direction: Direction, stream: _Stream) -> None:
        config = StreamConfig(
            name=stream.name,
            subjects=[stream.subject],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_msgs=self.max_queued[direction],
            max_msg_size=_SIZES[direction] + HEADER_ROOM,
            discard=DiscardPolicy.NEW,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
            num_replicas=self.replicas,
        )
        try:
            await js.add_stream(config)
        except nats.js.errors.APIError as error:
            if error.err_code != _STREAM_EXISTS_OTHERWISE:
                raise
            await js.update_stream(config)  # a new bound from the configuration


def _unavailable(error: Exception) -> QueueUnavailable:
    # The type only: a server's description could in principle quote what was sent.
    return QueueUnavailable(f"the edge's queue is unavailable ({type(error).__name__}); try again")


async def _report(error: Exception) -> None:
    _log.warning("the JetStream connection failed: %s", type(error).__name__)


async def delete_streams(url: str) -> None:
    """Delete the streams of the deployment ``url`` names (for a demo or test that made
    them for itself; nothing the edge does). Streams already gone are fine."""
    queues = JetStreamQueues(url)
    connection = await nats.connect(queues.server, connect_timeout=CONNECT_TIMEOUT_SECONDS)
    try:
        js = connection.jetstream(timeout=REQUEST_TIMEOUT_SECONDS)
        for stream in queues.streams.values():
            with suppress(nats.js.errors.NotFoundError):
                await js.delete_stream(stream.name)
    finally:
        await connection.close()
