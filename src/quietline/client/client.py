"""The source client a host application embeds: cover on a schedule, real messages in its
place, keys and replies downloaded on a schedule of their own.

:meth:`SourceClient.tick` is the whole network behaviour and is the same for every
installation: when a send is due it posts the head of the sending queue (real or cover,
it cannot tell and does not need to); when a download is due it fetches and verifies the
published keys and the user dead drops. :meth:`SourceClient.send` and
:meth:`SourceClient.inbox` are what the user does; they only touch local files (the
vault is rewritten by them and by nothing else), so writing changes no traffic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from quietline.client.errors import NoVerifiedKeys, SourceClientError
from quietline.client.mailbox import queue_message, read_inbox, read_sent
from quietline.client.records import Reply
from quietline.client.schedule import FixedRate, Schedule, Timetable
from quietline.client.storage import DEAD_DROP_RETENTION, Cache, SourceStorage
from quietline.edge_client import EdgeRefused, EdgeUnavailable
from quietline.protocol.api import DEAD_DROP_PAGE
from quietline.protocol.certificates import KeyRole, SignedKey
from quietline.protocol.deaddrops import B, DeadDrop, UserDeadDrop
from quietline.protocol.errors import ProtocolError
from quietline.protocol.hierarchy import PublishedKeys
from quietline.protocol.jsonvalues import I64_MAX
from quietline.protocol.messages import ENCRYPTED_U2C, EncryptedU2C, encrypt_cover_u2c
from quietline.protocol.verification import VerifiedKeys, verify_published_keys
from quietline.runner import StepReport

DEFAULT_SEND_PERIOD_S = 60.0
DEFAULT_DOWNLOAD_PERIOD_S = 300.0
# How many user dead drops every download asks for, and gets (fewer only while the edge
# holds fewer): the same request size and answer size for every client in every period.
# A caught-up client asks for the newest; one that fell behind asks for the next after
# its cursor, so it catches up at this many per period.
DEAD_DROP_WINDOW = 2
# The cursor a caught-up client asks after: the edge answers with its newest window.
NEWEST = I64_MAX
# The run loop wakes at least this often, so an accelerated clock is followed closely
# and a stop request is noticed quickly.
MAX_IDLE_WAIT_S = 1.0


class SourceEdge(Protocol):
    """What a source client needs of the edge (``EdgeClient`` is one)."""

    def public_keys(self) -> PublishedKeys: ...

    def dead_drops(
        self, body_type: type[B], after: int, window: int | None = None
    ) -> list[DeadDrop[B]]: ...

    def send_u2c(self, message: EncryptedU2C) -> None: ...


@dataclass
class ClientCounters:
    """What the run loop did, for status lines: never whether a send was real."""

    sends: int = 0
    send_failures: int = 0
    sends_skipped_without_keys: int = 0
    downloads: int = 0
    download_failures: int = 0
    key_sets_refused: int = 0
    dead_drops_refused: int = 0


@dataclass
class TickOutcome(StepReport):
    """What one tick did; the same fields for every client, real message or not. Its
    notes are what failed (the next attempt comes at the next scheduled time)."""

    sent: bool = False
    downloaded: bool = False

    @property
    def did_something(self) -> bool:
        return self.sent or self.downloaded or bool(self.notes)

    def summary(self) -> list[str]:
        return [f"sent {int(self.sent)}", f"downloaded {int(self.downloaded)}"]


class SourceClient:
    """One source client installation: a folder, the pinned anchors and an edge (anything
    that speaks :class:`SourceEdge`, such as an ``EdgeClient`` the caller owns; None for a
    client that only queues and reads). Every method that needs the time takes ``now``."""

    def __init__(
        self,
        edge: SourceEdge | None,
        anchors: Sequence[SignedKey],
        storage: SourceStorage,
        *,
        send_schedule: Schedule | None = None,
        download_schedule: Schedule | None = None,
        dead_drop_window: int = DEAD_DROP_WINDOW,
    ) -> None:
        if not anchors:
            raise SourceClientError("a source client needs the organisation's anchor key")
        self._edge = edge
        self.anchors = list(anchors)
        self.storage = storage
        self.counters = ClientCounters()
        if not 1 <= dead_drop_window <= DEAD_DROP_PAGE:
            raise SourceClientError(f"a dead drop window holds 1 to {DEAD_DROP_PAGE} dead drops")
        self._dead_drop_window = dead_drop_window
        self._send_schedule = send_schedule
        self._download_schedule = download_schedule
        self._sends: Timetable | None = None
        self._downloads: Timetable | None = None

    # --- the run loop ----------------------------------------------------------------------

    def start(self, now: datetime) -> tuple[Timetable, Timetable]:
        """Set up the folder (random queue, vault and schedule phases on first run), record
        the anchors in the cache and start both timetables (sends, downloads): downloads at
        once, sends at the first slot of their schedule after ``now``. The default
        schedules are fixed rates on this installation's random phases."""
        self.storage.install()
        with self.storage.locked():
            cache = self.storage.read_cache()
            if [a.to_json() for a in cache.anchors] != [a.to_json() for a in self.anchors]:
                cache.anchors = list(self.anchors)
                self.storage.write_cache(cache)
        send_schedule = self._send_schedule or FixedRate.with_phase(
            timedelta(seconds=DEFAULT_SEND_PERIOD_S), cache.phases["send"]
        )
        download_schedule = self._download_schedule or FixedRate.with_phase(
            timedelta(seconds=DEFAULT_DOWNLOAD_PERIOD_S), cache.phases["download"]
        )
        self._downloads = Timetable(download_schedule, now)
        self._sends = Timetable.after(send_schedule, now)
        return self._sends, self._downloads

    def tick(self, now: datetime) -> TickOutcome:
        """Do whatever is due at ``now``: at most one download and at most one send.

        Whether each is due (or was missed, and is skipped) is decided at ``now`` before
        either starts, so a slow download never makes the send skipped. Network failures
        never raise: they are counted, and the next attempt comes at the next scheduled
        time.
        """
        if self._sends is None or self._downloads is None:
            sends, downloads = self.start(now)
        else:
            sends, downloads = self._sends, self._downloads
        outcome = TickOutcome(now)
        download_due, send_due = downloads.fire(now), sends.fire(now)
        # The download first, so a revocation it brings holds for this very send.
        if download_due:
            self._download(now, outcome)
        if send_due:
            self._send_head(now, outcome)
        return outcome

    def seconds_until_due(self, now: datetime) -> float:
        """How long until the next send or download is due (0 when one is due)."""
        if self._sends is None or self._downloads is None:
            return 0.0
        due = min(self._sends.next_at, self._downloads.next_at)
        return max(0.0, (due - now).total_seconds())

    def pause(self, _outcome: TickOutcome, now: datetime) -> float:
        """How long the run loop may wait after a tick at ``now`` (see MAX_IDLE_WAIT_S)."""
        return min(MAX_IDLE_WAIT_S, self.seconds_until_due(now))

    def _edge_client(self) -> SourceEdge:
        if self._edge is None:
            raise SourceClientError("this client was made without an edge to talk to")
        return self._edge

    def verified_keys(self, now: datetime) -> VerifiedKeys | None:
        """The cached key set, verified again from the anchors at ``now``; None when there is
        none yet or no CoverNode messaging key in it is still valid."""
        published = self.storage.read_cache().published
        if published is None:
            return None
        try:
            keys = verify_published_keys(published, self.anchors, now).verified
        except ProtocolError:
            return None
        return keys if keys.of_role(KeyRole.COVERNODE_MSG) else None

    def _send_head(self, now: datetime, outcome: TickOutcome) -> None:
        """Send the queue's head, then take it off the queue if it is still the head.

        The queue's lock is held only to read the file and, after the send, to replace
        it: never across the network. A message the user queued meanwhile is kept: it
        either sits behind the head, or took the place of the cover head just sent.
        """
        keys = self.verified_keys(now)
        if keys is None:
            self.counters.sends_skipped_without_keys += 1
            outcome.notes.append("send skipped: no verified keys yet")
            return
        wrapping = keys.covernode_wrapping_keys()
        refill = encrypt_cover_u2c(wrapping)
        edge = self._edge_client()
        with self.storage.locked():
            head = self.storage.read_queue().head()
        try:
            edge.send_u2c(head)
        except (EdgeUnavailable, EdgeRefused) as error:
            # The head stays in place and goes at the next scheduled send.
            self.counters.send_failures += 1
            outcome.notes.append(f"send failed: {error}")
            return
        with self.storage.locked():
            queue = self.storage.read_queue()
            if ENCRYPTED_U2C.encode(queue.head()) == ENCRYPTED_U2C.encode(head):
                queue.dequeue(lambda: refill)
            self.storage.write_queue(queue)
        self.counters.sends += 1
        outcome.sent = True

    def _download(self, now: datetime, outcome: TickOutcome) -> None:
        edge = self._edge_client()
        try:
            published = edge.public_keys()
        except EdgeUnavailable as error:
            self.counters.download_failures += 1
            outcome.notes.append(f"key download failed: {error}")
            return
        except (EdgeRefused, ProtocolError) as error:
            self.counters.download_failures += 1
            outcome.notes.append(f"key download refused: {error}")
            published = None
        if published is not None:
            self._keep_if_verified(published, now, outcome)
        keys = self.verified_keys(now)
        if keys is None:
            return
        cache = self.storage.read_cache()  # replaced whole by writers: no lock to read it
        caught_up = not cache.catching_up
        try:
            page = edge.dead_drops(
                UserDeadDrop,
                NEWEST if caught_up else cache.last_dead_drop_id,
                window=self._dead_drop_window,
            )
        except (EdgeUnavailable, EdgeRefused, ProtocolError) as error:
            self.counters.download_failures += 1
            outcome.notes.append(f"dead drop download failed: {error}")
            page = []
        self._take_window(cache, [drop for drop in page if self._verifies(drop, keys)])
        cache.forget_dead_drops_before(now - DEAD_DROP_RETENTION)
        with self.storage.locked():
            current = self.storage.read_cache()
            cache.published, cache.anchors = current.published, current.anchors
            self.storage.write_cache(cache)
        self.counters.downloads += 1
        outcome.downloaded = True

    def _take_window(self, cache: Cache, window: list[DeadDrop[UserDeadDrop]]) -> None:
        """Keep the new dead drops of a verified window and move the cursor.

        Only dead drops that verify count: a forged one (a huge id, say) is refused and
        never moves the cursor past the ones after it. A client that is caught up asks
        for the newest window; when that window is full and starts past its cursor,
        something may lie between, so it catches up from its cursor, one window per
        period, until a window reaches back to what it has (the edge then gave the
        newest). A fresh install (no cursor yet) starts from the newest window, as a
        long-running client would be.
        """
        if not window:
            return
        known = {drop.id for drop in cache.dead_drops}
        cache.dead_drops.extend(drop for drop in window if drop.id not in known)
        last = cache.last_dead_drop_id
        oldest, newest = min(d.id for d in window), max(d.id for d in window)
        full = len(window) >= self._dead_drop_window
        if cache.catching_up:
            cache.catching_up = full and oldest > last
            cache.last_dead_drop_id = max(last, newest)
        elif last > 0 and full and oldest > last:
            cache.catching_up = True  # the cursor stays: the next window starts there
        else:
            cache.last_dead_drop_id = max(last, newest)

    def _verifies(self, dead_drop: DeadDrop[UserDeadDrop], keys: VerifiedKeys) -> bool:
        try:
            dead_drop.body.verify(keys)
        except ProtocolError:
            self.counters.dead_drops_refused += 1
            return False
        return True

    def _keep_if_verified(
        self, published: PublishedKeys, now: datetime, outcome: TickOutcome
    ) -> None:
        with self.storage.locked():
            kept = self.storage.read_cache().published
        # A revocation the organisation signed holds from then on, whatever a later set
        # (from a stale cache or a hostile edge) leaves out.
        published = _with_revocations(published, kept, self.anchors)
        try:
            verified = verify_published_keys(published, self.anchors, now).verified
        except ProtocolError as error:
            verified, reason = None, str(error)
        else:
            reason = "no valid CoverNode messaging key in it"
        if verified is None or not verified.of_role(KeyRole.COVERNODE_MSG):
            # Refuse it and keep the last set that verified, with the revocations it brings
            # (a seized mixer's keys, say): those hold regardless.
            self.counters.key_sets_refused += 1
            outcome.notes.append(f"published keys refused: {reason}")
            if kept is None:
                return
            merged = _with_revocations(kept, published, self.anchors)
            if merged is kept:
                return
            published = merged
        with self.storage.locked():
            cache = self.storage.read_cache()
            cache.published = published
            self.storage.write_cache(cache)

    # --- what the user does ----------------------------------------------------------------

    def send(
        self,
        passphrase: str,
        recipient_id: str,
        text: str,
        *,
        now: datetime,
        new: bool = False,
    ) -> str:
        """Queue a real message for ``recipient_id`` (or whoever took the conversation over);
        it replaces the next cover message, so the traffic does not change. Returns the id
        of the recipient it will reach.

        With ``new`` a vault is created under ``passphrase`` unless that passphrase already
        opens one (any other vault in the folder is replaced). Raises StorageError,
        NoVerifiedKeys, WrongPassphrase, UnknownRecipient, TextTooLong or QueueFull.
        """
        self.storage.require_installed()
        keys = self._keys_or_raise(now)
        return queue_message(self.storage, keys, passphrase, recipient_id, text, new=new, now=now)

    def inbox(self, passphrase: str, now: datetime) -> list[Reply]:
        """Every reply received so far, oldest first, after trial-decrypting the cached
        user dead drops and keeping new replies (and handovers) in the vault.

        Raises StorageError, NoVerifiedKeys or WrongPassphrase.
        """
        self.storage.require_installed()
        return read_inbox(self.storage, self._keys_or_raise(now), passphrase)

    def sent_messages(self, passphrase: str) -> list[tuple[str, str, datetime]]:
        """(recipient id, text, when queued) of every sent message the vault keeps."""
        self.storage.require_installed()
        return read_sent(self.storage, passphrase)

    def _keys_or_raise(self, now: datetime) -> VerifiedKeys:
        keys = self.verified_keys(now)
        if keys is None:
            raise NoVerifiedKeys(
                "no verified keys from the organisation yet: keep `quietline source run` "
                "going with this --vault until it has downloaded them"
            )
        return keys


def _with_revocations(
    document: PublishedKeys, other: PublishedKeys | None, anchors: Sequence[SignedKey]
) -> PublishedKeys:
    """``document`` with the revocations of ``other`` that a pinned anchor signed added
    (``document`` itself when there are none it lacks)."""
    known = document.statements.revocations
    fresh = tuple(
        revocation
        for revocation in dict.fromkeys(other.statements.revocations if other else ())
        if revocation not in known
        and revocation.made_by_any(anchor.signing_key() for anchor in anchors)
    )
    if not fresh:
        return document
    statements = replace(document.statements, revocations=(*known, *fresh))
    return replace(document, statements=statements)
