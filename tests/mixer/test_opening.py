"""quietline.mixer.opening: the lane's own open rule, run in real worker processes.

Every test compares against ``LaneSpec.open`` run here, so the workers change where a
submission is opened, never what it opens to. Workers are killed for real (SIGKILL from
outside, or an item whose opening ends its process) to show that a dead worker's work
is done again and an item that kills every worker it meets is dropped, not retried for
ever.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from quietline.mixer.opening import Failed, OpenedBytes, Openers, open_submission, typed
from quietline.protocol.api import Direction
from quietline.protocol.covernode import JOURNALIST_LANE, USER_LANE
from quietline.protocol.keys import (
    CoverNodeMessagingKey,
    EncryptionKeyPair,
    JournalistMessagingKey,
    ReplyKey,
)
from quietline.protocol.messages import (
    encrypt_cover_j2c,
    encrypt_cover_u2c,
    encrypt_j2c,
    encrypt_u2c,
    text_reply,
)
from tests.mixer.workers import kill_a_worker, worker_pids

COVERNODE = EncryptionKeyPair.generate()
OLD_KEY = EncryptionKeyPair.generate()
KEYS = (COVERNODE.secret, OLD_KEY.secret)
DESK = EncryptionKeyPair.generate()


def u2c_page(count: int) -> list[bytes]:
    """Cover and real U2C, every third for the older key, and one nobody can open."""
    page = []
    for n in range(count):
        key = CoverNodeMessagingKey.of(OLD_KEY if n % 3 == 0 else COVERNODE)
        if n % 4 == 0:
            box = encrypt_u2c(
                [key, key],
                recipient_id="desk",
                recipient_key=JournalistMessagingKey.of(DESK),
                reply_key=ReplyKey.of(EncryptionKeyPair.generate()),
                text=f"message {n}",
            )
        else:
            box = encrypt_cover_u2c([key, key])
        page.append(box.data)
    stranger = CoverNodeMessagingKey.of(EncryptionKeyPair.generate())
    return [*page, encrypt_cover_u2c([stranger, stranger]).data]


def expected_u2c(page: list[bytes]) -> list[OpenedBytes | None]:
    return [open_submission(Direction.USER, KEYS, raw) for raw in page]


@pytest.fixture(params=[1, 2], ids=["in-process", "2 workers"])
def openers(request: pytest.FixtureRequest) -> Iterator[Openers]:
    with Openers(request.param) as running:
        yield running


def test_workers_open_what_the_lane_opens_in_page_order(openers: Openers) -> None:
    page = u2c_page(40)
    outcome = openers.run(partial(open_submission, Direction.USER, KEYS), page)
    assert outcome.results == expected_u2c(page)
    assert outcome.notes == []
    assert outcome.results[-1] is None  # for a key the mixer does not hold
    opened = [typed(USER_LANE, item) for item in outcome.results]  # type: ignore[arg-type]
    real = [item for item in opened if item is not None and item.kept is not None]
    assert len(real) == 10
    assert {item.key for item in opened if item is not None} == {
        COVERNODE.public.raw,
        OLD_KEY.public.raw,
    }
    assert real[0] == USER_LANE.open(USER_LANE.submissions.decode(page[0]), [COVERNODE, OLD_KEY])


def test_j2c_opens_to_the_boxed_reply_it_keeps(openers: Openers) -> None:
    key = CoverNodeMessagingKey.of(COVERNODE)
    source = ReplyKey.of(EncryptionKeyPair.generate())
    real = encrypt_j2c([key, key], DESK, source, text_reply("we read you"))
    page = [real.data, encrypt_cover_j2c([key, key]).data, real.data]
    outcome = openers.run(partial(open_submission, Direction.JOURNALIST, KEYS), page)
    first, cover, again = (typed(JOURNALIST_LANE, item) for item in outcome.results)  # type: ignore[arg-type]
    assert first is not None
    assert cover is not None
    assert first == again == JOURNALIST_LANE.open(real, [COVERNODE])
    assert cover.kept is None


def test_an_item_that_raises_is_failed_and_the_rest_open(openers: Openers) -> None:
    page = u2c_page(7)
    page[3] = page[3][:-1]  # not a submission at all
    outcome = openers.run(partial(open_submission, Direction.USER, KEYS), page)
    assert outcome.results[3] == Failed("MalformedInput")
    assert outcome.results[:3] + outcome.results[4:] == expected_u2c(page[:3] + page[4:])


def test_a_worker_killed_between_pages_is_replaced_and_nothing_is_lost() -> None:
    page = u2c_page(30)
    work = partial(open_submission, Direction.USER, KEYS)
    with Openers(2) as openers:
        assert openers.run(work, page).results == expected_u2c(page)
        victim = kill_a_worker()
        outcome = openers.run(work, page)
        assert outcome.results == expected_u2c(page)
        assert outcome.notes == ["a worker process stopped (killed by SIGKILL): started again"]
        assert victim not in worker_pids()
        assert openers.run(work, page).notes == []


def killed_once(keys: tuple[bytes, ...], flag: Path, raw: bytes) -> OpenedBytes | None:
    """The lane's open, except that the first worker to open item 5 is SIGKILLed then (as
    an operator or the out-of-memory killer would), and leaves ``flag`` behind."""
    if raw == (flag.parent / "item-5").read_bytes() and not flag.exists():
        flag.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return open_submission(Direction.USER, keys, raw)


def test_a_worker_killed_while_opening_is_replaced_and_its_chunk_opened_again(
    tmp_path: Path,
) -> None:
    page = u2c_page(30)
    (tmp_path / "item-5").write_bytes(page[5])
    with Openers(2) as openers:
        outcome = openers.run(partial(killed_once, KEYS, tmp_path / "killed"), page)
    assert (tmp_path / "killed").exists()
    assert outcome.results == expected_u2c(page)
    assert outcome.notes == ["a worker process stopped (killed by SIGKILL): started again"]


POISON = b"poison"


def die_on_poison(keys: tuple[bytes, ...], raw: bytes) -> OpenedBytes | None:
    """The lane's open, except that one item ends whatever process opens it. (The keys
    come as an argument: a worker imports this module afresh, with keys of its own.)"""
    if raw == POISON:
        os._exit(1)
    return open_submission(Direction.USER, keys, raw)


def test_an_item_that_kills_every_worker_is_dropped_and_the_rest_open() -> None:
    page = u2c_page(20)
    page[11] = POISON
    with Openers(2) as openers:
        poisoned = partial(die_on_poison, KEYS)
        outcome = openers.run(poisoned, page)
        assert outcome.results[11] == Failed("a worker died opening it")
        assert outcome.results[:11] + outcome.results[12:] == expected_u2c(page[:11] + page[12:])
        assert outcome.notes == ["a worker process stopped (exit code 1): started again"]
        assert openers.run(partial(die_on_poison, KEYS), page[:11]).results == expected_u2c(
            page[:11]
        )


def test_at_least_one_worker() -> None:
    with pytest.raises(ValueError, match="at least one worker"):
        Openers(0)
