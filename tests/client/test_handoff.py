"""The handoff between what a person does and the run loop: versions, order, and what a
waiter is told."""

import threading

import pytest

from quietline.client.errors import Conflict, QueueFull, SourceClientError
from quietline.client.handoff import LOST, MAX_WAITING, SENT, WAITING, Handoff
from quietline.protocol.messages import EncryptedU2C, parse_u2c

VAULT = b"v" * 100


def _message(n: int) -> EncryptedU2C:
    return parse_u2c(bytes([n]) * 773)


def test_a_message_waits_until_its_vault_is_written_then_goes_in_order() -> None:
    handoff = Handoff(VAULT, {})
    snapshot = handoff.snapshot()
    first = handoff.stage(snapshot.version, b"1" * 100, _message(1))
    second = handoff.stage(snapshot.version + 1, b"2" * 100, _message(2))
    assert (first, second) == (1, 2)
    assert handoff.next_message() is None  # neither vault is on the disk yet
    raw, version = handoff.vault_to_write(b"r" * 100)
    assert (raw, version) == (b"2" * 100, 2)  # the newest, which holds both
    handoff.wrote(version)
    taken = handoff.next_message()
    assert taken is not None
    assert taken[0] == first == 1
    handoff.sent(1)
    assert handoff.wait_sent(1, 0) == SENT
    assert handoff.wait_sent(2, 0) == WAITING
    assert handoff.waiting() == 1


def test_without_a_change_the_rerandomised_vault_is_written_and_the_version_kept() -> None:
    handoff = Handoff(VAULT, {})
    raw, version = handoff.vault_to_write(b"r" * 100)
    assert (raw, version) == (b"r" * 100, 0)
    assert handoff.snapshot().vault == b"r" * 100
    # A change made from the vault before the rewrite still counts: same plaintext.
    assert handoff.stage(0, b"c" * 100, None) is None


def test_a_change_from_an_old_version_or_of_another_size_is_refused() -> None:
    handoff = Handoff(VAULT, {})
    handoff.stage(0, b"a" * 100, None)
    with pytest.raises(Conflict):
        handoff.stage(0, b"b" * 100, None)
    with pytest.raises(SourceClientError, match="size"):
        handoff.stage(1, b"short", None)
    assert handoff.snapshot().vault == b"a" * 100


def test_a_full_queue_refuses_and_a_stop_tells_every_waiter() -> None:
    handoff = Handoff(VAULT, {})
    tickets = [handoff.stage(n, VAULT, _message(n)) for n in range(MAX_WAITING)]
    with pytest.raises(QueueFull):
        handoff.stage(MAX_WAITING, VAULT, _message(0))
    told: list[str] = []
    waiter = threading.Thread(target=lambda: told.append(handoff.wait_sent(tickets[0] or 0, 60)))
    waiter.start()
    handoff.close()
    waiter.join(60)
    assert told == [LOST]
    assert handoff.waiting() == 0
    with pytest.raises(SourceClientError, match="no message waits"):
        handoff.wait_sent(999, 0)
