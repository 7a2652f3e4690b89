"""What the source UI does, without the screen: check the organisation's digest, measure
how full a message is, and talk to the running client through its link.

A :class:`Session` is one person at the UI: the link to the running ``source run`` (the
socket ``source send`` and ``source inbox`` use), the anchors it pins, and while
unlocked the vault key (never the passphrase). It opens no file: everything goes through
the link, so nothing a person does here changes what the run loop sends, downloads or
writes, nor when.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from quietline.client import mailbox
from quietline.client import passphrase as passphrases
from quietline.client.errors import WrongPassphrase
from quietline.client.handoff import ClientLink
from quietline.client.storage import Cache
from quietline.client.vault import VaultKey
from quietline.clock import Clock
from quietline.protocol.certificates import SignedKey
from quietline.protocol.hierarchy import JournalistProfile, JournalistStatus
from quietline.protocol.keys import human_digest
from quietline.protocol.pcs import PaddedCompressedString

# How many characters a group of the human digest has (quietline.protocol.keys).
DIGEST_GROUP = 6


def digest_of(anchor: SignedKey) -> str:
    """The human digest of a pinned organisation key, as videos and posters show it."""
    return human_digest(anchor.signing_key())


def groups_that_differ(typed: str, expected: str) -> list[int]:
    """The 1-based groups of ``expected`` that ``typed`` gets wrong (none: it matches).

    Spaces are ignored, so a digest typed with or without its gaps is read the same; the
    letters' case is not (the digest is base64). A missing or extra group counts as wrong.
    """
    wanted = expected.split()
    joined = "".join(typed.split())
    got = [joined[i : i + DIGEST_GROUP] for i in range(0, len(joined), DIGEST_GROUP)]
    differ = [n for n, group in enumerate(wanted, 1) if n > len(got) or got[n - 1] != group]
    if len(got) > len(wanted):
        differ.append(len(wanted) + 1)
    return differ


@dataclass(frozen=True, slots=True)
class Fill:
    """How full one message is: the share of its compressed space the text takes (the
    padded compressed string's gzip stream over the most it holds), and whether it fits
    (a text may take less than all the space and still not fit: one that would inflate
    more than 100:1, which no recipient unpacks)."""

    used: float
    fits: bool

    @property
    def left(self) -> float:
        return max(0.0, 1.0 - self.used)


def fill(text: str) -> Fill:
    """How full a message of ``text`` is, exactly as it would be sent."""
    return Fill(PaddedCompressedString.space_needed(text), PaddedCompressedString.fits(text))


@dataclass(frozen=True, slots=True)
class TypoInPassphrase:
    """What is wrong with a typed passphrase before any key derivation: the number of
    words (``position`` 0), or the first word that is not in the list."""

    words: int
    position: int


def typo_in(typed: str) -> TypoInPassphrase | None:
    """What makes ``typed`` impossible as a passphrase (see passphrase.normalise)."""
    words = typed.lower().split()
    if len(words) != passphrases.WORDS:
        return TypoInPassphrase(len(words), 0)
    known = frozenset(passphrases.word_list())
    for position, word in enumerate(words, 1):
        if word not in known:
            return TypoInPassphrase(len(words), position)
    return None


@dataclass(frozen=True, slots=True)
class Entry:
    """One message of the conversation: the person's own (to ``who``) or a reply (from
    ``who``; a handover's ``text`` is the recipient who took the conversation over)."""

    at: datetime
    mine: bool
    who: str
    text: str
    handover: bool = False


@dataclass(frozen=True, slots=True)
class Queued:
    """A message handed to the run loop: the ticket to wait on, and the time the vault
    records it under (its :class:`Entry`'s ``at``)."""

    ticket: int
    at: datetime


class Session:
    """One person at the UI; every call that reaches the client may block (key derivation,
    the socket), so a front end makes them off its event loop."""

    def __init__(self, link: ClientLink, anchors: Sequence[SignedKey], clock: Clock) -> None:
        self.link = link
        self.anchors = list(anchors)
        self.clock = clock
        self._key: VaultKey | None = None
        # Bumped at every lock: work begun before it sees that it belongs to a past session.
        self.generation = 0

    @property
    def unlocked(self) -> bool:
        return self._key is not None

    def digests(self) -> list[str]:
        return [digest_of(anchor) for anchor in self.anchors]

    def recipients(self, known: Collection[str] = ()) -> tuple[list[JournalistProfile], str | None]:
        """The published profiles that verify from the anchors now, and the default
        recipient's id; none while the client has not downloaded the keys yet. A
        recipient the organisation hides from the list (``HIDDEN_FROM_UI``, as CoverDrop's
        apps do) is left out unless ``known``: someone already in the conversation."""
        cache = Cache.from_json(self.link.snapshot().cache)
        keys = mailbox.keys_of(cache, self.anchors, self.clock.now())
        if keys is None:
            return [], None
        shown = [
            profile
            for profile in keys.profiles
            if profile.status != JournalistStatus.HIDDEN_FROM_UI or profile.id in known
        ]
        profiles = sorted(shown, key=lambda profile: profile.sort_name)
        default = keys.default_journalist_id
        return profiles, default if any(p.id == default for p in profiles) else None

    def unlock(self, passphrase: str) -> None:
        """Derive and keep the vault key; raises NotAPassphrase or WrongPassphrase."""
        self._key = mailbox.unlock(self.link, passphrase)

    def begin(self, recipient_id: str, text: str) -> tuple[str, Queued]:
        """Start over with a new vault holding the first message; returns the new
        passphrase (to show once) and the queued message, and stays unlocked."""
        now = self.clock.now()
        words, queued = mailbox.begin(self.link, self.anchors, recipient_id, text, now=now)
        self._key = mailbox.unlock(self.link, words)
        return words, Queued(queued.ticket, now)

    def send(self, recipient_id: str, text: str) -> Queued:
        """Queue a message with the key this session holds."""
        now = self.clock.now()
        queued = mailbox.send(
            self.link, self.anchors, self._need_key(), recipient_id, text, now=now
        )
        return Queued(queued.ticket, now)

    def conversation(self) -> list[Entry]:
        """Every message the vault keeps, sent and received, oldest first (reading the
        replies in the client's cached dead drops, which hands new ones to the vault)."""
        key = self._need_key()
        replies = mailbox.inbox(self.link, self.anchors, key, now=self.clock.now())
        entries = [Entry(at, True, who, text) for who, text, at in mailbox.sent(self.link, key)]
        entries += [
            Entry(
                reply.received_at, False, reply.journalist_id, reply.text, reply.kind == "handover"
            )
            for reply in replies
        ]
        return sorted(entries, key=lambda entry: entry.at)

    def wait_sent(self, ticket: int, timeout: float) -> str:
        return self.link.wait_sent(ticket, timeout)

    def lock(self) -> None:
        """Forget the vault key (Python cannot wipe it: the object is dropped)."""
        self._key = None
        self.generation += 1

    def _need_key(self) -> VaultKey:
        if self._key is None:
            raise WrongPassphrase("the session is locked")
        return self._key
