"""Who may see the desk's pages: browser sessions, each locked or unlocked, with the time
injected.

A session starts locked, with a random id (its cookie) and a CSRF token bound to it. The
passphrase unlocks it, under a new id (a session id known before the unlock is worth
nothing after it). It locks again after ``idle`` without a page being used (polling for
new messages does not count) or when asked. Nothing here checks a passphrase: the vault
does that (:mod:`quietline.desk.web.app`).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

# Sessions kept at most: the oldest go first (a loop of requests cannot fill memory).
MAX_SESSIONS = 64


@dataclass(slots=True)
class Session:
    id: str
    csrf: str
    unlocked: bool
    last_used: datetime

    def __repr__(self) -> str:
        return f"Session(unlocked={self.unlocked})"  # never the id or the token

    def csrf_matches(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token.encode(), self.csrf.encode())


class Sessions:
    """The live sessions of one desk server."""

    def __init__(self, idle: timedelta) -> None:
        self.idle = idle
        self._held: dict[str, Session] = {}

    def new(self, now: datetime) -> Session:
        """A new locked session."""
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), False, now)
        self._held[session.id] = session
        while len(self._held) > MAX_SESSIONS:
            del self._held[next(iter(self._held))]
        return session

    def get(self, session_id: str | None, now: datetime) -> Session | None:
        """The session with this id (locked if it sat idle too long), or None."""
        session = self._held.get(session_id or "")
        if session is not None and session.unlocked and now - session.last_used > self.idle:
            session.unlocked = False
        return session

    def touch(self, session: Session, now: datetime) -> None:
        """A page was used: the idle time starts again."""
        session.last_used = now

    def unlock(self, session: Session, now: datetime) -> Session:
        """The passphrase was right: the session, unlocked, under a new id and token."""
        self._held.pop(session.id, None)
        unlocked = self.new(now)
        unlocked.unlocked = True
        return unlocked

    def lock(self, session: Session) -> None:
        session.unlocked = False
