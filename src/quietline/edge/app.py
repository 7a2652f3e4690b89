"""The edge's HTTP API (docs/api.md) as a Starlette app over an :class:`SqlEdgeStore` and the
submission queues (:class:`quietline.edge.queues.SubmissionQueues`).

Nothing here reads the caller's address, port or headers beyond ``Content-Length`` and
``Content-Type``:
the app cannot log what it never looks at. Every body is size-checked before it is
read; every refusal is ``{"error": ...}`` with a 4xx status; each write is one store
transaction, so a refused request leaves stored data as it was. Submissions are awaited
on the event loop (the queues commit them in groups); signatures are checked in the
thread pool.
"""

from __future__ import annotations

import logging
import pathlib
import re
import traceback
from collections.abc import Sequence
from contextlib import closing
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route as Path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import quietline
from quietline.clock import Clock
from quietline.config import EdgeLimits
from quietline.edge.bodies import (
    DEAD_DROP_BODY_CAP,
    FORM_BODY_CAP,
    error_response,
    read_capped,
    read_u2c,
)
from quietline.edge.keys import (
    VerifiedHierarchy,
    admit_key,
    admit_revocation,
    published_keys,
    status,
)
from quietline.edge.openapi import OPENAPI
from quietline.edge.queues import SubmissionQueues
from quietline.edge.store import SqlEdgeStore
from quietline.protocol.api import (
    DEAD_DROP_BACK_MAX,
    DEAD_DROP_LIMIT,
    DEAD_DROP_PAGE,
    DEAD_DROP_SUMMARY_COUNT,
    HEALTHCHECK,
    WITH_STATEMENTS,
    Direction,
    J2CSubmission,
    KeyEpoch,
    KeySubmission,
    ProfileSubmission,
    Queued,
    QueuePage,
    QueuePull,
    Route,
    StoredId,
    dead_drop_summary,
    parse_j2c_form_data,
    parse_status_event_form_data,
)
from quietline.protocol.boxes import Codec
from quietline.protocol.certificates import KeyRole, SignedKey
from quietline.protocol.coverdrop_forms import CoverDropForm, is_coverdrop_form, open_coverdrop_form
from quietline.protocol.deaddrops import (
    B,
    DeadDrop,
    DeadDropKind,
    JournalistDeadDrop,
    UserDeadDrop,
    dead_drop_page,
)
from quietline.protocol.errors import MalformedInput, QuietlineError, UntrustedKey
from quietline.protocol.forms import SignedForm, open_form
from quietline.protocol.jsonvalues import I64_MAX, load_json
from quietline.protocol.messages import ENCRYPTED_J2C, ENCRYPTED_U2C
from quietline.protocol.profile_forms import (
    ProfilePatch,
    parse_new_profile,
    parse_removal,
    parse_status_change,
)
from quietline.protocol.roles import Revocation
from quietline.protocol.verification import VerifiedKey

DEFAULT_PAGE_BYTES = EdgeLimits().page_bytes
CACHE_KEYS = "public, max-age=60"
CACHE_DEAD_DROPS = "public, max-age=60"
CACHE_STATUS = "public, max-age=30"
CACHE_OPENAPI = "public, max-age=3600"
_DIGITS = re.compile(r"[0-9]{1,19}")
_WINDOW = re.compile(r"[0-9]{1,3}")
_BACK = re.compile(r"[0-9]{1,5}")
_LIMIT = re.compile(r"[0-9]{1,10}")
U32_MAX = 2**32 - 1
_log = logging.getLogger("quietline.edge")
S = TypeVar("S")


def _limit(text: str | None, most: int) -> int:
    """A dead-drop GET's ``limit`` as CoverDrop reads it (a ``NonZeroU32``; MalformedInput
    otherwise), lowered to ``most``; ``most`` without one."""
    if text is None:
        return most
    if not _LIMIT.fullmatch(text) or not 0 < int(text) <= U32_MAX:
        raise MalformedInput("limit must be an integer from 1 to 4294967295")
    return min(int(text), most)


def _raw(keys: Sequence[VerifiedKey]) -> set[bytes]:
    return {key.key for key in keys}


def _no_content() -> Response:
    return Response(status_code=204, headers={"Cache-Control": "no-store"})


def _stored(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


def _queue_page(codec: Codec[S], rows: Sequence[tuple[int, bytes]]) -> dict[str, Any]:
    return QueuePage(tuple(Queued(seq, codec.decode(data)) for seq, data in rows)).to_json(codec)


class _EdgeRoutes:
    """The route handlers, sharing one store, the queues, the pinned anchors and the clock."""

    def __init__(
        self,
        store: SqlEdgeStore,
        queues: SubmissionQueues,
        anchors: Sequence[SignedKey],
        clock: Clock,
        page_bytes: int,
    ) -> None:
        self.store = store
        self.queues = queues
        self.anchors = tuple(anchors)
        self.hierarchy = VerifiedHierarchy(store, anchors)
        self.clock = clock
        self.page_bytes = page_bytes

    def _open_form(self, document: object, role: KeyRole) -> dict[str, Any]:
        """The payload of a signed form by a currently verified key of ``role``; raises
        ProtocolError (BadSignature, UntrustedKey, ...) otherwise."""
        now = self.clock.now()
        form = SignedForm.from_json(document)
        allowed = self.hierarchy.at(now).signing_keys(role)
        return open_form(form, allowed, now)

    def _open_coverdrop_form(self, document: object, role: KeyRole) -> bytes:
        """The data of a CoverDrop ``Form`` by a currently verified key of ``role``; raises
        ProtocolError otherwise."""
        now = self.clock.now()
        form = CoverDropForm.from_json(document)
        allowed = self.hierarchy.at(now).signing_keys(role)
        return open_coverdrop_form(form, allowed, now)

    # --- reads (sync: Starlette runs them in its thread pool) ---------------------------

    def public_keys(self, request: Request) -> JSONResponse:
        asked = all(request.query_params.get(k) == v for k, v in WITH_STATEMENTS.items())
        document = published_keys(self.store, self.anchors, self.clock.now(), with_statements=asked)
        return JSONResponse(document.to_json(), headers={"Cache-Control": CACHE_KEYS})

    def dead_drops(self, request: Request, body_type: type[B]) -> Response:
        """The dead drops after ``ids_greater_than``, in id order, and no more than fit in
        ``page_bytes`` (at least one): those past it are never read from the store.

        With ``limit`` (CoverDrop's query, ``api/src/controllers/dead_drops.rs``), at most
        that many, lowered to the kind's DEAD_DROP_LIMIT, which is also the number without
        it. With ``window=K`` (1 to DEAD_DROP_PAGE; Quietline's source client) and
        ``back=J`` (0 when absent, at most DEAD_DROP_BACK_MAX), the K dead drops that come
        just before the newest J, in id order (fewer only when the edge holds fewer than
        J + K): a question about the edge's state alone, which names nothing a reader
        has seen, so ``ids_greater_than`` and ``limit`` are not read then.
        """
        text = request.query_params.get("ids_greater_than", "0")
        if not _DIGITS.fullmatch(text) or int(text) > I64_MAX:
            raise MalformedInput("ids_greater_than must be a non-negative integer")
        window = request.query_params.get("window")
        now = self.clock.now()
        if window is not None:
            back = request.query_params.get("back", "0")
            windowed = self._window(body_type, window, back, now)
            page = dead_drop_page(windowed, self.page_bytes)
        else:
            size = _limit(request.query_params.get("limit"), DEAD_DROP_LIMIT[body_type.KIND])
            found = self.store.dead_drops_after(body_type, int(text), size, now)
            with closing(found):
                page = dead_drop_page(found, self.page_bytes)
        return Response(
            page,
            media_type="application/json",
            headers={"Cache-Control": CACHE_DEAD_DROPS},
        )

    def _window(
        self, body_type: type[B], window: str, back: str, now: datetime
    ) -> list[DeadDrop[B]]:
        if not _WINDOW.fullmatch(window) or not 1 <= int(window) <= DEAD_DROP_PAGE:
            raise MalformedInput(f"window must be an integer from 1 to {DEAD_DROP_PAGE}")
        if not _BACK.fullmatch(back) or int(back) > DEAD_DROP_BACK_MAX:
            raise MalformedInput(f"back must be an integer from 0 to {DEAD_DROP_BACK_MAX}")
        return self.store.newest_dead_drops(body_type, int(window), now, skip=int(back))

    def status(self, _: Request) -> JSONResponse:
        now = self.clock.now()
        try:
            verified = self.hierarchy.at(now)
        except UntrustedKey:
            verified = None
        answer = status(verified, self.store.latest_status(), now).to_json()
        return JSONResponse(answer, headers={"Cache-Control": CACHE_STATUS})

    def healthcheck(self, _: Request) -> JSONResponse:
        return JSONResponse(HEALTHCHECK, headers={"Cache-Control": CACHE_STATUS})

    def dead_drop_summary(self, request: Request) -> JSONResponse:
        user = request.url.path == Route.USER_DEAD_DROP_SUMMARY
        kind = DeadDropKind.USER if user else DeadDropKind.JOURNALIST
        found = self.store.dead_drop_summary(kind, DEAD_DROP_SUMMARY_COUNT, self.clock.now())
        return JSONResponse(dead_drop_summary(found), headers={"Cache-Control": CACHE_DEAD_DROPS})

    def openapi(self, _: Request) -> JSONResponse:
        return JSONResponse(OPENAPI, headers={"Cache-Control": CACHE_OPENAPI})

    # --- writes: read the capped body here, do the work in the thread pool --------------

    async def user_message(self, request: Request) -> Response:
        message = await read_u2c(request)
        await self.queues.enqueue(Direction.USER, message.data)
        return _no_content()

    async def journalist_message(self, request: Request) -> Response:
        body = await read_capped(request, FORM_BODY_CAP)
        data = await run_in_threadpool(self._journalist_message, body)
        await self.queues.enqueue(Direction.JOURNALIST, data)
        return _no_content()

    def _journalist_message(self, body: bytes) -> bytes:
        """The encrypted J2C of a CoverDrop ``Form`` (as its journalist client posts it,
        ``api/src/controllers/journalist_message.rs``) or of Quietline's own signed form."""
        document = load_json(body)
        if is_coverdrop_form(document):
            data = self._open_coverdrop_form(document, KeyRole.JOURNALIST_ID)
            message = parse_j2c_form_data(data)
        else:
            message = J2CSubmission.from_json(
                self._open_form(document, KeyRole.JOURNALIST_ID)
            ).message
        return message.data

    async def keys(self, request: Request) -> Response:
        body = await read_capped(request, FORM_BODY_CAP)
        return await run_in_threadpool(self._keys, body)

    def _keys(self, body: bytes) -> Response:
        submission = KeySubmission.from_json(load_json(body))
        epoch = admit_key(self.store, self.anchors, submission, self.clock.now())
        return _stored(KeyEpoch(epoch).to_json())

    async def revocations(self, request: Request) -> Response:
        body = await read_capped(request, FORM_BODY_CAP)
        return await run_in_threadpool(self._revocations, body)

    def _revocations(self, body: bytes) -> Response:
        revocation = Revocation.from_json(load_json(body))
        admit_revocation(self.store, self.anchors, revocation, self.clock.now())
        return _no_content()

    async def post_status(self, request: Request) -> Response:
        body = await read_capped(request, FORM_BODY_CAP)
        return await run_in_threadpool(self._post_status, body)

    def _post_status(self, body: bytes) -> Response:
        """A status set by the operator in CoverDrop's ``PostSystemStatusEventForm``
        (``api/src/controllers/general.rs``). CoverDrop signs it with an admin key the
        organisation key certifies; Quietline has no admin role, so the pinned
        organisation key itself must sign it."""
        form = CoverDropForm.from_json(load_json(body))
        allowed = [anchor.signing_key() for anchor in self.anchors]
        data = open_coverdrop_form(form, allowed, self.clock.now())
        self.store.put_status(parse_status_event_form_data(data))
        return _no_content()

    async def journalist_profile(self, request: Request) -> Response:
        body = await read_capped(request, FORM_BODY_CAP)
        return await run_in_threadpool(self._journalist_profile, body)

    def _journalist_profile(self, body: bytes) -> Response:
        payload = self._open_form(load_json(body), KeyRole.JOURNALIST_PROVISIONING)
        submission = ProfileSubmission.from_json(payload)
        self.store.put_profile(submission.profile, default=submission.default)
        return _no_content()

    # --- CoverDrop's profile management (api/src/controllers/keys.rs, journalist_status.rs)

    async def new_journalist(self, request: Request) -> Response:
        body = await read_capped(request, FORM_BODY_CAP)
        return await run_in_threadpool(self._new_journalist, body)

    def _new_journalist(self, body: bytes) -> Response:
        """A profile from CoverDrop's admin tool (``PostJournalistForm``): a new one, or
        one that replaces the profile of the same id, as CoverDrop's upsert does; the
        default recipient stays as it is."""
        data = self._open_coverdrop_form(load_json(body), KeyRole.JOURNALIST_PROVISIONING)
        profile = parse_new_profile(data)
        _, default = self.store.profiles()
        self.store.put_profile(profile, default=default == profile.id)
        return _no_content()

    async def update_journalist_profile(self, request: Request) -> Response:
        body = await read_capped(request, FORM_BODY_CAP)
        return await run_in_threadpool(self._update_journalist_profile, body)

    def _update_journalist_profile(self, body: bytes) -> Response:
        data = self._open_coverdrop_form(load_json(body), KeyRole.JOURNALIST_PROVISIONING)
        patch = ProfilePatch.parse(data)
        self.store.change_profile(patch.journalist_id, patch.applied_to)
        return _no_content()

    async def update_journalist_status(self, request: Request) -> Response:
        body = await read_capped(request, FORM_BODY_CAP)
        return await run_in_threadpool(self._update_journalist_status, body)

    def _update_journalist_status(self, body: bytes) -> Response:
        """A journalist hides themself (or shows themself again): the form must be signed
        by an identity key of the journalist it names."""
        now = self.clock.now()
        form = CoverDropForm.from_json(load_json(body))
        identities = self.hierarchy.at(now).of_role(KeyRole.JOURNALIST_ID)
        signer = next(
            (owner for owner, keys in identities.items() if form.signing_key.raw in _raw(keys)),
            None,
        )
        if signer is None:
            raise UntrustedKey("the form is not signed by a journalist's identity key")
        allowed = [key.signing_key() for key in identities[signer]]
        recipient, new_status = parse_status_change(open_coverdrop_form(form, allowed, now))
        if recipient != signer:
            raise UntrustedKey("a journalist may change only their own status")
        self.store.change_profile(recipient, lambda profile: replace(profile, status=new_status))
        return _no_content()

    async def delete_journalist(self, request: Request) -> Response:
        body = await read_capped(request, FORM_BODY_CAP)
        return await run_in_threadpool(self._delete_journalist, body)

    def _delete_journalist(self, body: bytes) -> Response:
        data = self._open_coverdrop_form(load_json(body), KeyRole.JOURNALIST_PROVISIONING)
        self.store.remove_profile(parse_removal(data))
        return _no_content()

    async def post_dead_drop(self, request: Request, body_type: type[B]) -> Response:
        body = await read_capped(request, DEAD_DROP_BODY_CAP)
        return await run_in_threadpool(self._post_dead_drop, body_type, body)

    def _post_dead_drop(self, body_type: type[B], body: bytes) -> Response:
        dead_drop = body_type.from_json(load_json(body))
        now = self.clock.now()
        dead_drop.verify(self.hierarchy.at(now))
        # A desk waits for keys newer than a dead drop's epoch: one that names an epoch
        # no key has would stall every desk.
        if isinstance(dead_drop, JournalistDeadDrop) and dead_drop.epoch > self.store.max_epoch():
            raise MalformedInput("the dead drop's epoch is newer than every published key")
        return _stored(StoredId(self.store.add_dead_drop(dead_drop, now)).to_json())

    async def user_dead_drops(self, request: Request) -> Response:
        if request.method == "POST":
            return await self.post_dead_drop(request, UserDeadDrop)
        return await run_in_threadpool(self.dead_drops, request, UserDeadDrop)

    async def journalist_dead_drops(self, request: Request) -> Response:
        if request.method == "POST":
            return await self.post_dead_drop(request, JournalistDeadDrop)
        return await run_in_threadpool(self.dead_drops, request, JournalistDeadDrop)

    async def covernode_queue(self, request: Request) -> Response:
        body = await read_capped(request, FORM_BODY_CAP)
        pull = await run_in_threadpool(self._queue_pull, body)
        rows = await self.queues.pull(pull.direction, pull.after, pull.limit, pull.ack_through)
        return await run_in_threadpool(self._queue_page, pull.direction, rows)

    def _queue_pull(self, body: bytes) -> QueuePull:
        return QueuePull.from_json(self._open_form(load_json(body), KeyRole.COVERNODE_ID))

    def _queue_page(self, direction: Direction, rows: Sequence[tuple[int, bytes]]) -> Response:
        if direction is Direction.USER:
            return _stored(_queue_page(ENCRYPTED_U2C, rows))
        return _stored(_queue_page(ENCRYPTED_J2C, rows))


# --- errors -------------------------------------------------------------------------------


_OUR_CODE = str(pathlib.Path(quietline.__file__).resolve().parent)


def _our_frame(error: BaseException) -> str:
    """Where in Quietline's code ``error`` was raised (file and line), nothing else."""
    frames = traceback.extract_tb(error.__traceback__)
    ours = [frame for frame in frames if frame.filename.startswith(_OUR_CODE)] or frames
    if not ours:
        return "unknown location"
    return f"{ours[-1].filename}:{ours[-1].lineno}"


def _bug(error: BaseException) -> Response:
    """A 500 whose type and code location (never its message, which could hold request
    data) go to the operator's log."""
    _log.error("a request failed with %s at %s", type(error).__name__, _our_frame(error))
    return error_response(500, "the edge failed")


def _refused(_: Request, error: Exception) -> Response:
    """Every refusal, with the status the error itself names."""
    if isinstance(error, HTTPException):
        response = error_response(error.status_code, error.detail)
        if error.headers:
            response.headers.update(error.headers)
        return response
    # A QuietlineError that names 500 (a MisuseError) is our bug too, not a refusal.
    if isinstance(error, QuietlineError) and error.status_hint != 500:
        return error_response(error.status_hint, error.message, error.retry_after_seconds)
    return _bug(error)


class _CatchBugs:
    """The outermost layer of the app: any exception that escapes the routes is answered
    with a logged 500 here and goes no further, so no server prints a traceback (whose
    last line, the exception's message, could hold request data)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as error:
            response = _bug(error)
            if scope["type"] == "http" and not started:
                await response(scope, receive, send)


def create_app(
    store: SqlEdgeStore,
    anchors: Sequence[SignedKey],
    clock: Clock,
    *,
    queues: SubmissionQueues,
    page_bytes: int = DEFAULT_PAGE_BYTES,
) -> Starlette:
    """The edge app over ``store`` and ``queues``, trusting keys that chain to ``anchors``;
    a page of dead drops stops growing at ``page_bytes`` of JSON.

    Raises BadSignature when an anchor's self-certificate does not verify.
    """
    for anchor in anchors:
        anchor.verify_certificate(anchor.signing_key())
    edge = _EdgeRoutes(store, queues, anchors, clock, page_bytes)
    routes = [
        Path(Route.PUBLIC_KEYS, edge.public_keys, methods=["GET"]),
        Path(Route.USER_DEAD_DROPS, edge.user_dead_drops, methods=["GET", "POST"]),
        Path(Route.JOURNALIST_DEAD_DROPS, edge.journalist_dead_drops, methods=["GET", "POST"]),
        Path(Route.STATUS, edge.status, methods=["GET"]),
        Path(Route.STATUS, edge.post_status, methods=["POST"]),
        Path(Route.HEALTHCHECK, edge.healthcheck, methods=["GET"]),
        Path(Route.USER_DEAD_DROP_SUMMARY, edge.dead_drop_summary, methods=["GET"]),
        Path(Route.JOURNALIST_DEAD_DROP_SUMMARY, edge.dead_drop_summary, methods=["GET"]),
        Path(Route.USER_MESSAGES, edge.user_message, methods=["POST"]),
        Path(Route.JOURNALIST_MESSAGES, edge.journalist_message, methods=["POST"]),
        Path(Route.KEYS, edge.keys, methods=["POST"]),
        Path(Route.REVOCATIONS, edge.revocations, methods=["POST"]),
        Path(Route.JOURNALIST_PROFILES, edge.journalist_profile, methods=["POST"]),
        Path(Route.COVERNODE_QUEUE, edge.covernode_queue, methods=["POST"]),
        Path(Route.NEW_JOURNALIST, edge.new_journalist, methods=["POST"]),
        Path(Route.UPDATE_JOURNALIST_PROFILE, edge.update_journalist_profile, methods=["PATCH"]),
        Path(Route.UPDATE_JOURNALIST_STATUS, edge.update_journalist_status, methods=["PATCH"]),
        Path(Route.DELETE_JOURNALIST, edge.delete_journalist, methods=["DELETE"]),
        Path(Route.OPENAPI, edge.openapi, methods=["GET"]),
    ]
    # No handler for Exception: Starlette answers those from its outermost middleware and
    # then re-raises them to the server; _CatchBugs answers them inside instead.
    return Starlette(
        routes=routes,
        middleware=[Middleware(_CatchBugs)],
        exception_handlers={HTTPException: _refused, QuietlineError: _refused},
    )
