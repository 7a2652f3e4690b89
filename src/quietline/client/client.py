"""The source client a host application embeds: cover on a schedule, real messages in its
place, keys and replies downloaded on a schedule of their own.

:meth:`SourceClient.tick` is the whole network and storage behaviour and is the same for
every installation: when a send is due it rewrites the vault (re-randomised, or as a
person handed it over since) and posts one message (real once its vault is written, or
cover); when a download is due it fetches and verifies the published keys and the user
dead drops and rewrites the cache. What a person does (:meth:`SourceClient.begin`,
:meth:`SourceClient.send`, :meth:`SourceClient.inbox`, or the same through the run
loop's socket) goes through the in-memory :class:`~quietline.client.handoff.Handoff`,
never the files, so it changes neither the traffic nor the disk.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from quietline.client import mailbox, vault
from quietline.client.errors import SourceClientError
from quietline.client.handoff import Handoff
from quietline.client.records import Reply
from quietline.client.schedule import GRID_ORIGIN, FixedRate, Schedule, Timetable
from quietline.client.storage import DEAD_DROP_RETENTION, Cache, SourceStorage
from quietline.edge_client import EdgeRefused, EdgeUnavailable
from quietline.protocol.api import DEAD_DROP_BACK_MAX, DEAD_DROP_PAGE
from quietline.protocol.certificates import KeyRole, SignedKey
from quietline.protocol.deaddrops import B, DeadDrop, UserDeadDrop
from quietline.protocol.errors import ProtocolError
from quietline.protocol.hierarchy import PublishedKeys
from quietline.protocol.messages import EncryptedU2C, encrypt_cover_u2c
from quietline.protocol.verification import VerifiedKeys, verify_published_keys
from quietline.runner import StepReport
from quietline.vault import MODERATE, KdfCost

DEFAULT_SEND_PERIOD_S = 60.0
DEFAULT_DOWNLOAD_PERIOD_S = 300.0
# How many user dead drops every download asks for, and gets (fewer only while the edge
# holds fewer). Which ones depends on the time alone (see window_back).
DEAD_DROP_WINDOW = 2
# How many windows behind the newest the sweep goes before it starts again: 336 dead
# drops, the 14 days an edge keeps them at CoverDrop's hourly user dead drops.
SWEEP_WINDOWS = 168
# The published keys are fetched at the first download in each key period (and while
# the client holds no key set that verifies): the document is the largest download and
# changes seldom.
KEYS_PERIOD = timedelta(hours=1)
# The run loop wakes at least this often, so an accelerated clock is followed closely
# and a stop request is noticed quickly.
MAX_IDLE_WAIT_S = 1.0


class SourceEdge(Protocol):
    """What a source client needs of the edge (``EdgeClient`` is one)."""

    def public_keys(self) -> PublishedKeys: ...

    def dead_drop_window(self, body_type: type[B], size: int, back: int) -> list[DeadDrop[B]]: ...

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
    that speaks :class:`SourceEdge`, such as an ``EdgeClient`` the caller owns). Every
    method that needs the time takes ``now``.

    ``kdf_cost`` is the Argon2id cost a new installation's vault records (every later
    passphrase is derived at that cost); :data:`~quietline.vault.MODERATE` is for people.
    """

    def __init__(
        self,
        edge: SourceEdge,
        anchors: Sequence[SignedKey],
        storage: SourceStorage,
        *,
        send_schedule: Schedule | None = None,
        download_schedule: Schedule | None = None,
        dead_drop_window: int = DEAD_DROP_WINDOW,
        sweep_windows: int = SWEEP_WINDOWS,
        kdf_cost: KdfCost = MODERATE,
    ) -> None:
        if not anchors:
            raise SourceClientError("a source client needs the organisation's anchor key")
        self._edge = edge
        self.anchors = list(anchors)
        self.storage = storage
        self.counters = ClientCounters()
        if not 1 <= dead_drop_window <= DEAD_DROP_PAGE:
            raise SourceClientError(f"a dead drop window holds 1 to {DEAD_DROP_PAGE} dead drops")
        if sweep_windows < 1:
            raise SourceClientError("the dead drop sweep goes back at least one window")
        if dead_drop_window * (sweep_windows + 1) > DEAD_DROP_BACK_MAX:
            raise SourceClientError(
                f"the dead drop sweep goes back at most {DEAD_DROP_BACK_MAX} dead drops"
            )
        self._dead_drop_window = dead_drop_window
        self._sweep_windows = sweep_windows
        self._keys_fetched_in: int | None = None
        self._download_period = (
            download_schedule or FixedRate(timedelta(seconds=DEFAULT_DOWNLOAD_PERIOD_S))
        ).period
        self._kdf_cost = kdf_cost
        self._send_schedule = send_schedule
        self._download_schedule = download_schedule
        self._sends: Timetable | None = None
        self._downloads: Timetable | None = None
        self._cache = Cache()
        self._handoff: Handoff | None = None
        # The next send's vault, re-randomised on a thread of its own: on a slow device
        # that takes seconds, and the run loop must reach a download due meanwhile on time.
        self._rerandomiser: ThreadPoolExecutor | None = None
        self._rerandomised: Future[bytes] | None = None

    # --- the run loop ----------------------------------------------------------------------

    def start(self, now: datetime) -> tuple[Timetable, Timetable]:
        """Set up the folder (a vault under a random key and random schedule phases on
        first run), read the vault and the cache once, record the anchors and start both
        timetables (sends, downloads): downloads at once, sends at the first slot of their
        schedule after ``now``. The default schedules are fixed rates on this
        installation's random phases. Raises StorageError when a file is damaged."""
        self.storage.install(self._kdf_cost)
        self._cache = self.storage.read_cache()
        self._cache.anchors = list(self.anchors)
        raw = self.storage.read_vault()
        self._keys_fetched_in = None  # the first download after a start fetches the keys
        self._rerandomiser = ThreadPoolExecutor(1, thread_name_prefix="quietline vault")
        self._rerandomised = self._rerandomiser.submit(vault.rerandomise, raw)
        self._handoff = Handoff(raw, self._cache.to_json())
        send_schedule = self._send_schedule or FixedRate.with_phase(
            timedelta(seconds=DEFAULT_SEND_PERIOD_S), self._cache.phases["send"]
        )
        download_schedule = self._download_schedule or FixedRate.with_phase(
            timedelta(seconds=DEFAULT_DOWNLOAD_PERIOD_S), self._cache.phases["download"]
        )
        self._downloads = Timetable(download_schedule, now)
        self._sends = Timetable.after(send_schedule, now)
        return self._sends, self._downloads

    def verified_keys(self, now: datetime) -> VerifiedKeys | None:
        """The cached key set, verified again from the anchors at ``now`` (see
        :func:`quietline.client.mailbox.keys_of`)."""
        return mailbox.keys_of(self._cache, self.anchors, now)

    @property
    def handoff(self) -> Handoff:
        """Where what a person does meets the run loop (after :meth:`start`)."""
        if self._handoff is None:
            raise SourceClientError("the client has not started: call start() or tick() first")
        return self._handoff

    def stop(self) -> None:
        """The run loop ends: messages still waiting are lost, and their waiters told."""
        if self._handoff is not None:
            self._handoff.close()
        if self._rerandomiser is not None:
            self._rerandomiser.shutdown(cancel_futures=True)

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
            self._send(now, outcome)
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

    def _send(self, now: datetime, outcome: TickOutcome) -> None:
        """Rewrite the vault, then send one message: the oldest real one whose vault is
        now on the disk, or else fresh cover; then re-randomise the vault for next time.

        Every step runs at every send whether or not a person did anything, in the same
        order with the same work (the cover is made even when a real message goes), so
        neither the disk nor the network shows the difference. The re-randomisation runs
        on its own thread until the next send needs it, so the loop is free meanwhile.
        """
        handoff = self.handoff
        if self._rerandomiser is None or self._rerandomised is None:
            raise SourceClientError("the client has not started: call start() or tick() first")
        raw, version = handoff.vault_to_write(self._rerandomised.result())
        self.storage.write_vault(raw)
        handoff.wrote(version)
        keys = self.verified_keys(now)
        if keys is None:
            self.counters.sends_skipped_without_keys += 1
            outcome.notes.append("send skipped: no verified keys yet")
        else:
            cover = encrypt_cover_u2c(keys.covernode_wrapping_keys())
            real = handoff.next_message()
            try:
                self._edge.send_u2c(cover if real is None else real[1])
            except (EdgeUnavailable, EdgeRefused) as error:
                # A real message stays first in line and goes at the next send.
                self.counters.send_failures += 1
                outcome.notes.append(f"send failed: {error}")
            else:
                if real is not None:
                    handoff.sent(real[0])
                self.counters.sends += 1
                outcome.sent = True
        self._rerandomised = self._rerandomiser.submit(vault.rerandomise, raw)

    def _download(self, now: datetime, outcome: TickOutcome) -> None:
        """Fetch and verify the keys and a window of dead drops, then rewrite the cache:
        at every download, whatever came back, so the cache's times follow the schedule."""
        try:
            if self._fetch(now, outcome):
                self.counters.downloads += 1
                outcome.downloaded = True
        finally:
            self._write_cache()

    def _fetch(self, now: datetime, outcome: TickOutcome) -> bool:
        """The keys when due (see KEYS_PERIOD), then the window of dead drops this moment
        asks for: what is fetched depends on the time and on whether the client holds
        keys, never on what it has seen or how long it was away."""
        edge = self._edge
        keys_period = (now - GRID_ORIGIN) // KEYS_PERIOD
        if keys_period != self._keys_fetched_in or self.verified_keys(now) is None:
            self._keys_fetched_in = keys_period
            try:
                published = edge.public_keys()
            except EdgeUnavailable as error:
                self.counters.download_failures += 1
                outcome.notes.append(f"key download failed: {error}")
                return False
            except (EdgeRefused, ProtocolError) as error:
                self.counters.download_failures += 1
                outcome.notes.append(f"key download refused: {error}")
                published = None
            if published is not None:
                self._keep_if_verified(published, now, outcome)
        keys = self.verified_keys(now)
        if keys is None:
            return False
        cache = self._cache
        slot = (now - GRID_ORIGIN) // self._download_period
        back = window_back(slot, self._dead_drop_window, self._sweep_windows)
        try:
            page = edge.dead_drop_window(UserDeadDrop, self._dead_drop_window, back)
        except (EdgeUnavailable, EdgeRefused, ProtocolError) as error:
            self.counters.download_failures += 1
            outcome.notes.append(f"dead drop download failed: {error}")
            page = []
        verified = []
        for drop in page:
            try:
                drop.body.verify(keys)
            except ProtocolError:
                self.counters.dead_drops_refused += 1
            else:
                verified.append(drop)
        self._take_window(cache, verified)
        cache.forget_dead_drops_before(now - DEAD_DROP_RETENTION)
        return True

    def _write_cache(self) -> None:
        self.storage.write_cache(self._cache)
        self.handoff.publish_cache(self._cache.to_json())

    @staticmethod
    def _take_window(cache: Cache, window: list[DeadDrop[UserDeadDrop]]) -> None:
        """Keep the dead drops of a verified window that the cache does not hold yet."""
        known = {drop.id for drop in cache.dead_drops}
        cache.dead_drops.extend(drop for drop in window if drop.id not in known)

    def _keep_if_verified(
        self, published: PublishedKeys, now: datetime, outcome: TickOutcome
    ) -> None:
        kept = self._cache.published
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
        self._cache.published = published

    # --- what a person does, in the same process -------------------------------------------

    def begin(self, recipient_id: str, text: str, *, now: datetime) -> tuple[str, mailbox.Queued]:
        """Start using this installation: a new vault under a newly generated passphrase,
        holding the first message to ``recipient_id``; returns the passphrase (to show
        once) and the queued message. Replaces whatever the vault held."""
        return mailbox.begin(self.handoff, self.anchors, recipient_id, text, now=now)

    def send(
        self, passphrase: str, recipient_id: str, text: str, *, now: datetime
    ) -> mailbox.Queued:
        """Queue a real message for ``recipient_id`` (or whoever took the conversation
        over); it goes at a send in place of cover, once the vault recording it is written.
        Raises NoVerifiedKeys, WrongPassphrase, UnknownRecipient, TextTooLong or QueueFull.
        """
        return mailbox.send(self.handoff, self.anchors, passphrase, recipient_id, text, now=now)

    def inbox(self, passphrase: str, now: datetime) -> list[Reply]:
        """Every reply received so far, oldest first. Raises NoVerifiedKeys or
        WrongPassphrase."""
        return mailbox.inbox(self.handoff, self.anchors, passphrase, now=now)

    def sent_messages(self, passphrase: str) -> list[tuple[str, str, datetime]]:
        """(recipient id, text, when queued) of every sent message the vault keeps."""
        return mailbox.sent(self.handoff, passphrase)


def window_back(slot: int, window: int, sweep_windows: int) -> int:
    """How many of the newest dead drops the download in ``slot`` (the number of download
    periods since GRID_ORIGIN) leaves out before its window: none at even slots (the
    newest window); at odd slots the sweep's next step, ``window`` further back each time
    through ``sweep_windows`` windows behind the newest, and then from the front again.

    Every client downloading in one slot asks the same question, whatever it has seen,
    since when it runs, or how long it was away. The sweep never skips a dead drop: new
    ones arriving between steps push the next window onto the last, never past it. So a
    client finds every dead drop the edge holds within the sweep's reach within
    2 x ``sweep_windows`` periods, and any newest window's within two.
    """
    if slot % 2 == 0:
        return 0
    return window * (1 + (slot // 2) % sweep_windows)


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
