"""What the edge answers and logs when a request fails for a reason of its own: a 500 whose
exception type and code location (never any request data) go to the "quietline.edge"
logger, a busy store's 503, and refusals that are answered without being logged."""

from __future__ import annotations

import linecache
import logging
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from quietline.clock import FixedClock
from quietline.edge import EdgeStore, create_app
from quietline.edge.sqlite_queues import SqliteQueues
from quietline.protocol.api import Direction
from quietline.protocol.errors import MisuseError
from tests.edge.submissions import JSON, u2c_body
from tests.support.organisation import Organisation
from tests.support.queues import Queues

EDGE_LOGGER = "quietline.edge"
SENTINEL = "sentinel-5b1e0d"
SENTINEL_HEADERS = {
    "User-Agent": f"SentinelAgent/{SENTINEL}",
    "X-Forwarded-For": "203.0.113.77",
    "X-Request-ID": SENTINEL,
}
# "a request failed with <type> at <file>:<line>"
_LOGGED = re.compile(r"a request failed with (?P<type>\w+) at (?P<file>.+\.py):(?P<line>\d+)")


class FailingQueues(SqliteQueues):
    """Queues whose write raises ``fail`` with the submitted bytes in its message."""

    def __init__(self, path: Path, fail: type[Exception]) -> None:
        super().__init__(path)
        self.fail = fail

    async def enqueue(self, direction: Direction, data: bytes) -> int:
        # Quoting its input, as library errors do (UnicodeDecodeError, KeyError, ...).
        raise self.fail(f"{SENTINEL} {data.hex()}")


@pytest.fixture
def failing(
    tmp_path: Path, organization: Organisation, clock: FixedClock, request: pytest.FixtureRequest
) -> Iterator[tuple[TestClient, FailingQueues]]:
    """An edge over FailingQueues raising ``request.param``. Its TestClient re-raises
    any exception that leaves the app, so these tests also show that none does: a
    server would print its traceback, whose last line quotes the message."""
    store = EdgeStore(tmp_path / "edge.sqlite3")
    queues = FailingQueues(store.path, request.param)
    app = create_app(store, [organization.anchor], clock, queues=queues)
    try:
        with TestClient(app) as client:
            yield client, queues
    finally:
        Queues(queues).close()
        store.close()


def _edge_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == EDGE_LOGGER]


# A bug of any kind, and a QuietlineError that names 500 (a misuse is our bug too).
FAILURES = [RuntimeError, KeyError, MisuseError]


@pytest.mark.parametrize("failing", FAILURES, indirect=True)
def test_a_failure_is_a_500_logged_by_type_and_place_only(
    failing: tuple[TestClient, FailingQueues],
    organization: Organisation,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, queues = failing
    caplog.set_level(logging.DEBUG)
    body = u2c_body(organization)
    response = client.post(
        f"/user/messages?{SENTINEL}=1", content=body, headers={**SENTINEL_HEADERS, **JSON}
    )

    # The same answer as before the refactor: the failure's message is never sent.
    assert response.status_code == 500
    assert response.json() == {"error": "the edge failed"}

    (record,) = _edge_records(caplog)
    assert record.levelno == logging.ERROR
    assert record.exc_info is None  # no traceback, whose last line quotes the message
    logged = _LOGGED.fullmatch(record.getMessage())
    assert logged is not None, record.getMessage()
    assert logged["type"] == queues.fail.__name__
    # The place is a real line of Quietline's code on the failure's path: the edge's
    # call into the queues (or the raise itself, in a checkout whose path says quietline).
    assert "quietline" in logged["file"]
    assert Path(logged["file"]).is_file()
    place = linecache.getline(logged["file"], int(logged["line"]))
    assert "self.queues.enqueue" in place or "raise self.fail(" in place, place

    # Nothing the caller sent (body, query, headers) is in any log record but the test
    # client's own (httpx logs the URL it requested).
    sent = [
        SENTINEL,
        body.decode()[1:40],
        body.decode()[-40:-1],
        *SENTINEL_HEADERS.values(),
    ]
    for item in caplog.records:
        if item.name.startswith(("httpx", "httpcore")):
            continue
        text = f"{item.getMessage()} {item.args!r} {item.exc_text or ''}"
        for value in sent:
            assert value not in text, f"{value!r} logged by {item.name}"


def test_a_busy_store_answers_503_as_before_and_logs_nothing(
    tmp_path: Path,
    organization: Organisation,
    clock: FixedClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = EdgeStore(tmp_path / "edge.sqlite3")
    # Waiting 10 ms instead of 10 s for another writer's lock.
    queues = Queues(SqliteQueues(store.path, busy_timeout=0.01))
    blocker = sqlite3.connect(store.path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # another writer holds the database
        caplog.set_level(logging.DEBUG)
        app = create_app(store, [organization.anchor], clock, queues=queues.engine)
        with TestClient(app) as client:
            response = client.post("/user/messages", content=u2c_body(organization), headers=JSON)
        assert response.status_code == 503
        assert response.json() == {"error": "the edge's store is busy; try again"}
        assert response.headers["cache-control"] == "no-store"
        assert _edge_records(caplog) == []
        blocker.execute("ROLLBACK")
        assert queues.queue_length(Direction.USER) == 0
    finally:
        blocker.close()
        queues.close()
        store.close()


def test_refusals_are_answered_not_raised_and_not_logged(
    edge: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    # The edge fixture's TestClient re-raises whatever reaches the server: a refusal
    # must be answered inside the app.
    caplog.set_level(logging.DEBUG)
    assert edge.post("/user/messages", content=b'"short"', headers=JSON).status_code == 400
    assert edge.get("/v1/user/dead-drops?ids_greater_than=-1").status_code == 400
    assert edge.post("/v1/keys", json={"role": "root"}).status_code == 400
    assert _edge_records(caplog) == []
