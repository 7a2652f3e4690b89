"""What the user does, on local files only: send queues in place of cover, inbox reads."""

import base64
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from quietline.client import (
    NoVerifiedKeys,
    QueueFull,
    SourceClient,
    SourceStorage,
    TextTooLong,
    UnknownRecipient,
    WrongPassphrase,
)
from quietline.client.mailbox import open_records
from quietline.client.storage import QUEUE_FILE_SIZE, VAULT_SIZE
from quietline.protocol.keys import ReplyKey
from quietline.protocol.messages import handover, parse_u2c, text_reply
from quietline.protocol.recipients import RecipientTag
from quietline.vault import INTERACTIVE
from tests.client.replies import reply_entry, user_dead_drop
from tests.support.organisation import Organisation

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
PASSPHRASE = "correct horse battery staple"


@pytest.fixture(scope="module")
def org() -> Organisation:
    return Organisation.create(NOW - timedelta(hours=1), ("news_desk", "investigations"))


def _client(folder: Path, org: Organisation, *, with_keys: bool = True) -> SourceClient:
    storage = SourceStorage(folder, kdf_cost=INTERACTIVE)
    client = SourceClient(None, [org.anchor], storage)
    client.start(NOW)
    if with_keys:
        cache = storage.read_cache()
        cache.published = org.published_keys()
        storage.write_cache(cache)
    return client


def _sizes(storage: SourceStorage) -> tuple[int, int]:
    return storage.queue_path.stat().st_size, storage.vault.path.stat().st_size


def _head_for(org: Organisation, storage: SourceStorage) -> tuple[RecipientTag, str]:
    """Open the head of the queue as the CoverNode and the recipient would."""
    head = storage.read_queue().dequeue(lambda: parse_u2c(bytes(773)))
    u2c = head.open(org.covernode_messaging.pair)
    for recipient in org.recipients.values():
        if u2c.tag == RecipientTag.of(recipient.id):
            return u2c.tag, u2c.payload.open(recipient.messaging.pair).text.text()
    raise AssertionError("the head is for nobody")


def test_send_queues_a_real_message_and_keeps_file_sizes(tmp_path: Path, org: Organisation) -> None:
    client = _client(tmp_path, org)
    before = _sizes(client.storage)
    assert before == (QUEUE_FILE_SIZE, VAULT_SIZE)
    assert client.send(PASSPHRASE, "news_desk", "meet me at noon", new=True, now=NOW) == "news_desk"
    assert _sizes(client.storage) == before
    tag, text = _head_for(org, client.storage)
    assert (tag, text) == (RecipientTag.of("news_desk"), "meet me at noon")
    records, _ = open_records(client.storage, PASSPHRASE, create=False)
    assert client.storage.read_queue(records.hint_key).real_count() == 1
    assert client.sent_messages(PASSPHRASE) == [("news_desk", "meet me at noon", NOW)]

    # A second message, without --new, goes behind the first.
    client.send(PASSPHRASE, "investigations", "and bring the papers", now=NOW)
    assert _sizes(client.storage) == before
    assert client.storage.read_queue(records.hint_key).real_count() == 2


def test_a_fresh_vault_is_the_same_size_as_a_used_one_and_opens_for_nobody(
    tmp_path: Path, org: Organisation
) -> None:
    fresh = _client(tmp_path / "fresh", org)
    used = _client(tmp_path / "used", org)
    used.send(PASSPHRASE, "news_desk", "hello", new=True, now=NOW)
    assert _sizes(fresh.storage) == _sizes(used.storage)
    with pytest.raises(WrongPassphrase, match="did not open the vault"):
        fresh.send(PASSPHRASE, "news_desk", "hello", now=NOW)
    with pytest.raises(WrongPassphrase):
        fresh.inbox(PASSPHRASE, NOW)


def test_wrong_passphrase_is_a_clear_error(tmp_path: Path, org: Organisation) -> None:
    client = _client(tmp_path, org)
    client.send(PASSPHRASE, "news_desk", "hello", new=True, now=NOW)
    vault_before = client.storage.vault.path.read_bytes()
    with pytest.raises(WrongPassphrase, match="did not open the vault") as wrong:
        client.send("not the passphrase", "news_desk", "again", now=NOW)
    # No hint to create a vault: after a typo, that would destroy this one.
    assert "--new" not in str(wrong.value)
    with pytest.raises(WrongPassphrase):
        client.inbox("not the passphrase", NOW)
    assert client.storage.vault.path.read_bytes() == vault_before


def test_new_reuses_a_vault_the_passphrase_opens(tmp_path: Path, org: Organisation) -> None:
    client = _client(tmp_path, org)
    client.send(PASSPHRASE, "news_desk", "first", new=True, now=NOW)
    client.send(PASSPHRASE, "news_desk", "second", new=True, now=NOW)
    assert [text for _, text, _ in client.sent_messages(PASSPHRASE)] == ["first", "second"]


def test_unknown_recipient_changes_nothing(tmp_path: Path, org: Organisation) -> None:
    client = _client(tmp_path, org)
    client.send(PASSPHRASE, "news_desk", "hello", new=True, now=NOW)
    queue_before = client.storage.queue_path.read_bytes()
    with pytest.raises(UnknownRecipient, match=r"'nobody'.*investigations, news_desk"):
        client.send(PASSPHRASE, "nobody", "hello", now=NOW)
    assert client.storage.queue_path.read_bytes() == queue_before


def test_too_long_text_is_refused(tmp_path: Path, org: Organisation) -> None:
    client = _client(tmp_path, org)
    incompressible = base64.b64encode(os.urandom(600)).decode()
    with pytest.raises(TextTooLong, match="too long"):
        client.send(PASSPHRASE, "news_desk", incompressible, new=True, now=NOW)
    # A long but compressible text still fits.
    client.send(PASSPHRASE, "news_desk", "la " * 1000, new=True, now=NOW)


def test_a_full_queue_is_a_clear_error(tmp_path: Path, org: Organisation) -> None:
    client = _client(tmp_path, org)
    for n in range(8):
        client.send(PASSPHRASE, "news_desk", f"message {n}", new=n == 0, now=NOW)
    with pytest.raises(QueueFull, match="8 messages are already waiting"):
        client.send(PASSPHRASE, "news_desk", "one too many", now=NOW)
    assert [text for _, text, _ in client.sent_messages(PASSPHRASE)][-1] == "message 7"


def test_no_keys_means_no_sending(tmp_path: Path, org: Organisation) -> None:
    client = _client(tmp_path, org, with_keys=False)
    with pytest.raises(NoVerifiedKeys, match="source run"):
        client.send(PASSPHRASE, "news_desk", "hello", new=True, now=NOW)


def test_keys_that_do_not_verify_are_not_used(tmp_path: Path, org: Organisation) -> None:
    client = _client(tmp_path, org)
    stranger = Organisation.create(NOW)
    wrong_anchor = SourceClient(None, [stranger.anchor], client.storage)
    with pytest.raises(NoVerifiedKeys):
        wrong_anchor.send(PASSPHRASE, "news_desk", "hello", new=True, now=NOW)
    # Expired: the CoverNode messaging key lives two weeks.
    with pytest.raises(NoVerifiedKeys):
        client.send(PASSPHRASE, "news_desk", "hello", new=True, now=NOW + timedelta(weeks=3))


def test_inbox_finds_replies_once_and_follows_handovers(tmp_path: Path, org: Organisation) -> None:
    client = _client(tmp_path, org)
    client.send(PASSPHRASE, "news_desk", "hello", new=True, now=NOW)
    records, _ = open_records(client.storage, PASSPHRASE, create=False)
    user = ReplyKey.of(records.user_key)
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
    cache = client.storage.read_cache()
    cache.dead_drops = drops
    client.storage.write_cache(cache)
    sizes = _sizes(client.storage)

    replies = client.inbox(PASSPHRASE, NOW)
    assert [(r.journalist_id, r.kind, r.text) for r in replies] == [
        ("news_desk", "text", "we read you"),
        ("news_desk", "handover", "investigations"),
    ]
    assert replies[0].received_at == NOW
    assert client.inbox(PASSPHRASE, NOW) == replies
    assert _sizes(client.storage) == sizes

    # The conversation with news_desk now goes to investigations.
    assert client.send(PASSPHRASE, "news_desk", "still there?", now=NOW) == "investigations"
    queue = client.storage.read_queue()
    queue.dequeue(lambda: parse_u2c(bytes(773)))
    client.storage.write_queue(queue)
    assert _head_for(org, client.storage) == (RecipientTag.of("investigations"), "still there?")


def test_inbox_needs_keys(tmp_path: Path, org: Organisation) -> None:
    client = _client(tmp_path, org, with_keys=False)
    with pytest.raises(NoVerifiedKeys):
        client.inbox(PASSPHRASE, NOW)


def test_an_unused_vault_and_a_wrong_passphrase_answer_the_same(
    tmp_path: Path, org: Organisation
) -> None:
    client = _client(tmp_path, org)
    with pytest.raises(WrongPassphrase) as unused:
        client.inbox(PASSPHRASE, NOW)
    client.send(PASSPHRASE, "news_desk", "hello", new=True, now=NOW)
    with pytest.raises(WrongPassphrase) as wrong:
        client.inbox("not the passphrase", NOW)
    assert str(unused.value) == str(wrong.value)
