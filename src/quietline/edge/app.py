"""The edge's HTTP API (docs/api.md) as a Starlette app over an :class:`EdgeStore`.

Nothing here reads the caller's address, port or headers beyond ``Content-Length``:
the app cannot log what it never looks at. Every body is size-checked before it is
read; every refusal is ``{"error": ...}`` with a 4xx status; each write is one store
transaction, so a refused request leaves stored data as it was.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from quietline.clock import Clock
from quietline.edge.bodies import (
    DEAD_DROP_BODY_CAP,
    FORM_BODY_CAP,
    Refusal,
    error_response,
    read_capped,
    read_exact,
)
from quietline.edge.keys import (
    KeySubmission,
    admit_key,
    published_keys,
    status_json,
    verified_keys,
)
from quietline.edge.openapi import OPENAPI
from quietline.edge.store import DeadDropConflict, Direction, EdgeStore, KeyConflict
from quietline.protocol.certificates import KeyRole, SignedKey
from quietline.protocol.constants import U2C_ENCRYPTED_LEN
from quietline.protocol.deaddrops import DeadDropKind, UnpublishedDeadDrop, dead_drop_list_json
from quietline.protocol.encoding import b64_decode, b64_encode
from quietline.protocol.errors import (
    BadSignature,
    MalformedInput,
    ProtocolError,
    UntrustedKey,
)
from quietline.protocol.forms import SignedForm, open_form
from quietline.protocol.hierarchy import JournalistProfile
from quietline.protocol.messages import RecipientTag, parse_j2c, parse_u2c
from quietline.protocol.parsers import load_json

# A JSON string of the unpadded base64 of a U2C: 1,031 characters and two quotes.
U2C_BODY_LEN = (U2C_ENCRYPTED_LEN * 4 + 2) // 3 + 2
DEAD_DROP_PAGE = 100
QUEUE_PULL_MAX = 1000
MAX_SEQ = 2**63 - 1
CACHE_KEYS = "public, max-age=60"
CACHE_DEAD_DROPS = "public, max-age=60"
CACHE_STATUS = "public, max-age=30"
CACHE_OPENAPI = "public, max-age=3600"
_DIGITS = re.compile(r"[0-9]{1,19}")
_DIRECTIONS = {direction.value: direction for direction in Direction}


def _integer(fields: dict[str, Any], name: str, low: int, high: int) -> int:
    value = fields.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise MalformedInput(f"{name} must be an integer from {low} to {high}")
    return value


def _no_content() -> Response:
    return Response(status_code=204, headers={"Cache-Control": "no-store"})


def _stored(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


class _EdgeRoutes:
    """The route handlers, sharing one store, the pinned anchors and the clock."""

    def __init__(self, store: EdgeStore, anchors: Sequence[SignedKey], clock: Clock) -> None:
        self.store = store
        self.anchors = tuple(anchors)
        self.clock = clock

    def _open_form(self, body: bytes, role: KeyRole) -> dict[str, Any]:
        """The payload of a signed form by a currently verified key of ``role``."""
        now = self.clock.now()
        form = SignedForm.from_json(load_json(body))
        allowed = verified_keys(self.store, self.anchors, now).signing_keys(role)
        return open_form(form, allowed, now)

    # --- reads (sync: Starlette runs them in its thread pool) ---------------------------

    def public_keys(self, _: Request) -> JSONResponse:
        document = published_keys(self.store, self.anchors, self.clock.now())
        return JSONResponse(document.to_json(), headers={"Cache-Control": CACHE_KEYS})

    def dead_drops(self, request: Request, kind: DeadDropKind) -> JSONResponse:
        text = request.query_params.get("ids_greater_than", "0")
        if not _DIGITS.fullmatch(text) or int(text) > MAX_SEQ:
            raise Refusal(400, "ids_greater_than must be a non-negative integer")
        found = self.store.dead_drops(kind, int(text), DEAD_DROP_PAGE, self.clock.now())
        return JSONResponse(dead_drop_list_json(found), headers={"Cache-Control": CACHE_DEAD_DROPS})

    def status(self, _: Request) -> JSONResponse:
        now = self.clock.now()
        try:
            verified = verified_keys(self.store, self.anchors, now)
        except UntrustedKey:
            verified = None
        return JSONResponse(status_json(verified, now), headers={"Cache-Control": CACHE_STATUS})

    def openapi(self, _: Request) -> JSONResponse:
        return JSONResponse(OPENAPI, headers={"Cache-Control": CACHE_OPENAPI})

    # --- writes: read the capped body here, do the work in the thread pool --------------

    async def user_message(self, request: Request) -> Response:
        body = await read_exact(request, U2C_BODY_LEN)
        text = load_json(body)
        message = parse_u2c(b64_decode(text))
        await run_in_threadpool(self.store.enqueue, Direction.USER, message.data)
        return _no_content()

    async def journalist_message(self, request: Request) -> Response:
        body = await read_capped(request, FORM_BODY_CAP)
        return await run_in_threadpool(self._journalist_message, body)

    def _journalist_message(self, body: bytes) -> Response:
        payload = self._open_form(body, KeyRole.JOURNALIST_ID)
        message = parse_j2c(b64_decode(payload.get("message")))
        self.store.enqueue(Direction.JOURNALIST, message.data)
        return _no_content()

    async def keys(self, request: Request) -> Response:
        body = await read_capped(request, FORM_BODY_CAP)
        return await run_in_threadpool(self._keys, body)

    def _keys(self, body: bytes) -> Response:
        submission = KeySubmission.from_json(load_json(body))
        epoch = admit_key(self.store, self.anchors, submission, self.clock.now())
        return _stored({"epoch": epoch})

    async def journalist_profile(self, request: Request) -> Response:
        body = await read_capped(request, FORM_BODY_CAP)
        return await run_in_threadpool(self._journalist_profile, body)

    def _journalist_profile(self, body: bytes) -> Response:
        payload = self._open_form(body, KeyRole.JOURNALIST_PROVISIONING)
        profile = JournalistProfile.from_json(payload.get("profile"))
        default = payload.get("default")
        if not isinstance(default, bool):
            raise MalformedInput("default must be true or false")
        if not 0 < len(profile.id) <= 128:
            raise MalformedInput("a recipient id must be 1 to 128 characters")
        if profile.tag != RecipientTag.of(profile.id):
            raise MalformedInput("the profile's tag must be the first 4 bytes of SHA-256(id)")
        self.store.put_profile(profile, default=default)
        return _no_content()

    async def post_dead_drop(self, request: Request, kind: DeadDropKind) -> Response:
        body = await read_capped(request, DEAD_DROP_BODY_CAP)
        return await run_in_threadpool(self._post_dead_drop, kind, body)

    def _post_dead_drop(self, kind: DeadDropKind, body: bytes) -> Response:
        dead_drop = UnpublishedDeadDrop.from_json(kind, load_json(body))
        now = self.clock.now()
        dead_drop.verify(verified_keys(self.store, self.anchors, now))
        # A desk waits for keys newer than a dead drop's epoch: one that names an epoch
        # no key has would stall every desk.
        if dead_drop.epoch is not None and dead_drop.epoch > self.store.max_epoch():
            raise MalformedInput("the dead drop's epoch is newer than every published key")
        return _stored({"id": self.store.add_dead_drop(dead_drop, now)})

    async def user_dead_drops(self, request: Request) -> Response:
        if request.method == "POST":
            return await self.post_dead_drop(request, DeadDropKind.USER)
        return await run_in_threadpool(self.dead_drops, request, DeadDropKind.USER)

    async def journalist_dead_drops(self, request: Request) -> Response:
        if request.method == "POST":
            return await self.post_dead_drop(request, DeadDropKind.JOURNALIST)
        return await run_in_threadpool(self.dead_drops, request, DeadDropKind.JOURNALIST)

    async def covernode_queue(self, request: Request) -> Response:
        body = await read_capped(request, FORM_BODY_CAP)
        return await run_in_threadpool(self._covernode_queue, body)

    def _covernode_queue(self, body: bytes) -> Response:
        payload = self._open_form(body, KeyRole.COVERNODE_ID)
        name = payload.get("direction")
        direction = _DIRECTIONS.get(name) if isinstance(name, str) else None
        if direction is None:
            raise MalformedInput('direction must be "user" or "journalist"')
        after = _integer(payload, "after", 0, MAX_SEQ)
        limit = _integer(payload, "limit", 1, QUEUE_PULL_MAX)
        ack_through = _integer(payload, "ack_through", 0, MAX_SEQ)
        pulled = self.store.pull(direction, after, limit, ack_through)
        return _stored({"messages": [{"seq": s, "data": b64_encode(d)} for s, d in pulled]})


# --- errors -------------------------------------------------------------------------------


# Checked in order: the first class the error is an instance of gives the status.
_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (BadSignature, 403),
    (UntrustedKey, 403),
    (ProtocolError, 400),
    (KeyConflict, 409),
    (DeadDropConflict, 409),
)


def _refused(_: Request, error: Exception) -> Response:
    if isinstance(error, Refusal):
        return error_response(error.status, error.reason)
    if isinstance(error, HTTPException):
        return error_response(error.status_code, error.detail)
    status = next((code for kind, code in _STATUS if isinstance(error, kind)), None)
    if status is not None:
        return error_response(status, str(error))
    if isinstance(error, sqlite3.OperationalError):
        return error_response(503, "the edge's store is busy; try again")
    return error_response(500, "the edge failed")


def _http_error(request: Request, error: Exception) -> Response:
    response = _refused(request, error)
    if isinstance(error, HTTPException) and error.headers:
        response.headers.update(error.headers)
    return response


def create_app(store: EdgeStore, anchors: Sequence[SignedKey], clock: Clock) -> Starlette:
    """The edge app over ``store``, trusting keys that chain to ``anchors``.

    Raises BadSignature when an anchor's self-certificate does not verify.
    """
    for anchor in anchors:
        anchor.verify_certificate(anchor.signing_key())
    edge = _EdgeRoutes(store, anchors, clock)
    routes = [
        Route("/v1/public-keys", edge.public_keys, methods=["GET"]),
        Route("/v1/user/dead-drops", edge.user_dead_drops, methods=["GET", "POST"]),
        Route("/v1/journalist/dead-drops", edge.journalist_dead_drops, methods=["GET", "POST"]),
        Route("/v1/status", edge.status, methods=["GET"]),
        Route("/user/messages", edge.user_message, methods=["POST"]),
        Route("/v1/journalist-messages", edge.journalist_message, methods=["POST"]),
        Route("/v1/keys", edge.keys, methods=["POST"]),
        Route("/v1/journalist-profiles", edge.journalist_profile, methods=["POST"]),
        Route("/v1/covernode/queue", edge.covernode_queue, methods=["POST"]),
        Route("/openapi.json", edge.openapi, methods=["GET"]),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={
            HTTPException: _http_error,
            Refusal: _refused,
            ProtocolError: _refused,
            KeyConflict: _refused,
            DeadDropConflict: _refused,
            sqlite3.OperationalError: _refused,
            Exception: _refused,
        },
    )
