"""The desk's periodic step against a real edge (the Starlette app under uvicorn, SQLite in
a temporary folder), with time moved by hand."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from quietline.clock import FixedClock
from quietline.desk.report import Sent
from quietline.desk.service import Desk, DeskEdge
from quietline.desk.state import (
    Flow,
    MessageKind,
    UnknownSource,
    coarse,
    recipient_from_bundle,
)
from quietline.edge import EdgeStore, create_app
from quietline.edge_client import EdgeClient
from quietline.protocol.api import KeySubmission
from quietline.protocol.boxes import AnonymousBox
from quietline.protocol.certificates import KeyRole
from quietline.protocol.constants import MAX_EPOCH
from quietline.protocol.deaddrops import B, DeadDrop, JournalistDeadDrop, sign_journalist_dead_drop
from quietline.protocol.errors import MessageTooLong
from quietline.protocol.forms import SignedForm
from quietline.protocol.hierarchy import PublishedKeys
from quietline.protocol.jsonvalues import I64_MAX
from quietline.protocol.keygen import generate_messaging_key
from quietline.protocol.keys import (
    EncryptionKeyPair,
    JournalistMessagingKey,
    ReplyKey,
    SigningKeyPair,
)
from quietline.protocol.messages import U2J, J2UType, U2JMessage, filler_c2j
from quietline.protocol.pcs import PaddedCompressedString
from quietline.protocol.recipients import RecipientId
from tests.desk.world import (
    NOW,
    PERIOD,
    World,
    bundle_for,
    drop_message,
    keys_from,
    make_desk,
    open_j2c,
    publish_covernode_messaging,
    seal_message,
    sent_j2c,
)
from tests.support.coverdrop_clients import app_handover_id
from tests.support.edge_server import serve
from tests.support.organisation import Organisation
from tests.support.queues import sqlite_queues


def test_a_message_in_a_dead_drop_is_read_and_stored_once(world: World) -> None:
    world.add("alice")
    source = EncryptionKeyPair.generate()
    dead_drop_id = world.write("alice", source, "the documents are in the locker")

    report = world.desk.step(world.now)
    assert (report.dead_drops_read, report.messages_received) == (1, 1)
    assert report.notes == []
    world.tick()
    assert world.desk.step(world.now).messages_received == 0

    state = world.desk.store.read()
    assert state.cursor == dead_drop_id
    (conversation,) = state.conversations.values()
    assert conversation.reply_key == source.public
    assert conversation.recipient_id == "alice"
    assert [(m.direction, m.text) for m in conversation.messages] == [
        (Flow.IN, "the documents are in the locker")
    ]


def test_the_same_message_in_a_second_dead_drop_is_not_stored_twice(world: World) -> None:
    key = world.add("alice")
    source = EncryptionKeyPair.generate()
    sealed = seal_message(key, source, "once")
    for _ in range(2):  # a re-published batch: the same sealed message, freshly forwarded
        drop_message(world.org, world.edge, world.now, key, sealed, epoch=world.store.max_epoch())
        world.clock.advance(timedelta(seconds=1))
    report = world.desk.step(world.now)
    assert (report.dead_drops_read, report.messages_received) == (2, 1)
    (conversation,) = world.desk.store.read().conversations.values()
    assert len(conversation.messages) == 1


def test_exactly_one_j2c_per_period_and_the_queued_reply_is_the_one_sent(world: World) -> None:
    sender = world.add("alice")
    source = EncryptionKeyPair.generate()
    world.write("alice", source, "hello")

    assert world.desk.step(world.now).sent is Sent.COVER
    world.clock.advance(PERIOD / 2)
    assert world.desk.step(world.now).sent is Sent.NOTHING
    assert len(sent_j2c(world.store)) == 1

    conversation, _ = world.desk.reply(source.public.hex()[:8], "we got it", world.now)
    world.clock.advance(PERIOD / 2)
    report = world.desk.step(world.now)
    assert (report.sent, report.reply_to) == (Sent.REPLY, conversation.short_id)
    world.tick()
    assert world.desk.step(world.now).sent is Sent.COVER

    queued = sent_j2c(world.store)
    assert len(queued) == 3
    opened = [open_j2c(world.org, raw, source, sender) for raw in queued]
    assert [real for real, _ in opened] == [False, True, False]
    reply = opened[1][1]
    assert reply is not None
    assert (reply.type, reply.body.text()) == (J2UType.TEXT, "we got it")
    state = world.desk.store.read()
    assert state.outbox == []
    assert state.conversation(conversation.short_id).messages[-1].sent_at is not None


def test_a_failed_send_keeps_the_reply_until_it_can_go(world: World) -> None:
    # carol's identity is not published yet, so the edge refuses what her desk signs.
    recipient = recipient_from_bundle(bundle_for(world.org, "carol", world.now))
    problems: list[str] = []
    world.desk.add_recipient(recipient, world.now, problems.append)
    assert len(problems) == 1
    assert "not published yet" in problems[0]
    source = EncryptionKeyPair.generate()
    key = JournalistMessagingKey.of(recipient.messaging[0].pair)
    drop_message(
        world.org,
        world.edge,
        world.now,
        key,
        seal_message(key, source, "for carol"),
        epoch=world.store.max_epoch(),
    )
    assert world.desk.step(world.now).messages_received == 1
    world.desk.reply(source.public.hex(), "carol here", world.now)

    world.tick()
    report = world.desk.step(world.now)
    assert report.sent is Sent.FAILED
    assert sent_j2c(world.store) == []
    assert len(world.desk.store.read().outbox) == 1

    world.org.publish(world.edge, world.now, recipients=("carol",), messaging=False)
    world.clock.advance(timedelta(seconds=1))
    report = world.desk.step(world.now)
    assert (report.sent, report.keys_published) == (Sent.REPLY, 1)
    (raw,) = sent_j2c(world.store)
    real, reply = open_j2c(world.org, raw, source, key)
    assert real
    assert reply is not None
    assert reply.body.text() == "carol here"


class Died(BaseException):
    """The desk process ended abruptly (what SIGKILL does to a step part way)."""


@dataclass
class DiesAfterSending:
    """The desk's real edge connection, but the desk dies as soon as a J2C has left:
    between sending a reply and saving that it went."""

    edge: DeskEdge

    def public_keys(self) -> PublishedKeys:
        return self.edge.public_keys()

    def dead_drops(self, body_type: type[B], after: int) -> list[DeadDrop[B]]:
        return self.edge.dead_drops(body_type, after)

    def publish_key(self, submission: KeySubmission) -> int:
        return self.edge.publish_key(submission)

    def send_j2c(self, form: SignedForm) -> None:
        self.edge.send_j2c(form)
        raise Died


def test_a_desk_killed_after_sending_a_reply_sends_the_very_same_bytes_again(
    world: World,
) -> None:
    """So the mixer drops the second copy as a replay, and the source reads one reply."""
    sender = world.add("alice")
    source = EncryptionKeyPair.generate()
    world.write("alice", source, "hello")
    assert world.desk.step(world.now).sent is Sent.COVER
    conversation, _ = world.desk.reply(source.public.hex()[:8], "we got it", world.now)

    world.tick()
    dying = Desk(world.desk.store, DiesAfterSending(world.desk.edge), [world.org.anchor], PERIOD)
    with pytest.raises(Died):
        dying.step(world.now)
    state = world.desk.store.read()
    assert len(state.outbox) == 1  # the step never finished: nothing says it went
    assert state.in_flight is not None

    world.clock.advance(timedelta(seconds=1))
    report = world.desk.step(world.now)
    assert (report.sent, report.reply_to) == (Sent.REPLY, conversation.short_id)
    _cover, first, second = sent_j2c(world.store)
    assert first.data == second.data
    real, reply = open_j2c(world.org, second, source, sender)
    assert real
    assert reply is not None
    assert reply.body.text() == "we got it"
    state = world.desk.store.read()
    assert (state.outbox, state.in_flight) == ([], None)

    world.tick()
    assert world.desk.step(world.now).sent is Sent.COVER  # and the next reply is fresh


def test_a_dead_drop_newer_than_the_keys_waits_until_they_catch_up(tmp_path: Path) -> None:
    clock = FixedClock(NOW)
    org = Organisation.create(NOW, ("alice",))
    main_store = EdgeStore(tmp_path / "main.sqlite3")
    keys_store = EdgeStore(tmp_path / "keys.sqlite3")
    main_queues = sqlite_queues(main_store.path)
    keys_queues = sqlite_queues(keys_store.path)
    main_app = create_app(main_store, [org.anchor], clock, queues=main_queues.engine)
    # A CDN that still serves an older copy of the keys: a second real edge behind it.
    keys_app = create_app(keys_store, [org.anchor], clock, queues=keys_queues.engine)
    bundle = recipient_from_bundle(bundle_for(org, "alice", NOW))
    with (
        closing(main_queues),
        closing(keys_queues),
        serve(main_app) as main_url,
        serve(keys_app) as keys_url,
        serve(keys_from(keys_app, main_app)) as desk_url,
        EdgeClient(main_url) as main,
        EdgeClient(keys_url) as stale,
        EdgeClient(desk_url) as desk_edge,
    ):
        alice = RecipientId("alice")
        for edge in (main, stale):
            org.publish(edge, NOW, messaging=False)
            edge.publish_key(
                KeySubmission(
                    KeyRole.JOURNALIST_MSG,
                    alice,
                    org.recipients[alice].identity.pair.public.raw,
                    bundle.messaging[0].published,
                )
            )
        desk = make_desk(tmp_path, desk_edge, org)
        desk.add_recipient(bundle, NOW, pytest.fail)

        # The mixer rotates its messaging key and uses it in a dead drop of the new epoch.
        new_covernode_key = generate_messaging_key(
            KeyRole.COVERNODE_MSG, org.covernode_identity, NOW
        )
        epoch = publish_covernode_messaging(org, main, new_covernode_key)
        assert epoch == keys_store.max_epoch() + 1
        source = EncryptionKeyPair.generate()
        recipient_key = JournalistMessagingKey.of(bundle.messaging[0].pair)
        sealed = seal_message(recipient_key, source, "after the rotation")
        drop_message(
            org, main, NOW, recipient_key, sealed, epoch=epoch, covernode_key=new_covernode_key
        )

        report = desk.step(NOW)
        assert (report.dead_drops_read, report.messages_received) == (0, 0)
        assert report.waiting_for_epoch == epoch
        assert desk.store.read().cursor == 0

        publish_covernode_messaging(org, stale, new_covernode_key)  # the copy catches up
        clock.advance(PERIOD)
        report = desk.step(clock.now())
        assert (report.dead_drops_read, report.messages_received) == (1, 1)
        assert report.waiting_for_epoch is None
    main_store.close()
    keys_store.close()


def test_daily_rotation_publishes_a_new_messaging_key(world: World) -> None:
    first = world.add("alice")
    assert world.desk.step(world.now).keys_rotated == 0
    world.clock.advance(timedelta(days=1))
    report = world.desk.step(world.now)
    assert (report.keys_rotated, report.keys_published) == (1, 1)

    listed = world.org.verified(world.edge, world.now).of_role(KeyRole.JOURNALIST_MSG)["alice"]
    assert len(listed) == 2
    newest = world.org.verified(world.edge, world.now).journalist_messaging_key("alice")
    assert newest != first
    assert world.desk.store.read().recipient("alice").newest_messaging() is not None

    # Sources write to the new key, and replies now come from it.
    source = EncryptionKeyPair.generate()
    world.write("alice", source, "to the new key")
    world.tick()
    assert world.desk.step(world.now).messages_received == 1
    world.desk.reply(source.public.hex()[:8], "from the new key", world.now)
    world.tick()
    assert world.desk.step(world.now).sent is Sent.REPLY
    real, reply = open_j2c(world.org, sent_j2c(world.store)[-1], source, newest)
    assert real
    assert reply is not None
    assert reply.body.text() == "from the new key"


def test_messaging_keys_are_forgotten_a_week_after_they_expire(world: World) -> None:
    world.add("alice")
    world.clock.advance(timedelta(days=13))
    world.desk.step(world.now)
    assert len(world.desk.store.read().recipient("alice").messaging) == 2
    world.clock.advance(timedelta(days=9))  # the first key expired on day 14: + 7 days
    world.desk.step(world.now)
    created = [k.created_at for k in world.desk.store.read().recipient("alice").messaging]
    assert created == [NOW + timedelta(days=13), NOW + timedelta(days=22)]


def test_handover_between_two_recipients_on_one_desk(world: World) -> None:
    alice = world.add("alice")
    bob = world.add("bob")
    source = EncryptionKeyPair.generate()
    world.write("alice", source, "I have a story")
    world.desk.step(world.now)
    short = source.public.hex()[:8]

    handed = world.desk.handover(short, "bob", world.now)
    assert handed.moved
    state = world.desk.store.read()
    assert state.conversation(short).recipient_id == "bob"
    world.desk.reply(short, "bob here", world.now)
    for _ in range(2):
        world.tick()
        assert world.desk.step(world.now).sent is Sent.REPLY

    first, second = sent_j2c(world.store)[-2:]
    _, handover = open_j2c(world.org, first, source, alice)
    assert handover is not None
    assert (handover.type, handover.body.text()) == (J2UType.HANDOVER, "bob")
    assert app_handover_id(handover.to_bytes()) == "bob"  # as CoverDrop's apps read it
    _, reply = open_j2c(world.org, second, source, bob)
    assert reply is not None
    assert reply.body.text() == "bob here"
    kinds = [(m.kind, m.recipient_id) for m in world.desk.store.read().conversation(short).messages]
    assert kinds == [
        (MessageKind.TEXT, "alice"),
        (MessageKind.HANDOVER, "alice"),
        (MessageKind.TEXT, "bob"),
    ]

    # A recipient on another desk: the source is told, the conversation is marked.
    elsewhere = world.desk.handover(short, "dana", world.now)
    assert not elsewhere.moved
    assert world.desk.store.read().conversation(short).handed_over_to == "dana"


def test_replies_refuse_unknown_sources_and_long_texts(world: World) -> None:
    world.add("alice")
    source = EncryptionKeyPair.generate()
    world.write("alice", source, "hi")
    world.desk.step(world.now)
    with pytest.raises(UnknownSource):
        world.desk.reply("00000000", "hello", world.now)
    random_text = "".join(EncryptionKeyPair.generate().secret.hex() for _ in range(40))
    with pytest.raises(MessageTooLong, match="too long"):
        world.desk.reply(source.public.hex()[:8], random_text, world.now)
    assert world.desk.store.read().outbox == []


# --- hostile input -------------------------------------------------------------------------


def test_a_message_whose_reply_key_is_a_low_order_point_is_refused(world: World) -> None:
    # The attack: a U2J whose reply key is all zeros. Accepted, the first reply to it
    # would fail to seal and stop the desk on every start.
    key = world.add("alice")
    forged = U2JMessage(ReplyKey(bytes(32)), PaddedCompressedString.from_text("reply to me"))
    sealed = AnonymousBox.seal(U2J, key, forged)
    drop_message(world.org, world.edge, world.now, key, sealed, epoch=world.store.max_epoch())
    source = EncryptionKeyPair.generate()
    world.write("alice", source, "a real message")

    report = world.desk.step(world.now)
    assert (report.dead_drops_read, report.messages_received) == (2, 1)
    (conversation,) = world.desk.store.read().conversations.values()
    assert conversation.reply_key == source.public


def test_a_reply_that_can_never_be_sealed_is_dropped_and_the_next_one_goes(
    world: World,
) -> None:
    # A vault written before low-order reply keys were refused may hold such a source.
    sender = world.add("alice")
    source = EncryptionKeyPair.generate()
    world.write("alice", source, "hello")
    world.desk.step(world.now)
    with world.desk.store.transaction() as transaction:
        transaction.state.record_received(
            ReplyKey(bytes(32)), "alice", "reply to me", "attacker", world.now
        )
    world.desk.reply("0000", "this can never be sealed", world.now)
    world.desk.reply(source.public.hex()[:8], "this one can", world.now)

    world.tick()
    report = world.desk.step(world.now)
    assert report.sent is Sent.REPLY
    assert any("dropped a reply to 0000" in note for note in report.notes)
    real, reply = open_j2c(world.org, sent_j2c(world.store)[-1], source, sender)
    assert real
    assert reply is not None
    assert reply.body.text() == "this one can"
    assert world.desk.store.read().outbox == []
    world.tick()
    assert world.desk.step(world.now).sent is Sent.COVER


def _forged_dead_drop(epoch: int) -> JournalistDeadDrop:
    """A journalist dead drop signed by a key the organisation never certified."""
    forger = SigningKeyPair.generate()
    return sign_journalist_dead_drop(
        [filler_c2j()], NOW, epoch, identity=forger, identity_not_valid_after=NOW + PERIOD
    )


def test_a_forged_dead_drop_with_a_huge_epoch_neither_stalls_nor_hides_later_ones(
    world: World,
) -> None:
    # A hostile edge (its store written to directly) serves a forgery of the largest
    # epoch: the desk must check the signature before it waits for that epoch.
    world.add("alice")
    forged_id = world.store.add_dead_drop(_forged_dead_drop(MAX_EPOCH), world.now)
    source = EncryptionKeyPair.generate()
    real_id = world.write("alice", source, "after the forgery")

    report = world.desk.step(world.now)
    assert report.waiting_for_epoch is None
    assert report.messages_received == 1
    assert any(f"dead drop {forged_id} skipped" in note for note in report.notes)
    assert world.desk.store.read().cursor == real_id


def test_a_forged_dead_drop_with_a_huge_id_does_not_move_the_cursor(
    world: World, tmp_path: Path
) -> None:
    world.add("alice")
    source = EncryptionKeyPair.generate()
    real_id = world.write("alice", source, "before the forgery")
    forged_id = world.store.add_dead_drop(_forged_dead_drop(0), world.now)
    with closing(sqlite3.connect(tmp_path / "edge.sqlite3")) as db, db:
        db.execute("UPDATE dead_drops SET id = ? WHERE id = ?", (I64_MAX, forged_id))

    report = world.desk.step(world.now)
    assert report.messages_received == 1
    assert any(f"dead drop {I64_MAX} skipped" in note for note in report.notes)
    # Had the forgery moved the cursor, no later dead drop would ever be read.
    assert world.desk.store.read().cursor == real_id


def test_a_thread_keeps_the_order_written_and_only_coarse_times(world: World) -> None:
    world.add("alice")
    source = EncryptionKeyPair.generate()
    written = ["first", "second", "third"]
    published = []
    for text in written:  # three dead drops, a few minutes apart, all read in one step
        world.write("alice", source, text)
        published.append(world.now)
        world.clock.advance(timedelta(minutes=7, seconds=3, microseconds=17))
    assert world.desk.step(world.now).messages_received == 3
    world.desk.reply(source.public.hex()[:8], "noted", world.now)
    world.tick()
    world.desk.step(world.now)
    world.write("alice", source, "fourth")
    world.tick()
    world.desk.step(world.now)

    (conversation,) = world.desk.store.read().conversations.values()
    assert [m.text for m in conversation.messages] == [*written, "noted", "fourth"]
    ids = [m.id for m in conversation.messages]
    assert ids == sorted(ids)
    assert conversation.latest == ids[-1]
    # The hour of the dead drop each came in, not the moment the desk read it.
    assert [m.at for m in conversation.messages[:3]] == [coarse(t) for t in published]
    reply = conversation.messages[3]
    assert reply.sent_at is not None
    moments = [m.at for m in conversation.messages] + [reply.sent_at]
    assert all((t.minute, t.second, t.microsecond) == (0, 0, 0) for t in moments)


def test_messages_older_than_the_desk_keeps_them_are_deleted_but_not_unsent_replies(
    world: World,
) -> None:
    world.add("alice")
    world.desk.keep_messages = timedelta(days=30)
    source = EncryptionKeyPair.generate()
    world.write("alice", source, "old news")
    world.desk.step(world.now)
    world.desk.reply(source.public.hex(), "an answer that waits", world.now)
    world.clock.advance(timedelta(days=31))
    report = world.desk.step(world.now)
    assert report.messages_forgotten == 1
    assert "old messages deleted 1" in report.line()
    (conversation,) = world.desk.store.read().conversations.values()
    assert [m.text for m in conversation.messages] == ["an answer that waits"]
    world.tick()
    assert world.desk.step(world.now).messages_forgotten == 0
