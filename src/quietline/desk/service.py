"""The desk's work: read what sources sent, keep conversations, reply on a fixed schedule.

One :meth:`Desk.step` per period does, under the vault lock:

0. delete messages older than the desk keeps them (``keep_messages``, if set), except
   replies still waiting to leave;
1. rotate every recipient's messaging key when a day old, saving it before publishing it,
   and forget messaging keys a week after they expire;
2. fetch and verify the published keys from the pinned anchors, and publish any of the
   desk's messaging keys the edge does not list yet;
3. read journalist dead drops after the cursor: each signature is checked first (keys
   are fetched again once per step for a signer we do not know yet), and one that does
   not verify is skipped with a note without moving the cursor; a verified dead drop
   whose epoch is newer than the verified keys waits (keys are fetched again once; if
   still older the desk stops there and the cursor does not pass it); each recipient
   trial-decrypts; new messages are stored once; a dead drop that cannot be read is
   skipped with a note;
4. send exactly one J2C when the period is due: the head of the outbox, else cover. Every
   J2C, real or cover, is signed by the same identity (the desk's first recipient's), so
   the edge cannot tell which recipient replied, or whether anyone did. A failed send
   keeps the reply at the head of the outbox. A reply is saved encrypted ("in flight")
   before it leaves, so a desk killed after sending it sends the very same bytes again,
   which the mixer drops as a replay: the source reads it once. A reply that can never
   be built (its sender has no messaging key, or the source's reply key is unusable)
   leaves the outbox with a note, and the next one (or cover) goes instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from quietline.desk.keys import reply_pair, rotate_keys, trial_decryptors
from quietline.desk.report import DeskReport, Sent
from quietline.desk.state import (
    Conversation,
    DeskState,
    InFlight,
    Message,
    MessageKind,
    Recipient,
    message_digest,
)
from quietline.desk.store import DeskStore
from quietline.edge_client import EdgeRefused, EdgeUnavailable
from quietline.protocol.api import J2CSubmission, KeySubmission
from quietline.protocol.certificates import KeyRole, SignedKey
from quietline.protocol.deaddrops import (
    B,
    DeadDrop,
    JournalistDeadDrop,
    JournalistTrialDecryptor,
    needs_newer_keys,
)
from quietline.protocol.errors import MessageTooLong, MisuseError, ProtocolError, QuietlineError
from quietline.protocol.forms import SignedForm, sign_form
from quietline.protocol.hierarchy import JournalistProfile, PublishedKeys
from quietline.protocol.keygen import CertifiedEncryptionKey
from quietline.protocol.keys import CoverNodeMessagingKey, EncryptionKeyPair
from quietline.protocol.messages import (
    EncryptedJ2C,
    J2UMessage,
    encrypt_cover_j2c,
    encrypt_j2c,
    handover,
    parse_j2c,
    text_reply,
)
from quietline.protocol.pcs import PaddedCompressedString
from quietline.protocol.verification import VerifiedKeys, verify_published_keys

# A misbehaving edge could page forever; a desk reads at most this many pages per step.
MAX_DEAD_DROP_PAGES = 1000
EdgeFailure = (EdgeUnavailable, EdgeRefused, ProtocolError)


class DeskEdge(Protocol):
    """What the desk needs of the edge (``EdgeClient`` is one)."""

    def public_keys(self) -> PublishedKeys: ...

    def dead_drops(self, body_type: type[B], after: int) -> list[DeadDrop[B]]: ...

    def publish_key(self, submission: KeySubmission) -> int: ...

    def send_j2c(self, form: SignedForm) -> None: ...


@dataclass(frozen=True, slots=True)
class Handover:
    """A queued handover: whether the conversation moved to a recipient on this desk."""

    message: Message
    moved: bool


class Desk:
    """A desk working against one edge, verifying everything from ``anchors``."""

    def __init__(
        self,
        store: DeskStore,
        edge: DeskEdge,
        anchors: Sequence[SignedKey],
        period: timedelta,
        keep_messages: timedelta | None = None,
    ) -> None:
        self.store = store
        self.edge = edge
        self.anchors = tuple(anchors)
        self.period = period
        self.keep_messages = keep_messages

    # --- what people do -----------------------------------------------------------------

    def add_recipient(
        self, recipient: Recipient, now: datetime, note: Callable[[str], None]
    ) -> bool:
        """Import a recipient (or merge a renewed bundle), then try to publish its messaging
        keys; an edge that is down only defers that to the next step. Returns True when
        the recipient is new."""
        with self.store.transaction() as transaction:
            new = transaction.state.put_recipient(recipient)
            held = transaction.state.recipient(recipient.id)
        for key in held.messaging:
            if now <= key.not_valid_after:
                self._publish(held, key, note)
        return new

    def reply(
        self, source: str, text: str, now: datetime, as_recipient: str | None = None
    ) -> tuple[Conversation, Message]:
        """Queue a text reply to ``source`` (a prefix of its reply key, hex), from the
        recipient it is with unless ``as_recipient`` says otherwise.

        Raises MessageTooLong, UnknownSource, UnknownRecipient.
        """
        _require_fits(text, "the reply")
        with self.store.transaction() as transaction:
            state = transaction.state
            conversation = state.conversation(source)
            sender = state.recipient(as_recipient or conversation.recipient_id)
            message = state.queue_outgoing(conversation, MessageKind.TEXT, sender.id, text, now)
        return conversation, message

    def handover(self, source: str, new_recipient_id: str, now: datetime) -> Handover:
        """Queue a handover message telling ``source`` that ``new_recipient_id`` takes over.
        When that recipient is on this desk the conversation moves to it; otherwise the
        conversation is marked as handed over.

        Raises MalformedInput for an id the source could not read (not a valid id, or
        longer than CoverDrop's apps take in a handover), UnknownSource, UnknownRecipient
        (the conversation's own recipient is gone), MisuseError (the source is already
        with that recipient).
        """
        handover(new_recipient_id)  # the check: a handover that could not be sent is refused now
        with self.store.transaction() as transaction:
            state = transaction.state
            conversation = state.conversation(source)
            if conversation.recipient_id == new_recipient_id:
                raise MisuseError(f"source {conversation.short_id} is already with that recipient")
            sender = state.recipient(conversation.recipient_id)
            message = state.queue_outgoing(
                conversation, MessageKind.HANDOVER, sender.id, new_recipient_id, now
            )
            moved = state.has_recipient(new_recipient_id)
            if moved:
                conversation.recipient_id = new_recipient_id
                conversation.handed_over_to = None
            else:
                conversation.handed_over_to = new_recipient_id
        return Handover(message, moved)

    def published_recipients(self, now: datetime) -> list[JournalistProfile]:
        """The recipients the organisation publishes now (a profile with a verified
        identity key): the only ones a source can be handed over to.

        Raises EdgeUnavailable, EdgeRefused or ProtocolError when the edge cannot say.
        """
        published = self.edge.public_keys()
        verified = verify_published_keys(published, self.anchors, now).verified
        identities = verified.of_role(KeyRole.JOURNALIST_ID)
        return [profile for profile in published.profiles if identities.get(profile.id)]

    # --- the periodic step --------------------------------------------------------------

    def step(self, now: datetime) -> DeskReport:
        """Do one period's work at ``now`` (see the module docstring). Never raises for an
        unreachable or misbehaving edge: problems are reported and retried next step."""
        step = DeskReport(now)
        with self.store.transaction() as transaction:
            state = transaction.state
            if self.keep_messages is not None:
                step.messages_forgotten = state.forget_before(now - self.keep_messages)
            step.keys_rotated = rotate_keys(state, now, step.notes.append)
            if step.keys_rotated:
                transaction.save()  # durable before it is published
            keys = self._fetch_keys(step)
            if keys is not None and self._publish_missing(state, keys, step):
                keys = self._fetch_keys(step)
            if keys is not None:
                self._read_dead_drops(state, keys, step)
            step.sent, step.reply_to = self._send(state, keys, step, transaction.save)
        if step.sent is Sent.NOTHING and state.last_j2c_at is not None:
            step.next_send_at = state.last_j2c_at + self.period
        else:
            step.next_send_at = now + self.period
        return step

    def pause(self, report: DeskReport, now: datetime) -> float:
        """Seconds to wait after ``report``'s step before the next one: until the next J2C
        is due."""
        due = report.next_send_at or now + self.period
        return (due - now).total_seconds()

    def _fetch_keys(self, step: DeskReport) -> VerifiedKeys | None:
        try:
            published = self.edge.public_keys()
            return verify_published_keys(published, self.anchors, step.at).verified
        except EdgeFailure as error:
            step.edge_reached = False
            step.notes.append(f"cannot get verified keys: {error}")
            return None

    def _publish(
        self, recipient: Recipient, key: CertifiedEncryptionKey, note: Callable[[str], None]
    ) -> bool:
        try:
            self.edge.publish_key(
                KeySubmission(
                    KeyRole.JOURNALIST_MSG,
                    recipient.id,
                    recipient.identity.pair.public.raw,
                    key.published,
                )
            )
        except EdgeFailure as error:
            note(
                f"messaging key of {recipient.id} not published yet: {error} "
                "(has the admin published its identity? the desk retries every period)"
            )
            return False
        return True

    def _publish_missing(self, state: DeskState, keys: VerifiedKeys, step: DeskReport) -> bool:
        verified = keys.of_role(KeyRole.JOURNALIST_ID)
        listed = keys.of_role(KeyRole.JOURNALIST_MSG)
        for recipient in state.recipients:
            identities = {k.key for k in verified.get(recipient.id, ())}
            if recipient.identity.pair.public.raw not in identities:
                step.notes.append(
                    f"the identity key of {recipient.id} is not among the verified published "
                    "keys (ask the admin to publish it)"
                )
                continue
            known = {k.key for k in listed.get(recipient.id, ())}
            for key in recipient.messaging:
                if step.at <= key.not_valid_after and key.published.key not in known:
                    step.keys_published += self._publish(recipient, key, step.notes.append)
        return step.keys_published > 0

    def _read_dead_drops(self, state: DeskState, keys: VerifiedKeys, step: DeskReport) -> None:
        """Read dead drops after the cursor. Nothing in a dead drop is acted on before its
        signature verifies: a forged one (a huge id or epoch, say) is skipped with a note
        and never moves the cursor, so it can neither stall the desk nor hide later ones."""
        reader = _KeyRefresh(self, state, keys, step)
        for _ in range(MAX_DEAD_DROP_PAGES):
            try:
                page = self.edge.dead_drops(JournalistDeadDrop, state.cursor)
            except EdgeFailure as error:
                step.notes.append(f"cannot read dead drops: {error}")
                return
            start = state.cursor
            for dead_drop in sorted((d for d in page if d.id > start), key=lambda d: d.id):
                if not reader.verify(dead_drop):
                    step.notes.append(
                        f"dead drop {dead_drop.id} skipped: no CoverNode identity key we "
                        "trust signed it"
                    )
                    continue
                if needs_newer_keys(dead_drop, reader.keys):
                    reader.refresh()
                if needs_newer_keys(dead_drop, reader.keys):
                    step.waiting_for_epoch = dead_drop.body.epoch
                    return
                try:
                    self._open(state, dead_drop, reader.decryptors, step)
                except QuietlineError as error:
                    step.notes.append(f"dead drop {dead_drop.id} skipped: {error}")
                state.cursor = dead_drop.id
                state.last_dead_drop_at = dead_drop.body.created_at
                step.dead_drops_read += 1
            if state.cursor == start:
                return  # nothing new that verified: the rest waits for the next step

    def _open(
        self,
        state: DeskState,
        dead_drop: DeadDrop[JournalistDeadDrop],
        decryptors: Sequence[tuple[str, JournalistTrialDecryptor]],
        step: DeskReport,
    ) -> None:
        for recipient_id, decryptor in decryptors:
            for received in decryptor.open(dead_drop):
                try:
                    text = received.message.text.text()
                except ProtocolError:
                    step.notes.append(f"an unreadable message in dead drop {dead_drop.id}")
                    continue
                stored = state.record_received(
                    received.message.reply_key,
                    recipient_id,
                    text,
                    message_digest(received.message),
                    dead_drop.body.created_at,
                )
                step.messages_received += stored is not None

    def _send(
        self,
        state: DeskState,
        keys: VerifiedKeys | None,
        step: DeskReport,
        save: Callable[[], None],
    ) -> tuple[Sent, str | None]:
        if state.last_j2c_at is not None and step.at < state.last_j2c_at + self.period:
            return Sent.NOTHING, None
        if keys is None or not state.recipients:
            step.notes.append("nothing sent this period: no verified keys or no recipient")
            return Sent.FAILED, None
        # The signer must be one the edge trusts now: published, unexpired, not revoked.
        trusted = {key.key for keys_of in keys.of_role(KeyRole.JOURNALIST_ID).values()
                   for key in keys_of}  # fmt: skip
        signer = next((r for r in state.recipients if r.identity.pair.public.raw in trusted), None)
        if signer is None:
            step.notes.append(
                "nothing sent: no recipient's identity key is published, unexpired and "
                "not revoked (ask the admin to publish or renew it)"
            )
            return Sent.FAILED, None
        try:
            wrapping = keys.covernode_wrapping_keys()
            head, j2c = self._next_j2c(state, keys, wrapping, step, save)
            form = sign_form(J2CSubmission(j2c).to_json(), signer.identity.pair, step.at)
            self.edge.send_j2c(form)
        except (*EdgeFailure, MisuseError) as error:
            step.notes.append(f"send failed: {error}")
            return Sent.FAILED, None
        state.last_j2c_at = step.at
        if head is None:
            return Sent.COVER, None
        state.mark_sent(head[1].id, step.at)
        return Sent.REPLY, head[0].short_id

    def _next_j2c(
        self,
        state: DeskState,
        keys: VerifiedKeys,
        wrapping: Sequence[CoverNodeMessagingKey],
        step: DeskReport,
        save: Callable[[], None],
    ) -> tuple[tuple[Conversation, Message] | None, EncryptedJ2C]:
        """The J2C to send: the first reply in the outbox that can be built, else cover.
        A reply that can never be built (the source's reply key is unusable) leaves the
        outbox with a note, so it cannot block the replies behind it."""
        while (head := self._outbox_head(state, keys, step)) is not None:
            conversation, message, _ = head
            try:
                j2c = _reply_in_flight(state, keys, wrapping, head, save)
            except ProtocolError as error:
                step.notes.append(
                    f"dropped a reply to {conversation.short_id}: it cannot be sent ({error})"
                )
                state.outbox.pop(0)
                continue
            return (conversation, message), j2c
        return None, encrypt_cover_j2c(wrapping)

    def _outbox_head(
        self, state: DeskState, keys: VerifiedKeys, step: DeskReport
    ) -> tuple[Conversation, Message, EncryptionKeyPair] | None:
        while state.outbox:
            try:
                conversation, message = state.message(state.outbox[0])
            except KeyError:
                state.outbox.pop(0)
                continue
            if state.has_recipient(message.recipient_id):
                pair = reply_pair(state.recipient(message.recipient_id), keys, step.at)
                if pair is not None:
                    return conversation, message, pair
            # Its sender left the desk or has no key: it can never go; don't block the rest.
            step.notes.append(
                f"dropped a reply to {conversation.short_id}: {message.recipient_id} "
                "has no messaging key on this desk"
            )
            state.outbox.pop(0)
        return None


def _reply_in_flight(
    state: DeskState,
    keys: VerifiedKeys,
    wrapping: Sequence[CoverNodeMessagingKey],
    head: tuple[Conversation, Message, EncryptionKeyPair],
    save: Callable[[], None],
) -> EncryptedJ2C:
    """The J2C carrying the outbox head: the one kept in flight if it is for this message
    and every key it is wrapped for is still published (else a fresh one, kept in flight
    and saved before it leaves, so that a crash after sending sends the same bytes again
    and the mixer drops the copy as a replay)."""
    conversation, message, pair = head
    held = state.in_flight
    published = {key.key for node in keys.of_role(KeyRole.COVERNODE_MSG).values() for key in node}
    if held is not None and held.message_id == message.id and set(held.wrapped_for) <= published:
        return parse_j2c(held.j2c)
    j2c = encrypt_j2c(wrapping, pair, conversation.reply_key, _j2u(message))
    state.in_flight = InFlight(message.id, j2c.data, tuple(key.raw for key in wrapping))
    save()
    return j2c


class _KeyRefresh:
    """The verified keys a step reads dead drops with, fetched again at most once per step
    (when a dead drop needs a key or an epoch the set lacks)."""

    def __init__(self, desk: Desk, state: DeskState, keys: VerifiedKeys, step: DeskReport):
        self._desk, self._state, self._step = desk, state, step
        self.keys = keys
        self.decryptors = trial_decryptors(state, keys)
        self._refreshed = False

    def refresh(self) -> bool:
        """Fetch the keys again unless done already this step; True when that happened."""
        if self._refreshed:
            return False
        self._refreshed = True
        newer = self._desk._fetch_keys(self._step)
        if newer is None:
            return False
        self.keys, self.decryptors = newer, trial_decryptors(self._state, newer)
        return True

    def verify(self, dead_drop: DeadDrop[JournalistDeadDrop]) -> bool:
        """Whether a CoverNode identity key of the verified set signed ``dead_drop``
        (looking at the published keys again once, for a key newer than ours)."""
        for _ in range(2):
            try:
                dead_drop.body.verify(self.keys)
            except ProtocolError:
                if not self.refresh():
                    return False
                continue
            return True
        return False


def _require_fits(text: str, what: str) -> None:
    if not PaddedCompressedString.fits(text):
        raise MessageTooLong(f"{what} is too long: it must compress to at most 510 bytes")


def _j2u(message: Message) -> J2UMessage:
    if message.kind is MessageKind.HANDOVER:
        return handover(message.text)
    return text_reply(message.text)
