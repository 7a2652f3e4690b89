"""What a person does, through the run loop's in-memory handoff: begin, send, inbox.

Nothing here touches a file: the handoff holds the vault as the run loop would, and
what a command hands back is checked as the run loop would take it.
"""

import os
from datetime import UTC, datetime, timedelta

import pytest

from quietline.client import (
    NoVerifiedKeys,
    QueueFull,
    TextTooLong,
    UnknownRecipient,
    WrongPassphrase,
    mailbox,
    vault,
)
from quietline.client.errors import Conflict
from quietline.client.handoff import MAX_WAITING, Handoff
from quietline.client.passphrase import WORDS, NotAPassphrase, word_list
from quietline.client.records import SourceRecords
from quietline.client.storage import Cache
from quietline.protocol.keys import ReplyKey
from quietline.protocol.messages import EncryptedU2C, handover, text_reply
from quietline.protocol.recipients import RecipientTag
from quietline.vault import INTERACTIVE
from tests.client.replies import reply_entry, user_dead_drop
from tests.support.organisation import Organisation

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
BLOCKS = 48


@pytest.fixture(scope="module")
def org() -> Organisation:
    return Organisation.create(NOW - timedelta(hours=1), ("news_desk", "investigations"))


def _handoff(org: Organisation, *, with_keys: bool = True) -> Handoff:
    """A fresh installation's vault and a cache with the organisation's keys."""
    cache = Cache(anchors=[org.anchor], published=org.published_keys() if with_keys else None)
    return Handoff(vault.install(BLOCKS, INTERACTIVE), cache.to_json())


def _records(handoff: Handoff, passphrase: str) -> SourceRecords:
    raw = handoff.snapshot().vault
    return SourceRecords.parse(vault.open_vault(vault.VaultKey.derive(passphrase, raw), raw))


def _taken(handoff: Handoff) -> EncryptedU2C:
    """The next message the run loop sends, once the vault handed over is written."""
    raw, version = handoff.vault_to_write(vault.rerandomise(handoff.snapshot().vault))
    assert raw == handoff.snapshot().vault
    handoff.wrote(version)
    taken = handoff.next_message()
    assert taken is not None
    handoff.sent(taken[0])
    return taken[1]


def _opened(org: Organisation, message: EncryptedU2C) -> tuple[RecipientTag, str]:
    """Open a sent message as the CoverNode and then the recipient would."""
    u2c = message.open(org.covernode_messaging.pair)
    for recipient in org.recipients.values():
        if u2c.tag == RecipientTag.of(recipient.id):
            return u2c.tag, u2c.payload.open(recipient.messaging.pair).text.text()
    raise AssertionError("the message is for nobody")


def test_begin_makes_a_passphrase_of_five_listed_words_and_a_vault_of_the_same_size(
    org: Organisation,
) -> None:
    handoff = _handoff(org)
    before = handoff.snapshot().vault
    words, queued = mailbox.begin(handoff, [org.anchor], "news_desk", "hello", now=NOW)
    assert len(words.split()) == WORDS
    assert set(words.split()) <= set(word_list())
    assert queued.recipient_id == "news_desk"
    after = handoff.snapshot().vault
    assert len(after) == len(before) == vault.size(BLOCKS)
    assert after[: vault.HEADER_LEN] == before[: vault.HEADER_LEN]  # the install's salt
    # Nothing may go before the vault recording it is written.
    assert handoff.next_message() is None
    assert _opened(org, _taken(handoff)) == (RecipientTag.of("news_desk"), "hello")
    assert [(m.recipient_id, m.text.text()) for m in _records(handoff, words).sent] == [
        ("news_desk", "hello")
    ]


def test_send_needs_the_passphrase_and_queues_behind_earlier_messages(
    org: Organisation,
) -> None:
    handoff = _handoff(org)
    words, _ = mailbox.begin(handoff, [org.anchor], "news_desk", "first", now=NOW)
    # Any case and spacing: the words are what count.
    typed = "  " + words.upper().replace(" ", "   ") + "\n"
    queued = mailbox.send(handoff, [org.anchor], typed, "investigations", "second", now=NOW)
    assert queued.recipient_id == "investigations"
    assert _opened(org, _taken(handoff))[1] == "first"
    assert _opened(org, _taken(handoff))[1] == "second"
    assert [m.text.text() for m in _records(handoff, words).sent] == ["first", "second"]


def test_a_wrong_passphrase_and_an_unused_vault_answer_the_same(org: Organisation) -> None:
    handoff = _handoff(org)
    someone = "abacus abdomen abdominal abide abiding"
    with pytest.raises(WrongPassphrase) as unused:
        mailbox.inbox(handoff, [org.anchor], someone, now=NOW)
    mailbox.begin(handoff, [org.anchor], "news_desk", "hello", now=NOW)
    with pytest.raises(WrongPassphrase) as wrong:
        mailbox.inbox(handoff, [org.anchor], someone, now=NOW)
    assert str(unused.value) == str(wrong.value)
    assert "new" not in str(wrong.value)


def test_a_typo_is_named_before_any_key_derivation(org: Organisation) -> None:
    handoff = _handoff(org)
    with pytest.raises(NotAPassphrase, match="word 2 is not"):
        mailbox.inbox(handoff, [org.anchor], "abacus abdomenn abdominal abide abiding", now=NOW)
    with pytest.raises(NotAPassphrase, match="5 words; this has 4"):
        mailbox.inbox(handoff, [org.anchor], "abacus abdomen abdominal abide", now=NOW)


def test_refused_sends_change_nothing(org: Organisation) -> None:
    handoff = _handoff(org)
    words, _ = mailbox.begin(handoff, [org.anchor], "news_desk", "hello", now=NOW)
    before = handoff.snapshot()
    with pytest.raises(UnknownRecipient, match="known: investigations, news_desk"):
        mailbox.send(handoff, [org.anchor], words, "nobody", "hi", now=NOW)
    with pytest.raises(TextTooLong):
        mailbox.send(handoff, [org.anchor], words, "news_desk", "x" * 100_000 + "é", now=NOW)
    assert handoff.snapshot() == before


def test_a_full_queue_is_a_clear_error(org: Organisation) -> None:
    handoff = _handoff(org)
    words, _ = mailbox.begin(handoff, [org.anchor], "news_desk", "0", now=NOW)
    for n in range(1, MAX_WAITING):
        mailbox.send(handoff, [org.anchor], words, "news_desk", str(n), now=NOW)
    with pytest.raises(QueueFull, match="already waiting"):
        mailbox.send(handoff, [org.anchor], words, "news_desk", "one too many", now=NOW)


def test_no_keys_means_no_sending_and_no_reading(org: Organisation) -> None:
    handoff = _handoff(org, with_keys=False)
    with pytest.raises(NoVerifiedKeys):
        mailbox.begin(handoff, [org.anchor], "news_desk", "hello", now=NOW)
    # Keys signed by someone else are not keys.
    impostor = Organisation.create(NOW - timedelta(hours=1))
    misled = _handoff(impostor)
    with pytest.raises(NoVerifiedKeys):
        mailbox.begin(misled, [org.anchor], "news_desk", "hello", now=NOW)


def test_a_change_made_from_an_old_version_is_refused_and_redone() -> None:
    handoff = Handoff(vault.install(4, INTERACTIVE), {})
    old = handoff.snapshot()
    handoff.stage(old.version, old.vault, None)
    with pytest.raises(Conflict):
        handoff.stage(old.version, old.vault, None)


def test_inbox_finds_replies_once_keeps_them_and_follows_handovers(org: Organisation) -> None:
    handoff = _handoff(org)
    words, _ = mailbox.begin(handoff, [org.anchor], "news_desk", "hello", now=NOW)
    _taken(handoff)
    user = ReplyKey.of(_records(handoff, words).user_key)
    drops = [
        user_dead_drop(
            org, [reply_entry(org, "news_desk", user, text_reply("we read you"))], NOW
        ).published(1),
        user_dead_drop(
            org,
            [reply_entry(org, "news_desk", user, handover("investigations"))],
            NOW + timedelta(minutes=5),
        ).published(2),
        user_dead_drop(org, [], NOW + timedelta(minutes=6)).published(3),
    ]
    cache = Cache.from_json(handoff.snapshot().cache)
    cache.dead_drops = drops
    handoff.publish_cache(cache.to_json())

    replies = mailbox.inbox(handoff, [org.anchor], words, now=NOW)
    assert [(r.journalist_id, r.kind, r.text) for r in replies] == [
        ("news_desk", "text", "we read you"),
        ("news_desk", "handover", "investigations"),
    ]
    assert replies[0].received_at == NOW
    version = handoff.snapshot().version
    assert mailbox.inbox(handoff, [org.anchor], words, now=NOW) == replies
    assert handoff.snapshot().version == version  # nothing new: nothing handed over
    # Kept in the vault, so a reply outlives the dead drop that brought it.
    handoff.publish_cache(Cache(anchors=[org.anchor], published=org.published_keys()).to_json())
    assert mailbox.inbox(handoff, [org.anchor], words, now=NOW) == replies

    # The conversation with news_desk now goes to investigations.
    queued = mailbox.send(handoff, [org.anchor], words, "news_desk", "still there?", now=NOW)
    assert queued.recipient_id == "investigations"
    assert _opened(org, _taken(handoff)) == (RecipientTag.of("investigations"), "still there?")


def test_a_full_vault_drops_its_oldest_entries(org: Organisation) -> None:
    handoff = _handoff(org)
    # Texts that do not compress, so a few fill the small vault.
    texts = [f"message {n} {os.urandom(60).hex()}" for n in range(40)]
    words, _ = mailbox.begin(handoff, [org.anchor], "news_desk", texts[0], now=NOW)
    for text in texts[1:]:
        mailbox.send(handoff, [org.anchor], words, "news_desk", text, now=NOW)
        _taken(handoff)
    kept = [m.text.text() for m in _records(handoff, words).sent]
    assert 0 < len(kept) < len(texts)
    assert kept == texts[-len(kept) :]
