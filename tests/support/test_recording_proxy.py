"""The recording proxy the network adversary test observes clients through: it passes
bytes through unchanged and records each port's connections and exchanges, over
keep-alive and fresh connections alike."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from tests.support.edge_server import serve
from tests.support.recording_proxy import RecordingProxy

pytestmark = pytest.mark.slow  # a real server and proxy on loopback

BIG = bytes(range(256)) * 200  # 51,200 bytes, sent chunked


async def small(request: Request) -> Response:
    body = await request.body()
    return Response(b"x" * (len(body) + 3), status_code=201 if body else 200)


async def big(_request: Request) -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(BIG), 4096):
            yield BIG[start : start + 4096]

    return StreamingResponse(chunks())


APP = Starlette(routes=[Route("/small", small, methods=["GET", "POST"]), Route("/big", big)])


def wait_closed(proxy: RecordingProxy, name: str, connections: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with proxy.frozen() as traces:
            closed = [c for c in traces[name].connections if c.closed_at is not None]
            if len(closed) >= connections:
                return
        time.sleep(0.05)
    pytest.fail(f"{name}'s connections were not recorded as closed")


def test_the_proxy_records_each_clients_exchanges_and_connections() -> None:
    with serve(APP) as url, RecordingProxy("127.0.0.1", int(url.rsplit(":", 1)[1])) as proxy:
        kept = f"http://127.0.0.1:{proxy.listen('kept')}"
        fresh = f"http://127.0.0.1:{proxy.listen('fresh')}"
        with httpx.Client(base_url=kept, headers={"X-Probe": "One"}) as client:
            assert client.get("/small?n=1").content == b"xxx"
            assert client.post("/small", content=b"a" * 100).status_code == 201
            assert client.get("/big").content == BIG  # unchanged through the proxy
        for _ in range(2):
            with httpx.Client(base_url=fresh) as client:
                client.get("/small")
        wait_closed(proxy, "kept", 1)
        wait_closed(proxy, "fresh", 2)
        with proxy.frozen() as traces:
            kept_trace, fresh_trace = traces["kept"], traces["fresh"]

    assert len(kept_trace.connections) == 1
    (connection,) = kept_trace.connections
    assert not connection.unparsed
    got = [
        (e.method, e.target, e.path, e.request_bytes, e.status, e.response_bytes)
        for e in kept_trace.exchanges()
    ]
    assert got == [
        ("GET", "/small?n=1", "/small", 0, 200, 3),
        ("POST", "/small", "/small", 100, 201, 103),
        ("GET", "/big", "/big", 0, 200, len(BIG)),
    ]
    first = kept_trace.exchanges()[0]
    assert ("X-Probe", "One") in first.headers  # names as sent, in their case
    assert first.answered_at is not None
    assert first.at <= first.answered_at
    assert connection.closed_at is not None
    assert connection.opened_at <= first.at <= connection.closed_at
    assert [len(c.exchanges) for c in fresh_trace.connections] == [1, 1]
