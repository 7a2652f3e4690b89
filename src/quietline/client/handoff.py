"""What passes between what a person does and the run loop, held in memory only.

Only the run loop writes the client's files, and only on its schedule, so nothing a
person does shows on the disk at the moment they do it. ``send`` and ``inbox`` read the
vault from here (never from the file, whose access time would move), open it with the
passphrase, and hand back a freshly sealed vault and, for ``send``, the message: the run
loop writes that vault at its next send in place of the re-randomised one it writes
otherwise, and sends the message in place of cover once its vault is on the disk.

Changes are ordered by a version: a vault handed back must say which version it was
made from, and one made from an older version is refused (:class:`Conflict`) so two
people (or two commands) cannot undo each other's change; the caller reads again and
redoes its change. A message waits here, in memory, until it has been sent: if the run
loop stops first the message is lost and whoever waits on it is told so; nothing about
it ever reaches the disk except inside the vault.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

from quietline.client.errors import Conflict, QueueFull, SourceClientError
from quietline.protocol.messages import EncryptedU2C

# How many real messages may wait at once: CoverDrop's sending queue has 8 slots.
MAX_WAITING = 8
# How many sent tickets are remembered for whoever still asks about them.
REMEMBERED = 256
SENT, WAITING, LOST = "sent", "waiting", "lost"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The vault as it stands (on the disk or handed over, not yet written), its version,
    and the public cache (keys, dead drops) as the run loop last wrote it."""

    version: int
    vault: bytes
    cache: dict[str, Any]


@dataclass
class _Waiting:
    ticket: int
    version: int
    message: EncryptedU2C
    done: threading.Event = field(default_factory=threading.Event)
    outcome: str = WAITING


class ClientLink(Protocol):
    """How what a person does reaches a run loop: in the same process (a
    :class:`Handoff`) or through the run loop's socket (``quietline.client.ipc``)."""

    def snapshot(self) -> Snapshot: ...

    def stage(self, base: int, vault: bytes, message: EncryptedU2C | None) -> int | None: ...

    def wait_sent(self, ticket: int, timeout: float) -> str: ...


class Handoff:
    """The run loop's side: thread-safe, shared with whatever serves ``send`` and ``inbox``."""

    def __init__(self, vault: bytes, cache: dict[str, Any]) -> None:
        self._lock = threading.Lock()
        self._vault = vault
        self._version = 0
        self._written = 0
        self._cache = cache
        self._waiting: deque[_Waiting] = deque()
        self._tickets = itertools.count(1)
        self._done: dict[int, _Waiting] = {}

    # --- what a person does ----------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(self._version, self._vault, self._cache)

    def stage(self, base: int, vault: bytes, message: EncryptedU2C | None) -> int | None:
        """Hand over a vault made from version ``base`` (and a message to send once it is
        written); returns the message's ticket. Raises Conflict or QueueFull."""
        with self._lock:
            if base != self._version:
                raise Conflict("the vault changed since it was read")
            if len(vault) != len(self._vault):
                raise SourceClientError("a vault handed over must keep the vault's size")
            if message is not None and len(self._waiting) >= MAX_WAITING:
                raise QueueFull(
                    f"{MAX_WAITING} messages are already waiting to be sent; try again "
                    "after the client has sent one"
                )
            self._version += 1
            self._vault = vault
            if message is None:
                return None
            waiting = _Waiting(next(self._tickets), self._version, message)
            self._waiting.append(waiting)
            self._done[waiting.ticket] = waiting
            return waiting.ticket

    def wait_sent(self, ticket: int, timeout: float) -> str:
        """SENT, LOST (the run loop stopped first) or, after ``timeout`` s, WAITING."""
        with self._lock:
            waiting = self._done.get(ticket)
        if waiting is None:
            raise SourceClientError(f"no message waits under ticket {ticket}")
        waiting.done.wait(timeout)
        return waiting.outcome

    # --- the run loop ----------------------------------------------------------------------

    def vault_to_write(self, rerandomised: bytes) -> tuple[bytes, int]:
        """What to write at this send: the vault handed over since the last write, or
        else ``rerandomised`` (the last one written, re-randomised); and its version."""
        with self._lock:
            if self._version > self._written:
                return self._vault, self._version
            self._vault = rerandomised
            return rerandomised, self._version

    def wrote(self, version: int) -> None:
        """The vault of ``version`` is on the disk: messages staged with it may go."""
        with self._lock:
            self._written = max(self._written, version)

    def next_message(self) -> tuple[int, EncryptedU2C] | None:
        """The oldest waiting message whose vault is on the disk, with its ticket."""
        with self._lock:
            if self._waiting and self._waiting[0].version <= self._written:
                head = self._waiting[0]
                return head.ticket, head.message
            return None

    def sent(self, ticket: int) -> None:
        """The message of ``ticket`` went out: it stops waiting."""
        with self._lock:
            if self._waiting and self._waiting[0].ticket == ticket:
                self._finish(self._waiting.popleft(), SENT)
            while len(self._done) > REMEMBERED:
                oldest = next(iter(self._done))
                if self._done[oldest].outcome == WAITING:
                    break
                del self._done[oldest]

    def close(self) -> None:
        """The run loop stops: every message still waiting is lost, and its waiters told."""
        with self._lock:
            while self._waiting:
                self._finish(self._waiting.popleft(), LOST)

    @staticmethod
    def _finish(waiting: _Waiting, outcome: str) -> None:
        waiting.outcome = outcome
        waiting.done.set()

    def publish_cache(self, cache: dict[str, Any]) -> None:
        """The public cache as just written, for the next snapshot."""
        with self._lock:
            self._cache = cache

    def waiting(self) -> int:
        with self._lock:
            return len(self._waiting)
