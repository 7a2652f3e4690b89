"""Serving the edge with uvicorn so that no caller can starve the others.

uvicorn alone waits for ever for a request's headers and body, and accepts connections
until the process runs out of file descriptors. Here every phase of a request has a
deadline (``EdgeLimits``): the headers from the moment the connection opens (or the
previous answer ends), the body from the end of the headers, and the answer from the end
of the body (which covers a caller too slow to read it). A connection that misses one is
dropped without an answer. A connection beyond ``max_connections`` takes the place of the
one that has waited longest for its headers (the slowest caller; a normal client sends
them at once), or is dropped at once when every connection is busy with a request; and
requests beyond ``max_requests`` in progress are answered ``503`` with ``Retry-After``.

Nothing here looks at a caller's address, and the log stays quiet under attack: each
kind of message is written at most once a minute, with a count of those left out.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections import OrderedDict
from dataclasses import replace
from typing import Any

import h11
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from quietline.config import EdgeLimits
from quietline.edge.bodies import error_response

BUSY_RETRY_AFTER_SECONDS = 1
QUIET_SECONDS = 60.0
MAX_KINDS = 1000
# Descriptors the process needs besides connections: the listening socket, the database
# files of every worker thread's connection, standard streams.
RESERVED_DESCRIPTORS = 256
_log = logging.getLogger("quietline.edge")

# Log configuration: only the server's own messages (start-up failures, errors) and the
# edge's reports, never a request line. uvicorn's access logger is the one that writes
# client addresses: it goes nowhere, and no formatter here could print one.
LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"quiet": {"()": "quietline.edge.server.QuietFilter"}},
    "formatters": {"plain": {"format": "edge: %(levelname)s %(message)s"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["quiet"],
            "stream": "ext://sys.stderr",
        },
        "nowhere": {"class": "logging.NullHandler"},
    },
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
        "uvicorn.error": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
        "uvicorn.access": {"handlers": ["nowhere"], "level": "CRITICAL", "propagate": False},
        # asyncio reports a failed accept() (out of descriptors) on every attempt.
        "asyncio": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
        # The edge's own reports: a bug's type and code location, and refusals under
        # load; never request data.
        "quietline.edge": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
    },
}


class QuietFilter(logging.Filter):
    """Lets each kind of message (the same text) through at most once per QUIET_SECONDS,
    saying how many like it were left out since the last one written."""

    def __init__(self, name: str = "") -> None:
        super().__init__(name)
        self._written_at: dict[tuple[str, str], float] = {}
        self._left_out: dict[tuple[str, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        kind = (record.name, record.getMessage())
        now = time.monotonic()
        if len(self._written_at) > MAX_KINDS:  # forget old kinds rather than grow
            self._written_at.clear()
        last = self._written_at.get(kind)
        if last is not None and now - last < QUIET_SECONDS:
            self._left_out[kind] = self._left_out.get(kind, 0) + 1
            return False
        self._written_at[kind] = now
        left_out = self._left_out.pop(kind, 0)
        if left_out:
            record.msg = f"{record.getMessage()} (and {left_out} more like it since)"
            record.args = None
        return True


class _Phase:
    HEADERS = "the request headers"
    BODY = "the request body"
    ANSWER = "the answer to be read"


def _protocol(limits: EdgeLimits) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a deadline on each phase and the connection cap."""
    deadlines = {
        _Phase.HEADERS: limits.header_timeout_seconds,
        _Phase.BODY: limits.body_timeout_seconds,
        _Phase.ANSWER: limits.response_timeout_seconds,
    }
    # The connections waiting for headers (new or idle between requests), longest first.
    waiting: OrderedDict[H11Protocol, None] = OrderedDict()

    class EdgeProtocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None
        _phase: str | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections:
                # Make room by dropping the connection that has waited longest for its
                # headers: a normal client sends them at once, so that is the slowest
                # caller, and a flood of idle connections cannot lock the others out.
                if not waiting:
                    _log.warning(
                        "dropped a connection over the limit of %d open ones",
                        limits.max_connections,
                    )
                    transport.abort()
                    return
                oldest, _ = waiting.popitem(last=False)
                _log.warning(
                    "dropped the connection longest without headers to stay within %d open",
                    limits.max_connections,
                )
                oldest.transport.abort()
            self._start(_Phase.HEADERS)

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop()
            super().connection_lost(exc)

        def handle_events(self) -> None:
            super().handle_events()
            self._follow()

        def on_response_complete(self) -> None:
            # The next request's headers are due within the deadline of the answer's end
            # (the keep-alive timeout closes an idle connection sooner).
            self._start(_Phase.HEADERS)
            super().on_response_complete()

        def _follow(self) -> None:
            """Start the deadline of the phase the caller's side of h11 is now in."""
            state = self.conn.their_state
            if state is h11.SEND_BODY:
                phase = _Phase.BODY
            elif state in (h11.DONE, h11.MUST_CLOSE):
                phase = _Phase.ANSWER
            elif state is h11.IDLE:
                return  # still waiting for headers: that deadline runs on
            else:
                self._stop()
                return
            if phase != self._phase:
                self._start(phase)

        def _start(self, phase: str) -> None:
            self._stop()
            self._phase = phase
            self._deadline = self.loop.call_later(deadlines[phase], self._too_slow)
            if phase == _Phase.HEADERS:
                waiting[self] = None

        def _stop(self) -> None:
            waiting.pop(self, None)
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            waiting.pop(self, None)
            if not self.transport.is_closing():
                _log.warning(
                    "dropped a connection that took too long to send or read %s", self._phase
                )
            self.transport.abort()

    return EdgeProtocol


class RequestCap:
    """An ASGI layer that answers ``503`` (with ``Retry-After``) while ``limit`` requests
    are already in progress, so memory and threads stay bounded."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.in_progress = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.in_progress >= self.limit:
            _log.warning("answered 503 over the limit of %d requests in progress", self.limit)
            busy = error_response(503, "the edge is busy; try again", BUSY_RETRY_AFTER_SECONDS)
            await busy(scope, receive, send)
            return
        self.in_progress += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_progress -= 1


def descriptor_budget(limits: EdgeLimits) -> tuple[EdgeLimits, str | None]:
    """``limits`` with ``max_connections`` lowered, if it must be, to what the process may
    open (raising its own soft limit first, as far as the hard one allows), so the cap
    drops connections before accept() starts failing; and a note saying so, if it was."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = limits.max_connections + RESERVED_DESCRIPTORS
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return limits, None
    allowed = max(1, soft - RESERVED_DESCRIPTORS)
    note = (
        f"max_connections lowered from {limits.max_connections} to {allowed}: the process"
        f" may open only {soft} files"
    )
    return replace(limits, max_connections=allowed), note


def server_config(app: ASGIApp, host: str, port: int, limits: EdgeLimits) -> uvicorn.Config:
    """uvicorn's configuration for the edge: the limits, no access log, no server header,
    no proxy headers interpreted (nothing rewrites or looks at forwarded addresses)."""
    return uvicorn.Config(
        RequestCap(app, limits.max_requests),
        host=host,
        port=port,
        http=_protocol(limits),
        loop="asyncio",
        timeout_keep_alive=limits.keep_alive_seconds,  # type: ignore[arg-type]
        h11_max_incomplete_event_size=limits.max_header_bytes,
        access_log=False,
        server_header=False,
        proxy_headers=False,
        log_config=LOG_CONFIG,
        log_level="warning",
        lifespan="off",
    )
