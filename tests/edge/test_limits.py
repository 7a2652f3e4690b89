"""The real ``quietline edge`` process under slow and excess connections: callers that
trickle their headers or body are cut off while a normal client is still served,
connections beyond the cap are dropped at once, and the log stays short and holds no
address."""

from __future__ import annotations

import contextlib
import selectors
import socket
import time
from pathlib import Path

import pytest

from quietline.clock import SystemClock
from quietline.edge_client import EdgeClient, EdgeUnavailable
from quietline.protocol.messages import encrypt_cover_u2c
from tests.edge.submissions import build_organization, covernode_keys, u2c_body
from tests.support.edge_process import EdgeProcess, running_edge

# Real processes and servers: left out of `make check`, run by `make test`.
pytestmark = pytest.mark.slow

# Short deadlines so the test is quick; the guard only stops a test that would hang.
LIMITS = {"header_timeout_seconds": 1, "body_timeout_seconds": 1, "max_connections": 40}
TRICKLE_EVERY_S = 0.2
GUARD_S = 60.0
# Each of these alone would fit every deadline if the clock restarted at every byte.
HEADERS_START = b"POST /user/messages HTTP/1.1\r\nHost: edge\r\nX-Slow: "
BODY_START = (
    b"POST /user/messages HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
    b"Content-Length: 1033\r\n\r\n"
)


def _connect(edge: EdgeProcess, first: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", edge.port))
    sock.sendall(first)
    sock.setblocking(False)
    return sock


def _closed_by_peer(sock: socket.socket) -> bool:
    """Whether the edge has closed ``sock`` (read or reset); never blocks."""
    try:
        return sock.recv(4096) == b""
    except BlockingIOError:
        return False
    except ConnectionError:
        return True


def _trickle_until_closed(sockets: list[socket.socket]) -> int:
    """Send one more byte on every open socket every TRICKLE_EVERY_S until the edge has
    closed them all; returns how many it closed (all of them, unless the guard ran out)."""
    selector = selectors.DefaultSelector()
    for sock in sockets:
        selector.register(sock, selectors.EVENT_READ, sock)
    open_ = set(sockets)
    deadline = time.monotonic() + GUARD_S
    while open_ and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=TRICKLE_EVERY_S):
            sock = key.data
            if _closed_by_peer(sock):
                selector.unregister(sock)
                open_.discard(sock)
        for sock in list(open_):
            with contextlib.suppress(BlockingIOError, ConnectionError):
                sock.send(b"x")
    closed = len(sockets) - len(open_)
    for sock in sockets:
        sock.close()
    return closed


def _served(edge: EdgeProcess) -> bool:
    """Whether a normal client gets the status and can submit a message."""
    organization = build_organization(SystemClock().now())
    with EdgeClient(edge.url) as client:
        client.status()
        client.send_u2c(encrypt_cover_u2c(covernode_keys(organization)))
    return True


def _served_once_the_edge_sees_them_go(edge: EdgeProcess) -> bool:
    """Whether a normal client is served once the edge has noticed connections closed
    by their callers (which it learns a moment after they close)."""
    deadline = time.monotonic() + GUARD_S
    while True:
        try:
            return _served(edge)
        except EdgeUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(TRICKLE_EVERY_S)


def _log_is_quiet(edge: EdgeProcess) -> list[str]:
    lines = edge.stderr.read_text().splitlines()
    assert not any("127.0.0.1" in line for line in lines), lines
    return lines


def test_trickling_clients_are_cut_off_while_a_normal_client_is_served(tmp_path: Path) -> None:
    organization = build_organization(SystemClock().now())
    with running_edge(tmp_path, organization, LIMITS) as edge:
        slow_headers = [_connect(edge, HEADERS_START) for _ in range(12)]
        body = u2c_body(organization)
        slow_bodies = [_connect(edge, BODY_START + body[:10]) for _ in range(12)]
        # While two dozen callers hold connections and keep sending, others are served.
        assert _served(edge)
        assert _trickle_until_closed(slow_headers + slow_bodies) == 24
        assert _served(edge)
    lines = _log_is_quiet(edge)
    # Two kinds of cut-off, each written once however many there were.
    assert len(lines) <= 4, lines
    assert any("too long to send or read the request headers" in line for line in lines)
    assert any("too long to send or read the request body" in line for line in lines)


def _wait_for_closes(sockets: list[socket.socket], count: int) -> list[socket.socket]:
    """Wait (sending nothing) until the edge has closed ``count`` of ``sockets``; returns
    the ones still open."""
    open_ = list(sockets)
    deadline = time.monotonic() + GUARD_S
    while len(sockets) - len(open_) < count and time.monotonic() < deadline:
        time.sleep(TRICKLE_EVERY_S)
        open_ = [sock for sock in open_ if not _closed_by_peer(sock)]
    return open_


def test_idle_connections_over_the_cap_make_room_for_new_ones(tmp_path: Path) -> None:
    organization = build_organization(SystemClock().now())
    # Headers may take longer than the test: only the cap closes connections here.
    limits = {**LIMITS, "header_timeout_seconds": 600}
    with running_edge(tmp_path, organization, limits) as edge:
        # Idle connections that never send a byte: three times the cap. Each one past the
        # cap takes the place of the one that waited longest, so the newest are held.
        idle = []
        for _ in range(120):
            sock = socket.create_connection(("127.0.0.1", edge.port))
            sock.setblocking(False)
            idle.append(sock)
        held = _wait_for_closes(idle, 80)
        assert held == idle[80:]
        # A normal client still gets in (in the place of an idle one), and again.
        assert _served(edge)
        assert _served(edge)
        for sock in idle:
            sock.close()
    lines = _log_is_quiet(edge)
    assert len(lines) <= 4, lines
    assert any("longest without headers to stay within 40 open" in line for line in lines)


def test_when_every_connection_is_busy_a_new_one_is_dropped(tmp_path: Path) -> None:
    organization = build_organization(SystemClock().now())
    limits = {**LIMITS, "body_timeout_seconds": 600, "max_requests": 100}
    with running_edge(tmp_path, organization, limits) as edge:
        body = u2c_body(organization)
        # Requests whose bodies have not arrived: busy connections, not idle ones.
        busy = [_connect(edge, BODY_START + body[:10]) for _ in range(40)]
        with pytest.raises(EdgeUnavailable):
            _served(edge)
        for sock in busy[:5]:
            sock.close()
        assert _served_once_the_edge_sees_them_go(edge)
        for sock in busy[5:]:
            sock.close()
    lines = _log_is_quiet(edge)
    assert any("over the limit of 40 open ones" in line for line in lines)
