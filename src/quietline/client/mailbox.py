"""What a person does with a source client: start using it, queue a message in place of
cover, read replies. All of it goes through a :class:`~quietline.client.handoff.ClientLink`
to the run loop, never through the client's files.

Each change reads the vault's current version, opens it with the passphrase (one key
derivation per call), makes the change, seals a fresh vault and hands it over with the
version it was made from; when the vault changed meanwhile (another command got there
first) it reads again and redoes the change with the key it already has.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

from quietline.client import passphrase as passphrases
from quietline.client import vault
from quietline.client.errors import Conflict, NoVerifiedKeys, TextTooLong, WrongPassphrase
from quietline.client.handoff import ClientLink, Snapshot
from quietline.client.records import Reply, SentMessage, SourceRecords, StoredReply
from quietline.client.storage import Cache
from quietline.protocol.certificates import KeyRole, SignedKey
from quietline.protocol.deaddrops import UserTrialDecryptor
from quietline.protocol.errors import (
    KeyUnavailable,
    MalformedInput,
    ProtocolError,
    UnknownRecipient,
)
from quietline.protocol.keys import ReplyKey
from quietline.protocol.messages import EncryptedU2C, encrypt_u2c
from quietline.protocol.pcs import PaddedCompressedString
from quietline.protocol.verification import VerifiedKeys, verify_published_keys

# A typed passphrase, or the key :func:`unlock` derived from one.
Secret: TypeAlias = str | vault.VaultKey
# How many times a change is redone when other commands keep changing the vault first.
ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class Queued:
    """A message handed to the run loop: who it reaches, and the ticket to wait on."""

    recipient_id: str
    ticket: int


def keys_of(cache: Cache, anchors: Sequence[SignedKey], now: datetime) -> VerifiedKeys | None:
    """The cached key set, verified from the anchors at ``now``; None when there is none
    yet or no CoverNode messaging key in it is still valid."""
    if cache.published is None:
        return None
    try:
        keys = verify_published_keys(cache.published, anchors, now).verified
    except ProtocolError:
        return None
    return keys if keys.of_role(KeyRole.COVERNODE_MSG) else None


def begin(
    link: ClientLink, anchors: Sequence[SignedKey], recipient_id: str, text: str, *, now: datetime
) -> tuple[str, Queued]:
    """Start using the installation: a newly generated passphrase, a new vault under it
    holding a new reply key and the first message. Returns the passphrase (shown to the
    person once, never stored) and the queued message. Whatever the vault held before is
    replaced: the caller makes sure the person meant it."""
    _check_text(text)
    words = passphrases.generate()
    key = vault.VaultKey.derive(words, link.snapshot().vault)
    # New records (and reply key) at each attempt: nothing of a failed one is reused.
    queued = _change(
        link,
        key,
        anchors=anchors,
        now=now,
        fresh=lambda _: SourceRecords.new(),
        recipient_id=recipient_id,
        text=text,
    )
    return words, queued


def unlock(link: ClientLink, passphrase: str) -> vault.VaultKey:
    """The vault key of a typed passphrase, checked to open the vault: what a front end
    keeps while a person is at it, so that each later call needs no key derivation.
    Raises NotAPassphrase or WrongPassphrase."""
    key = _key(link, passphrase)
    _open(key, link.snapshot())
    return key


def send(
    link: ClientLink,
    anchors: Sequence[SignedKey],
    passphrase: Secret,
    recipient_id: str,
    text: str,
    *,
    now: datetime,
) -> Queued:
    """Queue a real message to ``recipient_id`` (after handovers), recorded in the vault.

    Raises TextTooLong, NotAPassphrase, WrongPassphrase, NoVerifiedKeys, UnknownRecipient
    or QueueFull, having changed nothing.
    """
    _check_text(text)
    key = _key(link, passphrase)
    return _change(
        link, key, anchors=anchors, now=now, fresh=None, recipient_id=recipient_id, text=text
    )


def inbox(
    link: ClientLink, anchors: Sequence[SignedKey], passphrase: Secret, *, now: datetime
) -> list[Reply]:
    """Trial-decrypt every cached user dead drop and return every reply kept, oldest
    first; new replies (and handovers) are handed over to be kept in the vault."""
    key = _key(link, passphrase)
    for _ in range(ATTEMPTS):
        snapshot = link.snapshot()
        records = _open(key, snapshot)
        keys = _keys(snapshot, anchors, now)
        decryptor = UserTrialDecryptor(records.user_key, keys)
        fresh = False
        for drop in Cache.from_json(snapshot.cache).dead_drops:
            for reply in decryptor.open(drop):
                stored = StoredReply.of(reply.journalist_id, reply.message, drop.body.created_at)
                fresh = records.add_reply(stored) or fresh
        if fresh:
            try:
                link.stage(snapshot.version, _seal(key, snapshot, records), None)
            except Conflict:
                continue
        return [reply.shown() for reply in records.replies]
    raise Conflict("the vault kept changing while the replies were read: try again")


def sent(link: ClientLink, passphrase: Secret) -> list[tuple[str, str, datetime]]:
    """(recipient id, text, when queued) of every sent message the vault still keeps."""
    records = _open(_key(link, passphrase), link.snapshot())
    shown = []
    for message in records.sent:
        try:
            text = message.text.text()
        except MalformedInput:
            text = "(unreadable)"
        shown.append((message.recipient_id, text, message.queued_at))
    return shown


def _check_text(text: str) -> None:
    if not PaddedCompressedString.fits(text):
        raise TextTooLong(
            "the message is too long: after compression at most 510 bytes fit in one "
            "message; split it into several"
        )


def _key(link: ClientLink, passphrase: Secret) -> vault.VaultKey:
    """The vault key of a typed passphrase (checked word by word first), or the key
    :func:`unlock` gave."""
    if isinstance(passphrase, vault.VaultKey):
        return passphrase
    return vault.VaultKey.derive(passphrases.normalise(passphrase), link.snapshot().vault)


def _open(key: vault.VaultKey, snapshot: Snapshot) -> SourceRecords:
    """The records in the snapshot's vault. One answer for a mistyped passphrase, a vault
    nobody used and a damaged one: they look alike on purpose, and the message never
    suggests starting over (that would destroy what a mistyped passphrase failed to open)."""
    try:
        return SourceRecords.parse(vault.open_vault(key, snapshot.vault))
    except (vault.VaultLocked, ProtocolError):
        raise WrongPassphrase("the passphrase did not open the vault") from None


def _seal(key: vault.VaultKey, snapshot: Snapshot, records: SourceRecords) -> bytes:
    """A fresh vault of ``records``, the oldest entries dropped if they would not fit."""
    records.trim_to(vault.capacity(vault.block_count(snapshot.vault)))
    return vault.seal(key, snapshot.vault, records.serialised())


def _keys(snapshot: Snapshot, anchors: Sequence[SignedKey], now: datetime) -> VerifiedKeys:
    keys = keys_of(Cache.from_json(snapshot.cache), anchors, now)
    if keys is None:
        raise NoVerifiedKeys(
            "no verified keys from the organisation yet: keep `quietline source run` "
            "going with this --vault until it has downloaded them"
        )
    return keys


def _change(
    link: ClientLink,
    key: vault.VaultKey,
    *,
    anchors: Sequence[SignedKey],
    now: datetime,
    fresh: Callable[[Snapshot], SourceRecords] | None,
    recipient_id: str,
    text: str,
) -> Queued:
    """Record a message to ``recipient_id`` in the vault (``fresh`` gives new records
    instead of opening it) and hand both over, redoing it while the vault changes."""
    for _ in range(ATTEMPTS):
        snapshot = link.snapshot()
        records = fresh(snapshot) if fresh is not None else _open(key, snapshot)
        target = records.current_recipient(recipient_id)
        message = _encrypt(_keys(snapshot, anchors, now), records, target, text)
        records.sent.append(SentMessage(target, PaddedCompressedString.from_text(text), now))
        try:
            ticket = link.stage(snapshot.version, _seal(key, snapshot, records), message)
        except Conflict:
            continue
        if ticket is None:
            raise ProtocolError("the run loop took the message without a ticket")
        return Queued(target, ticket)
    raise Conflict("the vault kept changing while the message was queued: try again")


def _encrypt(keys: VerifiedKeys, records: SourceRecords, target: str, text: str) -> EncryptedU2C:
    known = sorted(profile.id for profile in keys.profiles)
    if target not in known:
        listed = ", ".join(known) or "none"
        raise UnknownRecipient(
            f"{target!r} is not a recipient the organisation publishes; known: {listed}"
        )
    try:
        return encrypt_u2c(
            keys.covernode_wrapping_keys(),
            recipient_id=target,
            recipient_key=keys.journalist_messaging_key(target),
            reply_key=ReplyKey.of(records.user_key),
            text=text,
        )
    except KeyUnavailable as error:
        raise UnknownRecipient(f"{target!r} cannot be written to now: {error}") from None
