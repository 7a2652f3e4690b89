"""The desk's pages as a Starlette application, behind :func:`~quietline.desk.web.guard.guarded`.

Every form and the JSON endpoint that takes text carry the session's CSRF token; the
session cookie is HttpOnly and SameSite=Strict. A locked session sees nothing but the
unlock page: every other page redirects there, every JSON endpoint answers 401.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qsl

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from quietline.clock import Clock
from quietline.desk.report import DeskReport
from quietline.desk.service import Desk, EdgeFailure
from quietline.desk.state import Conversation, DeskState, UnknownSource
from quietline.desk.web import pages
from quietline.desk.web.guard import guarded
from quietline.desk.web.pseudonyms import pseudonym
from quietline.desk.web.sessions import Session, Sessions
from quietline.protocol.errors import MessageTooLong, QuietlineError
from quietline.protocol.hierarchy import JournalistProfile
from quietline.protocol.pcs import PaddedCompressedString
from quietline.vault import VaultLocked

COOKIE = "quietline_desk"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
MAX_ALIAS = 80
MAX_NOTES = 10_000
FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 64 * 1024  # a reply fits in 512 compressed bytes; notes in 10,000 characters


@dataclass
class Directory:
    """The recipients the organisation publishes, fetched at most once per ``ttl``."""

    ttl: timedelta
    fetched_at: datetime | None = None
    profiles: list[JournalistProfile] = field(default_factory=list)
    problem: str | None = None


class DeskWeb:
    """What the pages work with: the desk, its sessions, the loop's last report."""

    def __init__(self, desk: Desk, clock: Clock, idle: timedelta, poll_seconds: float = 5) -> None:
        self.desk = desk
        self.clock = clock
        self.poll_seconds = poll_seconds  # how often an open page asks for new messages
        self.sessions = Sessions(idle)
        self.report: DeskReport | None = None
        self.on_unlock: Callable[[], None] = lambda: None
        self.directory = Directory(desk.period)
        # One key derivation at a time: each takes much memory, and guesses queue up.
        self._derivation = threading.Lock()
        self._directory_lock = threading.Lock()
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("quietline.desk.web", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )

    def check_passphrase(self, passphrase: str) -> bool:
        """Whether ``passphrase`` opens the desk vault (it is then the desk's key)."""
        with self._derivation:
            try:
                self.desk.store.unlock(passphrase)
            except VaultLocked:
                return False
        # The loop needs the keys; a vault written before the desk's pseudonym key
        # existed gets one saved now, so names stay stable.
        with self.desk.store.transaction():
            pass
        return True

    def published(self, now: datetime) -> Directory:
        with self._directory_lock:
            held = self.directory
            if held.fetched_at is None or now - held.fetched_at > held.ttl or held.problem:
                try:
                    held.profiles, held.problem = self.desk.published_recipients(now), None
                except EdgeFailure as error:
                    held.profiles, held.problem = [], f"the edge cannot list recipients: {error}"
                held.fetched_at = now
            return held


Handler = Callable[[Request, DeskWeb, Session], Awaitable[Response]]


def create_app(web: DeskWeb) -> ASGIApp:
    """The desk's pages over ``web``, behind :func:`guarded`."""
    static = files("quietline.desk.web").joinpath("static")

    def page(handler: Handler, *, unlocked: bool = True, csrf: bool = False) -> Any:
        async def endpoint(request: Request) -> Response:
            now = web.clock.now()
            session = web.sessions.get(request.cookies.get(COOKIE), now)
            fresh = session is None
            if session is None:
                session = web.sessions.new(now)
            if unlocked and not session.unlocked:
                response: Response = (
                    JSONResponse({"error": "locked"}, status_code=401)
                    if request.url.path.startswith("/api/")
                    else RedirectResponse("/unlock", status_code=303)
                )
            elif csrf and not await _csrf_ok(request, session):
                response = _render(
                    web, session, "error.html", 403,
                    message="This form has expired or did not come from this desk. "
                    "Go back, reload the page and try again.",
                )  # fmt: skip
            else:
                if unlocked and request.url.path != "/api/updates":
                    web.sessions.touch(session, now)
                response = await handler(request, web, session)
            switched = getattr(response, "session_id", None)
            if switched is not None:
                _set_cookie(response, switched)
            elif fresh:
                _set_cookie(response, session.id)
            return response

        return endpoint

    routes = [
        Route("/", page(_home, unlocked=False)),
        Route("/unlock", page(_unlock_form, unlocked=False), methods=["GET"]),
        Route("/unlock", page(_unlock, unlocked=False, csrf=True), methods=["POST"]),
        Route("/lock", page(_lock, csrf=True), methods=["POST"]),
        Route("/inbox", page(_inbox)),
        Route("/sources/{ref:str}", page(_thread), methods=["GET"]),
        Route("/sources/{ref:str}/reply", page(_reply, csrf=True), methods=["POST"]),
        Route("/sources/{ref:str}/notes", page(_notes, csrf=True), methods=["POST"]),
        Route("/sources/{ref:str}/mute", page(_mute, csrf=True), methods=["POST"]),
        Route("/sources/{ref:str}/handover", page(_handover, csrf=True), methods=["POST"]),
        Route("/status", page(_status)),
        Route("/api/space", page(_space, csrf=True), methods=["POST"]),
        Route("/api/updates", page(_updates)),
        Mount("/static", StaticFiles(directory=str(static)), name="static"),
    ]
    return guarded(Starlette(routes=routes))


# --- plumbing ----------------------------------------------------------------------------


async def _body(request: Request) -> bytes | None:
    """The request's body, or None once it passes MAX_FORM_BYTES (not read further)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    return bytes(body)


async def _form(request: Request) -> dict[str, str]:
    """The fields of a URL-encoded form (every form here is one); empty when the body is
    not one, too large, or not UTF-8, so a bad form fails its CSRF check. Read once and
    kept: the CSRF check and the page share it."""
    held: dict[str, str] | None = getattr(request.state, "form", None)
    if held is not None:
        return held
    form: dict[str, str] = {}
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    body = await _body(request) if kind == FORM_TYPE else None
    if body is not None:
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=8)
            form = dict(pairs)
        except (UnicodeDecodeError, ValueError):
            form = {}
    request.state.form = form
    return form


async def _csrf_ok(request: Request, session: Session) -> bool:
    if request.url.path.startswith("/api/"):
        return session.csrf_matches(request.headers.get(CSRF_HEADER))
    return session.csrf_matches((await _form(request)).get(CSRF_FIELD))


def _field(form: dict[str, str], name: str) -> str:
    return form.get(name, "")


def _set_cookie(response: Response, session_id: str) -> None:
    response.set_cookie(COOKIE, session_id, httponly=True, samesite="strict", path="/")


def _render(
    web: DeskWeb, session: Session, template: str, status: int = 200, **values: Any
) -> Response:
    body = web.templates.get_template(template).render(
        csrf=session.csrf, unlocked=session.unlocked, poll=web.poll_seconds, **values
    )
    return HTMLResponse(body, status_code=status)


def _switch(response: Response, session: Session) -> Response:
    """``response`` sets the cookie of ``session`` (a new one: unlocked)."""
    response.session_id = session.id  # type: ignore[attr-defined]
    return response


async def _state(web: DeskWeb) -> DeskState:
    return await run_in_threadpool(web.desk.store.read)


# --- pages -------------------------------------------------------------------------------


async def _home(request: Request, web: DeskWeb, session: Session) -> Response:
    return RedirectResponse("/inbox" if session.unlocked else "/unlock", status_code=303)


async def _unlock_form(request: Request, web: DeskWeb, session: Session) -> Response:
    if session.unlocked:
        return RedirectResponse("/inbox", status_code=303)
    return _render(web, session, "unlock.html", error=None)


async def _unlock(request: Request, web: DeskWeb, session: Session) -> Response:
    passphrase = _field(await _form(request), "passphrase")
    if not passphrase or not await run_in_threadpool(web.check_passphrase, passphrase):
        error = "That passphrase does not open this desk."
        return _render(web, session, "unlock.html", 403, error=error)
    unlocked = web.sessions.unlock(session, web.clock.now())
    web.on_unlock()
    return _switch(RedirectResponse("/inbox", status_code=303), unlocked)


async def _lock(request: Request, web: DeskWeb, session: Session) -> Response:
    web.sessions.lock(session)
    return RedirectResponse("/unlock", status_code=303)


async def _inbox(request: Request, web: DeskWeb, session: Session) -> Response:
    state = await _state(web)
    wanted = request.query_params.get("recipient")
    chosen = wanted if wanted and state.has_recipient(wanted) else None
    return _render(
        web, session, "inbox.html",
        rows=pages.inbox(state, chosen), recipients=state.recipients, chosen=chosen,
        unread=pages.unread_total(state),
    )  # fmt: skip


def _open_thread(web: DeskWeb, ref: str) -> tuple[DeskState, Conversation]:
    """The state and the conversation at ``ref`` as it was before this visit (to show
    what is new); the stored one is marked read up to its newest message."""
    with web.desk.store.transaction() as transaction:
        conversation = pages.find(transaction.state, ref)
        before = replace(conversation)
        conversation.read_up_to = conversation.latest
        return transaction.state, before


async def _thread(
    request: Request, web: DeskWeb, session: Session, *, error: str | None = None, draft: str = ""
) -> Response:
    try:
        state, conversation = await run_in_threadpool(_open_thread, web, request.path_params["ref"])
    except UnknownSource:
        return _no_source(web, session)
    directory = await run_in_threadpool(web.published, web.clock.now())
    choices = [p for p in directory.profiles if p.id != conversation.recipient_id]
    return _render(
        web, session, "thread.html", 400 if error else 200,
        name=pseudonym(state.pseudonym_key, conversation.reply_key), conversation=conversation,
        lines=pages.thread(state, conversation), recipients=state.recipients, choices=choices,
        directory_problem=directory.problem, error=error, draft=draft,
    )  # fmt: skip


def _no_source(web: DeskWeb, session: Session) -> Response:
    return _render(web, session, "error.html", 404, message="There is no such source here.")


async def _reply(request: Request, web: DeskWeb, session: Session) -> Response:
    form = await _form(request)
    text, sender = _field(form, "text"), _field(form, "as") or None
    ref = request.path_params["ref"]

    def queue() -> None:
        with web.desk.store.transaction() as transaction:
            source = pages.find(transaction.state, ref).reply_key.hex()
        web.desk.reply(source, text, web.clock.now(), sender)

    if not text.strip():
        return await _thread(request, web, session, error="Write something to send.")
    try:
        await run_in_threadpool(queue)
    except MessageTooLong as problem:
        return await _thread(request, web, session, error=str(problem), draft=text)
    except UnknownSource:
        return _no_source(web, session)
    except QuietlineError as problem:
        return await _thread(request, web, session, error=str(problem), draft=text)
    return RedirectResponse(f"/sources/{ref}#reply", status_code=303)


async def _notes(request: Request, web: DeskWeb, session: Session) -> Response:
    form = await _form(request)
    alias, notes = _field(form, "alias").strip(), _field(form, "notes")
    if len(alias) > MAX_ALIAS or len(notes) > MAX_NOTES:
        error = f"An alias is at most {MAX_ALIAS} characters, notes at most {MAX_NOTES}."
        return await _thread(request, web, session, error=error)
    return await _change(request, web, session, lambda c: _set_notes(c, alias, notes))


def _set_notes(conversation: Conversation, alias: str, notes: str) -> None:
    conversation.alias, conversation.notes = alias, notes


async def _mute(request: Request, web: DeskWeb, session: Session) -> Response:
    muted = _field(await _form(request), "muted") == "on"
    return await _change(request, web, session, lambda c: setattr(c, "muted", muted))


async def _change(
    request: Request, web: DeskWeb, session: Session, change: Callable[[Conversation], None]
) -> Response:
    ref = request.path_params["ref"]

    def apply() -> None:
        with web.desk.store.transaction() as transaction:
            change(pages.find(transaction.state, ref))

    try:
        await run_in_threadpool(apply)
    except UnknownSource:
        return _no_source(web, session)
    return RedirectResponse(f"/sources/{ref}", status_code=303)


async def _handover(request: Request, web: DeskWeb, session: Session) -> Response:
    to = _field(await _form(request), "to")
    ref = request.path_params["ref"]
    now = web.clock.now()
    directory = await run_in_threadpool(web.published, now)
    if to not in {profile.id for profile in directory.profiles}:
        problem = directory.problem or f"{to!r} is not a recipient the organisation publishes."
        return await _thread(request, web, session, error=problem)

    def hand_over() -> None:
        with web.desk.store.transaction() as transaction:
            source = pages.find(transaction.state, ref).reply_key.hex()
        web.desk.handover(source, to, now)

    try:
        await run_in_threadpool(hand_over)
    except UnknownSource:
        return _no_source(web, session)
    except QuietlineError as problem:
        return await _thread(request, web, session, error=str(problem))
    return RedirectResponse(f"/sources/{ref}", status_code=303)


async def _status(request: Request, web: DeskWeb, session: Session) -> Response:
    state = await _state(web)
    desk = web.desk
    shown = pages.status(state, web.report, desk.anchors, web.clock.now(), desk.keep_messages)
    return _render(web, session, "status.html", health=shown, period=web.desk.period)


async def _space(request: Request, web: DeskWeb, session: Session) -> Response:
    body = await _body(request)
    try:
        document = None if body is None else json.loads(body)
    except ValueError:  # not JSON, or not UTF-8
        document = None
    text = document.get("text") if isinstance(document, dict) else None
    if not isinstance(text, str):
        return JSONResponse({"error": 'send {"text": "..."} (at most 64 KiB)'}, status_code=400)
    used = PaddedCompressedString.space_needed(text)
    fits = PaddedCompressedString.fits(text)
    return JSONResponse({"used": round(used, 4), "fits": fits})


async def _updates(request: Request, web: DeskWeb, session: Session) -> Response:
    state = await _state(web)
    return JSONResponse({"unread": pages.unread_total(state)})
