"""Body type and size checks happen before reading, and reading stops at the cap."""

from __future__ import annotations

import asyncio

import pytest
from starlette.requests import Request
from starlette.types import Message

from quietline.edge.bodies import Refusal, read_capped


def _request(headers: dict[str, str], chunks: list[bytes]) -> tuple[Request, list[int]]:
    """A request (declared JSON unless ``headers`` say otherwise) whose body arrives in
    ``chunks``; the list counts how many were read."""
    headers = {"content-type": "application/json", **headers}
    reads: list[int] = []

    async def receive() -> Message:
        index = len(reads)
        reads.append(index)
        return {
            "type": "http.request",
            "body": chunks[index],
            "more_body": index + 1 < len(chunks),
        }

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    return Request(scope, receive), reads


def test_a_declared_length_over_the_cap_is_refused_without_reading() -> None:
    request, reads = _request({"content-length": str(10**9)}, [b"x" * 10])
    with pytest.raises(Refusal) as refusal:
        asyncio.run(read_capped(request, 1024))
    assert refusal.value.status_hint == 413
    assert reads == []


def test_an_undeclared_body_stops_being_read_past_the_cap() -> None:
    request, reads = _request({}, [b"x" * 600, b"x" * 600, b"x" * 600, b"x" * 600])
    with pytest.raises(Refusal) as refusal:
        asyncio.run(read_capped(request, 1000))
    assert refusal.value.status_hint == 413
    assert len(reads) == 2


def test_a_body_longer_than_it_declared_is_refused() -> None:
    request, reads = _request({"content-length": "10"}, [b"x" * 600, b"x" * 600])
    with pytest.raises(Refusal):
        asyncio.run(read_capped(request, 100))
    assert len(reads) == 1


def test_a_body_within_the_cap_is_read_whole() -> None:
    request, _ = _request({"content-length": "6"}, [b"abc", b"def"])
    assert asyncio.run(read_capped(request, 6)) == b"abcdef"


@pytest.mark.parametrize("value", ["-1", "1e3", "0x10", "", "\uff11\uff12"])
def test_a_garbled_content_length_is_refused(value: str) -> None:
    request, reads = _request({"content-length": value}, [b""])
    with pytest.raises(Refusal) as refusal:
        asyncio.run(read_capped(request, 100))
    assert refusal.value.status_hint == 400
    assert reads == []


# The types a web page can post to another site without asking it first, and others.
NOT_JSON = [
    "text/plain",
    "text/plain; charset=utf-8",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=abc",
    "text/json",
    "application/jsonp",
    "application/json-patch+json",
    "",
]


@pytest.mark.parametrize("content_type", NOT_JSON)
def test_a_body_not_declared_json_is_refused_with_415_unread(content_type: str) -> None:
    request, reads = _request({"content-type": content_type, "content-length": "2"}, [b"{}"])
    with pytest.raises(Refusal) as refusal:
        asyncio.run(read_capped(request, 2))
    assert refusal.value.status_hint == 415
    assert reads == []


def test_a_body_without_a_content_type_is_refused_with_415() -> None:
    request, _ = _request({"content-length": "2"}, [b"{}"])
    request.scope["headers"] = [(b"content-length", b"2")]
    with pytest.raises(Refusal) as refusal:
        asyncio.run(read_capped(request, 2))
    assert refusal.value.status_hint == 415


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON "]
)
def test_json_with_or_without_parameters_is_read(content_type: str) -> None:
    request, _ = _request({"content-type": content_type, "content-length": "2"}, [b"{}"])
    assert asyncio.run(read_capped(request, 2)) == b"{}"
