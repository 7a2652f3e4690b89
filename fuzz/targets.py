"""What the coverage-guided harness fuzzes: every public parser, with its contract and seeds.

A :class:`Target` is one parser of bytes a peer controls, the errors its contract lets
it raise, and valid inputs made with the project's own constructors to start from. The
property checked on every input is the parser's contract: it returns a value or raises
one of ``allowed``; anything else (a ``KeyError``, an ``OverflowError``, a nacl or zlib
error, a failed assertion) is a crash. A JSON parser's value must also be written back
as JSON that parses to the same value.

The targets are every entry of ``PUBLIC_PARSERS``, the JSON loader beneath the JSON
ones, and the edge's body readers (``quietline.edge.bodies``), which see the
``Content-Length`` header and the body stream of every POST before any parser does.
"""

from __future__ import annotations

import importlib
import json
import struct
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.types import Message
from tests.protocol.valid_inputs import WRITERS, world
from tests.support.coverdrop_clients import ios_u2c_body

from quietline.edge.bodies import Refusal, declared_length, read_capped, read_u2c
from quietline.protocol.api import U2C_BODY_CAP
from quietline.protocol.constants import U2C_ENCRYPTED_LEN
from quietline.protocol.errors import ProtocolError, QuietlineError
from quietline.protocol.jsonvalues import load_json
from quietline.protocol.parsers import PUBLIC_PARSERS


@dataclass(frozen=True)
class Target:
    """One parser of public bytes and its contract."""

    name: str
    parse: Callable[[bytes], object]
    allowed: tuple[type[QuietlineError], ...]
    seeds: Callable[[], list[bytes]]
    json: bool  # whether its input is a JSON document (the harness then mutates its structure)

    def check(self, data: bytes) -> None:
        """Run the parser on ``data``; raises whatever breaks its contract."""
        try:
            value = self.parse(data)
        except self.allowed:
            return
        writer = WRITERS.get(self.name)
        if writer is not None:
            written = json.dumps(writer(value)).encode()
            if self.parse(written) != value:
                raise AssertionError(f"{self.name}: an accepted value reads back differently")


# --- the edge's body readers --------------------------------------------------------------

READERS = ("declared_length", "read_capped", "read_u2c")
_CASE_HEADER = struct.Struct(">BHBH")  # reader, cap or size, flags, header length


@dataclass(frozen=True)
class BodyCase:
    """A POST as the edge's body readers see it: the reader, its cap (``read_u2c`` has its
    own, U2C_BODY_CAP, and ignores this one), the
    Content-Length header's raw value (None: absent), the body in chunks, whether the
    client goes away after the last chunk, and whether it declares the body JSON."""

    reader: str
    limit: int
    content_length: bytes | None
    chunks: tuple[bytes, ...]
    disconnects: bool
    json: bool = True

    def encode(self) -> bytes:
        """The case as the bytes :func:`decode_body_case` reads back."""
        header = self.content_length or b""
        flags = (self.content_length is not None) | (self.disconnects << 1) | (self.json << 2)
        head = _CASE_HEADER.pack(READERS.index(self.reader), self.limit, flags, len(header))
        framed = b"".join(struct.pack(">H", len(chunk)) + chunk for chunk in self.chunks)
        return head + header + framed


def decode_body_case(data: bytes) -> BodyCase:
    """Any bytes as a :class:`BodyCase`: short or garbled framing is read leniently, so that
    every input the fuzzer makes is a request."""
    data = data.ljust(_CASE_HEADER.size, b"\0")
    reader, limit, flags, header_len = _CASE_HEADER.unpack_from(data)
    rest = data[_CASE_HEADER.size :]
    header, rest = rest[:header_len], rest[header_len:]
    chunks: list[bytes] = []
    while len(rest) >= 2:
        (size,) = struct.unpack_from(">H", rest)
        chunks.append(rest[2 : 2 + size])
        rest = rest[2 + size :]
    return BodyCase(
        READERS[reader % len(READERS)],
        limit,
        header if flags & 1 else None,
        tuple(chunks),
        bool(flags & 2),
        bool(flags & 4),
    )


def _request(case: BodyCase) -> Request:
    headers = [] if case.content_length is None else [(b"content-length", case.content_length)]
    if case.json:
        headers.append((b"content-type", b"application/json"))
    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    messages: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": True} for chunk in case.chunks
    ]
    messages.append(
        {"type": "http.disconnect"}
        if case.disconnects
        else {"type": "http.request", "body": b"", "more_body": False}
    )
    pending = iter(messages)

    async def receive() -> Message:
        return next(pending, {"type": "http.disconnect"})

    return Request(scope, receive)


def _run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never waits on anything outside it (our ``receive`` answers at
    once), without an event loop: tens of thousands of cases a second."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise AssertionError("a body reader waited on something other than the request")


async def _collect(stream: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in stream])


def read_body(data: bytes) -> object:
    """The edge's body reader chosen by ``data`` on the request ``data`` describes; checks
    what each reader promises of what it returns, and raises Refusal for a refused body."""
    case = decode_body_case(data)
    request = _request(case)
    if case.reader == "declared_length":
        length = declared_length(request)
        if length is not None and not 0 <= length < 10**18:
            raise AssertionError(f"declared_length answered {length}")
        return length
    sent = b"".join(case.chunks)
    if case.reader == "read_u2c":
        message = _run(read_u2c(request))
        if len(message.data) != U2C_ENCRYPTED_LEN or len(sent) > U2C_BODY_CAP:
            raise AssertionError("read_u2c returned a U2C from a body it should refuse")
        return message
    body = _run(read_capped(request, case.limit))
    if len(body) > case.limit:
        raise AssertionError("read_capped returned more than its cap")
    if body != sent[: len(body)]:
        raise AssertionError("a body reader returned bytes the client did not send")
    return body


def _read_body_or_refuse(data: bytes) -> object:
    try:
        return read_body(data)
    except (Refusal, ProtocolError) as refusal:
        allowed = (400, 413) if decode_body_case(data).json else (400, 413, 415)
        if refusal.status_hint not in allowed:
            raise AssertionError(f"a body was refused with {refusal.status_hint}") from refusal
        raise


def body_seeds() -> list[bytes]:
    """Requests the edge takes: a form under its cap, a body in several chunks, a U2C as
    CoverDrop's Android and iOS apps write it (declared or chunked), and the refusals next
    to them."""
    android = world().valid_input("user_message_body")
    ios = ios_u2c_body(b"\xff" * U2C_ENCRYPTED_LEN)  # every "/" escaped: the largest
    form = world().valid_input("signed_form")
    halves = (form[: len(form) // 2], form[len(form) // 2 :])
    cap = len(form) + 16
    cases = [
        BodyCase("read_capped", cap, str(len(form)).encode(), halves, False),
        BodyCase("read_u2c", U2C_BODY_CAP, str(len(android)).encode(), (android,), False),
        BodyCase("read_u2c", U2C_BODY_CAP, None, (ios[:700], ios[700:]), False),
        BodyCase("read_u2c", U2C_BODY_CAP, b"1033", (android[:500],), True),
        BodyCase("read_u2c", U2C_BODY_CAP, None, (ios, ios), False),
        BodyCase("read_capped", cap, None, halves, False),
        BodyCase("read_capped", 16, str(len(form)).encode(), (form,), False),
        BodyCase("read_capped", cap, str(len(form)).encode(), halves, False, json=False),
        BodyCase("declared_length", 0, b" 1033 ", (), False),
        BodyCase("declared_length", 0, b"12345678901234567890", (), False),
    ]
    return [case.encode() for case in cases]


# --- the table ------------------------------------------------------------------------------


def _parser_seeds(name: str) -> Callable[[], list[bytes]]:
    return lambda: [world().valid_input(name)]


def _json_seeds() -> list[bytes]:
    w = world()
    return [w.valid_input(name) for name in sorted(WRITERS)]


def external_target(spec: str) -> Target:
    """A target named ``module:function``: any ``bytes → value`` callable whose contract
    is the public parsers' (a value or a ProtocolError), seeded with one short input. The
    harness's own tests plant a broken parser this way to see that it is caught."""
    module_name, _, attribute = spec.partition(":")
    parse = getattr(importlib.import_module(module_name), attribute)
    return Target(spec, parse, (ProtocolError,), lambda: [b"seed"], False)


def target(name: str) -> Target:
    """The target called ``name`` in :func:`targets`, or an :func:`external_target`."""
    return external_target(name) if ":" in name else targets()[name]


def targets() -> dict[str, Target]:
    """Every target by name: the public parsers, then ``json`` and ``edge_body``."""
    table = {
        name: Target(name, parse, (ProtocolError,), _parser_seeds(name), name in WRITERS)
        for name, parse in PUBLIC_PARSERS.items()
    }
    table["json"] = Target("json", load_json, (ProtocolError,), _json_seeds, True)
    table["edge_body"] = Target(
        "edge_body", _read_body_or_refuse, (Refusal, ProtocolError), body_seeds, False
    )
    return table
