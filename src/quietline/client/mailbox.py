"""What the user does with a source client, all of it local: queue a message in place of
the next cover message, and read the replies found in downloaded dead drops.

Both hold the vault's lock (never the run loop's) around the read-modify-write of the
vault, key derivation included; ``send`` takes the queue's lock only for the quick read
and atomic replace of the sending queue, so nothing here can delay a scheduled send or
download. Both rewrite the vault (``inbox`` even when nothing arrived), so a vault's
modification time says only that someone unlocked it, never what they did.
"""

from __future__ import annotations

from datetime import datetime

from quietline.client.errors import QueueFull, TextTooLong, WrongPassphrase
from quietline.client.records import Reply, SentMessage, SourceRecords, StoredReply
from quietline.client.storage import SourceStorage
from quietline.protocol.deaddrops import UserTrialDecryptor
from quietline.protocol.errors import (
    KeyUnavailable,
    MalformedInput,
    ProtocolError,
    SendingQueueFull,
    UnknownRecipient,
)
from quietline.protocol.keys import ReplyKey
from quietline.protocol.messages import encrypt_u2c
from quietline.protocol.pcs import PaddedCompressedString
from quietline.protocol.verification import VerifiedKeys
from quietline.vault import HEADER_LEN, LENGTH_LEN, MAC_LEN, VaultLocked


def queue_message(
    storage: SourceStorage,
    keys: VerifiedKeys,
    passphrase: str,
    recipient_id: str,
    text: str,
    *,
    new: bool,
    now: datetime,
) -> str:
    """Enqueue a real U2C for ``recipient_id`` (after handovers) and keep it in the vault;
    returns the recipient it will reach.

    Raises TextTooLong, WrongPassphrase, UnknownRecipient or QueueFull, having changed
    nothing (except that ``new`` may already have created the vault).
    """
    if not PaddedCompressedString.fits(text):
        raise TextTooLong(
            "the message is too long: after compression at most 510 bytes fit in one "
            "message; split it into several"
        )
    with storage.vault_locked():
        records, vault_key = open_records(storage, passphrase, create=new)
        target = records.current_recipient(recipient_id)
        known = sorted(profile.id for profile in keys.profiles)
        if target not in known:
            listed = ", ".join(known) or "none"
            raise UnknownRecipient(
                f"{target!r} is not a recipient the organisation publishes; known: {listed}"
            )
        try:
            message = encrypt_u2c(
                keys.covernode_wrapping_keys(),
                recipient_id=target,
                recipient_key=keys.journalist_messaging_key(target),
                reply_key=ReplyKey.of(records.user_key),
                text=text,
            )
        except KeyUnavailable as error:
            raise UnknownRecipient(f"{target!r} cannot be written to now: {error}") from None
        with storage.locked():
            queue = storage.read_queue(records.hint_key)
            try:
                queue.enqueue(message)
            except SendingQueueFull:
                raise QueueFull(
                    f"{queue.real_count()} messages are already waiting to be sent; try "
                    "again after the client has sent one"
                ) from None
            storage.write_queue(queue)
        records.sent.append(SentMessage(target, PaddedCompressedString.from_text(text), now))
        save_records(storage, records, vault_key)
    return target


def read_inbox(storage: SourceStorage, keys: VerifiedKeys, passphrase: str) -> list[Reply]:
    """Trial-decrypt every cached user dead drop, keep new replies (and handovers) in the
    vault, and return every reply kept, oldest first. Raises WrongPassphrase."""
    with storage.vault_locked():
        records, vault_key = open_records(storage, passphrase, create=False)
        # Replaced whole by the run loop, so a read without its lock is consistent.
        cache = storage.read_cache()
        decryptor = UserTrialDecryptor(records.user_key, keys)
        for drop in cache.dead_drops:
            for reply in decryptor.open(drop):
                records.add_reply(
                    StoredReply.of(reply.journalist_id, reply.message, drop.body.created_at)
                )
        save_records(storage, records, vault_key)
    return [reply.shown() for reply in records.replies]


def read_sent(storage: SourceStorage, passphrase: str) -> list[tuple[str, str, datetime]]:
    """(recipient id, text, when queued) of every sent message the vault still keeps."""
    with storage.vault_locked():
        records, _ = open_records(storage, passphrase, create=False)
    shown = []
    for message in records.sent:
        try:
            text = message.text.text()
        except MalformedInput:
            text = "(unreadable)"
        shown.append((message.recipient_id, text, message.queued_at))
    return shown


def open_records(
    storage: SourceStorage, passphrase: str, *, create: bool
) -> tuple[SourceRecords, bytes]:
    """The vault's records and key; with ``create``, a new vault when the passphrase opens
    none. Raises WrongPassphrase."""
    vault = storage.vault
    try:
        contents, key = vault.open(passphrase)
    except VaultLocked:
        if not create:
            # The same answer for a mistyped passphrase and a vault nobody ever used (the
            # two look alike on purpose), and no hint to create a vault: that would
            # destroy the one a mistyped passphrase failed to open.
            raise WrongPassphrase(
                f"the passphrase did not open the vault in {storage.folder}"
            ) from None
        records = SourceRecords.new()
        return records, vault.create(passphrase, records.to_json())
    try:
        return SourceRecords.from_json(contents), key
    except ProtocolError as error:
        raise WrongPassphrase(f"the vault opened but its contents are damaged: {error}") from None


def save_records(storage: SourceStorage, records: SourceRecords, vault_key: bytes) -> None:
    """Rewrite the whole vault, dropping the oldest entries if it would overflow."""
    records.trim_to(storage.vault.size - HEADER_LEN - MAC_LEN - LENGTH_LEN)
    storage.vault.save(vault_key, records.to_json())
