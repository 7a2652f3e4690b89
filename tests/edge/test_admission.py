"""What the edge admits: bodies only when declared JSON (no web page can make browsers
post to it), submissions only while their queue has room (503 with Retry-After, and
accepted again once the mixer acknowledges), and dead-drop pages only up to a byte cap
(at least one dead drop, paging on from the last id). The OpenAPI document says so and
is valid OpenAPI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from openapi_spec_validator import validate
from starlette.testclient import TestClient

from quietline.clock import FixedClock
from quietline.edge import EdgeStore, create_app
from quietline.protocol.api import Direction
from quietline.protocol.deaddrops import JournalistDeadDrop, parse_dead_drop_list
from tests.edge.checks import assert_refused, stored_rows
from tests.edge.submissions import (
    JSON,
    NOW,
    j2c_form,
    journalist_dead_drop,
    publish_keys,
    queue_form,
    u2c_body,
    user_dead_drop,
)
from tests.support.organisation import Organisation
from tests.support.queues import queues_beside

# Every type a web page may send to another site without asking it first (a "simple"
# cross-origin request), and others that are not JSON either.
NOT_JSON = [
    "text/plain",
    "text/plain;charset=UTF-8",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=----quietline",
    "text/json",
]
MAX_QUEUED = {Direction.USER: 3, Direction.JOURNALIST: 2}


def _post_bodies(organization: Organisation) -> dict[str, bytes]:
    """A body each POST route would accept, were it declared JSON."""
    return {
        "/user/messages": u2c_body(organization),
        "/v1/journalist-messages": json.dumps(j2c_form(organization, NOW)).encode(),
        "/v1/user/dead-drops": json.dumps(user_dead_drop(organization, NOW).to_json()).encode(),
        "/v1/journalist/dead-drops": json.dumps(
            journalist_dead_drop(organization, NOW, epoch=6).to_json()
        ).encode(),
        "/v1/covernode/queue": json.dumps(queue_form(organization, NOW)).encode(),
        "/v1/keys": b"{}",
        "/v1/revocations": b"{}",
        "/v1/journalist-profiles": b"{}",
    }


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize("content_type", NOT_JSON)
def test_a_body_of_any_other_type_is_refused_with_415_on_every_post(
    edge: TestClient, organization: Organisation, content_type: str
) -> None:
    for path, body in _post_bodies(organization).items():
        response = edge.post(path, content=body, headers={"Content-Type": content_type})
        assert_refused(response, 415)
        assert "application/json" in response.json()["error"]


@pytest.mark.usefixtures("untouched")
def test_a_body_without_a_type_is_refused_with_415(
    edge: TestClient, organization: Organisation
) -> None:
    for path, body in _post_bodies(organization).items():
        assert_refused(edge.post(path, content=body), 415)


def test_the_same_bodies_declared_json_are_taken(
    edge: TestClient, organization: Organisation
) -> None:
    bodies = _post_bodies(organization)
    for path in ("/user/messages", "/v1/journalist-messages", "/v1/covernode/queue"):
        headers = {"Content-Type": "application/json; charset=utf-8"}
        assert edge.post(path, content=bodies[path], headers=headers).status_code < 300


@pytest.fixture
def small_queues(tmp_path: Path, organization: Organisation) -> Iterator[TestClient]:
    store = EdgeStore(tmp_path / "edge.sqlite3")
    try:
        with queues_beside(store, MAX_QUEUED) as queues:
            app = create_app(store, [organization.anchor], FixedClock(NOW), queues=queues.engine)
            with TestClient(app) as client:
                publish_keys(client, organization)
                yield client
    finally:
        store.close()


def _pull(client: TestClient, organization: Organisation, direction: str, ack: int) -> list[int]:
    form = queue_form(organization, NOW, direction, ack_through=ack)
    response = client.post("/v1/covernode/queue", json=form)
    assert response.status_code == 200, response.text
    return [item["seq"] for item in response.json()["messages"]]


def test_a_full_user_queue_answers_503_until_the_mixer_acknowledges(
    small_queues: TestClient, organization: Organisation
) -> None:
    def send() -> int:
        response = small_queues.post("/user/messages", content=u2c_body(organization), headers=JSON)
        status: int = response.status_code
        return status

    assert [send() for _ in range(3)] == [204, 204, 204]
    full = small_queues.post("/user/messages", content=u2c_body(organization), headers=JSON)
    assert_refused(full, 503)
    assert int(full.headers["retry-after"]) > 0
    assert _pull(small_queues, organization, "user", 0) == [1, 2, 3]  # nothing was added
    assert _pull(small_queues, organization, "user", 1) == [2, 3]
    assert send() == 204
    assert send() == 503
    assert _pull(small_queues, organization, "user", 4) == []
    assert [send() for _ in range(4)] == [204, 204, 204, 503]


def test_a_full_journalist_queue_answers_503_and_leaves_the_user_queue_open(
    small_queues: TestClient, organization: Organisation
) -> None:
    def send() -> int:
        form = j2c_form(organization, NOW)
        status: int = small_queues.post("/v1/journalist-messages", json=form).status_code
        return status

    assert [send() for _ in range(3)] == [204, 204, 503]
    user = small_queues.post("/user/messages", content=u2c_body(organization), headers=JSON)
    assert user.status_code == 204
    assert _pull(small_queues, organization, "journalist", 2) == []
    assert send() == 204


def test_a_refused_submission_leaves_the_store_as_it_was(
    small_queues: TestClient, organization: Organisation, tmp_path: Path
) -> None:
    for _ in range(3):
        small_queues.post("/user/messages", content=u2c_body(organization), headers=JSON)
    before = stored_rows(tmp_path / "edge.sqlite3")
    small_queues.post("/user/messages", content=u2c_body(organization), headers=JSON)
    assert stored_rows(tmp_path / "edge.sqlite3") == before


# --- dead-drop pages ------------------------------------------------------------------------


@contextmanager
def _paged_edge(
    tmp_path: Path, organization: Organisation, page_bytes: int
) -> Iterator[TestClient]:
    """A client of an edge with every key published, serving pages of ``page_bytes``."""
    store = EdgeStore(tmp_path / "edge.sqlite3")
    try:
        with queues_beside(store) as queues:
            app = create_app(
                store,
                [organization.anchor],
                FixedClock(NOW),
                queues=queues.engine,
                page_bytes=page_bytes,
            )
            with TestClient(app) as client:
                publish_keys(client, organization)
                yield client
    finally:
        store.close()


def test_dead_drop_pages_stop_at_the_byte_cap_and_page_on_from_the_last_id(
    tmp_path: Path, organization: Organisation
) -> None:
    page_bytes = 200_000  # two dead drops of 100 entries (about 85 kB of JSON each)
    with _paged_edge(tmp_path, organization, page_bytes) as client:
        posted = [journalist_dead_drop(organization, NOW, entries=100, epoch=6) for _ in range(5)]
        for dead_drop in posted:
            assert client.post("/v1/journalist/dead-drops", json=dead_drop.to_json()).is_success
        pages: list[list[int]] = []
        served = []
        after = 0
        while True:
            response = client.get(f"/v1/journalist/dead-drops?ids_greater_than={after}")
            assert len(response.content) <= page_bytes
            page = parse_dead_drop_list(JournalistDeadDrop, response.json())
            if not page:
                break
            pages.append([dead_drop.id for dead_drop in page])
            served += [dead_drop.body for dead_drop in page]
            after = page[-1].id
    assert pages == [[1, 2], [3, 4], [5]]
    assert served == posted


def test_a_dead_drop_larger_than_the_cap_is_served_alone(
    tmp_path: Path, organization: Organisation
) -> None:
    with _paged_edge(tmp_path, organization, 1000) as client:
        for _ in range(3):
            body = user_dead_drop(organization, NOW, entries=5).to_json()
            assert client.post("/v1/user/dead-drops", json=body).is_success
        first = client.get("/v1/user/dead-drops").json()["dead_drops"]
        second = client.get("/v1/user/dead-drops?ids_greater_than=1").json()["dead_drops"]
    assert [d["id"] for d in first] == [1]
    assert [d["id"] for d in second] == [2]


# --- the OpenAPI document -------------------------------------------------------------------


def test_the_openapi_document_is_valid_and_names_415_and_503(edge: TestClient) -> None:
    document = edge.get("/openapi.json").json()
    validate(document)
    for path, operations in document["paths"].items():
        post = operations.get("post")
        if post is None:
            continue
        assert {"415", "503"} <= set(post["responses"]), path
        assert "Retry-After" in post["responses"]["503"]["headers"], path
        assert set(post["requestBody"]["content"]) == {"application/json"}, path
