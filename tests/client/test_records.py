"""The vault's records: bounded entries, oldest dropped first, handovers followed, and a
round trip through JSON for any records."""

import json
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quietline.client.records import SentMessage, SourceRecords, StoredReply
from quietline.protocol.errors import MalformedInput
from quietline.protocol.messages import J2UMessage, J2UType, handover, text_reply
from quietline.protocol.pcs import PaddedCompressedString
from tests.protocol.strategies import encryption_pairs, moments

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_records_round_trip_through_json() -> None:
    records = SourceRecords.new()
    records.sent.append(SentMessage("desk", PaddedCompressedString.from_text("hi"), T0))
    records.add_reply(StoredReply.of("desk", text_reply("hello"), T0))
    records.add_reply(StoredReply.of("desk", handover("other"), T0 + timedelta(seconds=1)))
    again = SourceRecords.from_json(records.to_json())
    assert again.to_json() == records.to_json()
    assert [r.shown().kind for r in again.replies] == ["text", "handover"]
    assert again.handovers == {"desk": "other"}


def test_the_same_reply_is_kept_once() -> None:
    records = SourceRecords.new()
    reply = text_reply("hello")
    assert records.add_reply(StoredReply.of("desk", reply, T0))
    assert not records.add_reply(StoredReply.of("desk", reply, T0 + timedelta(days=1)))
    assert len(records.replies) == 1


def test_handovers_are_followed_and_cycles_stop() -> None:
    records = SourceRecords.new()
    records.handovers = {"a": "b", "b": "c", "x": "y", "y": "x"}
    assert records.current_recipient("a") == "c"
    assert records.current_recipient("c") == "c"
    assert records.current_recipient("x") == "y"


def test_trim_drops_the_oldest_entries_first() -> None:
    records = SourceRecords.new()
    for minute in range(10):
        records.sent.append(
            SentMessage(
                "desk",
                PaddedCompressedString.from_text(f"m{minute}"),
                T0 + timedelta(minutes=minute),
            )
        )
    records.add_reply(StoredReply.of("desk", text_reply("r"), T0 + timedelta(seconds=30)))
    entry = len(records.serialised()) - len(SourceRecords(records.user_key).serialised())
    room = len(records.serialised()) - entry // 3
    dropped = records.trim_to(room)
    assert len(records.serialised()) <= room
    assert dropped >= 1
    assert records.sent[-1].queued_at == T0 + timedelta(minutes=9)
    assert records.sent[0].queued_at > T0


def test_records_round_trip_through_the_stored_form_and_damage_is_refused() -> None:
    records = SourceRecords.new()
    records.sent.append(SentMessage("desk", PaddedCompressedString.from_text("hi"), T0))
    stored = records.serialised()
    assert SourceRecords.parse(stored).to_json() == records.to_json()
    # The padding is dropped: a short message takes far less than its 512 bytes.
    assert len(stored) < 300
    for damaged in (b"", stored[:-1], stored + b"x", b"not zlib", zlib.compress(b"[1]")):
        with pytest.raises(MalformedInput):
            SourceRecords.parse(damaged)
    with pytest.raises(MalformedInput):
        SourceRecords.parse(zlib.compress(b" " * (17 * 1024 * 1024)))


def test_garbage_is_refused() -> None:
    with pytest.raises(MalformedInput):
        SourceRecords.from_json({"version": 99})
    with pytest.raises(MalformedInput):
        SourceRecords.from_json([])
    good = SourceRecords.new().to_json()
    with pytest.raises(MalformedInput):
        SourceRecords.from_json({**good, "handovers": {"a": 1}})


texts = st.binary(min_size=512, max_size=512).map(PaddedCompressedString)
sent_messages = st.builds(SentMessage, st.text(min_size=1), texts, moments)
stored_replies = st.builds(
    StoredReply.of,
    st.text(min_size=1),
    st.builds(
        lambda kind, body: J2UMessage.from_bytes(bytes([kind]) + body),
        st.sampled_from(J2UType),
        st.binary(min_size=512, max_size=512),
    ),
    moments,
)
records = st.builds(
    SourceRecords,
    encryption_pairs,
    st.lists(sent_messages, max_size=3),
    st.lists(stored_replies, max_size=3),
    st.dictionaries(st.text(min_size=1), st.text(min_size=1), max_size=3),
)


@given(sent_messages)
def test_any_sent_message_round_trips(message: SentMessage) -> None:
    """The same stored form and the same text; only the padding (never read) is dropped."""
    again = SentMessage.from_json(json.loads(json.dumps(message.to_json())))
    assert again.to_json() == message.to_json()
    assert _text(again.text) == _text(message.text)


@given(stored_replies)
def test_any_stored_reply_round_trips(reply: StoredReply) -> None:
    again = StoredReply.from_json(json.loads(json.dumps(reply.to_json())))
    assert again.to_json() == reply.to_json()
    assert again.shown() == reply.shown()


def _text(pcs: PaddedCompressedString) -> str | None:
    try:
        return pcs.text()
    except MalformedInput:
        return None


@given(records)
def test_any_records_round_trip(kept: SourceRecords) -> None:
    again = SourceRecords.parse(kept.serialised())
    assert again.to_json() == kept.to_json()
    assert [r.shown() for r in again.replies] == [r.shown() for r in kept.replies]


def test_a_reply_repr_shows_no_text() -> None:
    stored = StoredReply.of("alice", text_reply("meet at the pier"), T0)
    shown = stored.shown()
    assert shown.text == "meet at the pier"
    for text in (repr(shown), str(shown), repr(stored)):
        assert "pier" not in text
