"""CoverDrop's own apps against a real edge (uvicorn over loopback): each request is built
as the app builds it (``tests.support.coverdrop_clients``), and what the edge queues is
the U2C the app sent."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from quietline.clock import FixedClock
from quietline.edge import EdgeStore, create_app
from quietline.protocol.encoding import b64_decode
from quietline.protocol.messages import encrypt_cover_u2c
from tests.edge.submissions import covernode_keys, publish_keys, queue_form
from tests.support.coverdrop_clients import (
    ANDROID_HEADERS,
    IOS_HEADERS,
    android_u2c_body,
    ios_u2c_body,
)
from tests.support.edge_server import serve
from tests.support.organisation import Organisation


@pytest.fixture
def served(
    store: EdgeStore, organization: Organisation, clock: FixedClock
) -> Iterator[httpx.Client]:
    """A client of a real edge server holding the organisation's keys."""
    app = create_app(store, [organization.anchor], clock)
    with serve(app) as url, httpx.Client(base_url=url) as client:
        publish_keys(client, organization)
        yield client


def _pulled(client: httpx.Client, organization: Organisation, clock: FixedClock) -> list[bytes]:
    answer = client.post("/v1/covernode/queue", json=queue_form(organization, clock.now()))
    assert answer.status_code == 200, answer.text
    return [b64_decode(message["data"]) for message in answer.json()["messages"]]


def _u2c(organization: Organisation) -> bytes:
    """A U2C with ``/`` in its base64, so the iOS encoder's escapes are exercised."""
    while True:
        data = encrypt_cover_u2c(covernode_keys(organization)).data
        if b"/" in ios_u2c_body(data):
            return data


def test_the_ios_body_is_padded_with_slashes_escaped(organization: Organisation) -> None:
    body = ios_u2c_body(_u2c(organization))
    assert len(body) > 1033
    assert b"\\/" in body
    assert body.endswith(b'="')


@pytest.mark.parametrize(
    ("app", "headers"),
    [(android_u2c_body, ANDROID_HEADERS), (ios_u2c_body, IOS_HEADERS)],
    ids=["android", "ios"],
)
def test_each_apps_message_is_queued(
    served: httpx.Client,
    organization: Organisation,
    clock: FixedClock,
    app: Callable[[bytes], bytes],
    headers: dict[str, str],
) -> None:
    u2c = _u2c(organization)

    answer = served.post("/user/messages", content=app(u2c), headers=headers)

    assert answer.status_code == 204, answer.text
    assert _pulled(served, organization, clock) == [u2c]


def test_a_chunked_message_is_read_under_the_same_cap(
    served: httpx.Client, organization: Organisation, clock: FixedClock
) -> None:
    u2c = _u2c(organization)
    body = ios_u2c_body(u2c)
    chunks = iter([body[:100], body[100:700], body[700:]])

    answer = served.post("/user/messages", content=chunks, headers=IOS_HEADERS)

    assert answer.request.headers["transfer-encoding"] == "chunked"
    assert answer.status_code == 204, answer.text
    oversized = served.post("/user/messages", content=iter([body] * 3), headers=IOS_HEADERS)
    assert oversized.status_code == 413
    assert _pulled(served, organization, clock) == [u2c]
