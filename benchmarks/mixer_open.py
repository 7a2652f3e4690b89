"""U2C submissions opened per second by the mixer's openers, against raw PyNaCl.

Run: ``.venv/bin/python benchmarks/mixer_open.py [--seconds S] [--workers 1,2]``

The limit is measured in the same run: a minimal loop of the two PyNaCl calls that
remove a U2C's outer layer (the sealed-box open of its first key slot and the
secretbox open of its body), in this process on one core. Each row then opens pages of
the edge's queue (1,000 submissions, nine in ten cover) the way the mixer does:
``quietline.mixer.opening.Openers`` with that many workers (1: in the mixer's own
process), the lane's own open rule in each worker, and the results turned back into
typed ``Opened`` records in the mixer's process. Each row of workers is set against
the raw loop run in as many processes at once in the same round ("vs raw": what that
many cores gave at all, with whatever else the machine ran meanwhile); "per core" sets
it against the one-process raw loop times the cores it uses, so 1.00 would be the
quiet machine's raw loop on every one of them.
The workers' start-up is left out: the mixer starts them once. The machine may be
shared, so the measurements take turns over several rounds and each row keeps its best.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from contextlib import ExitStack
from functools import partial
from multiprocessing.pool import Pool

import nacl.bindings as sodium

from quietline.mixer.opening import Failed, Openers, open_submission, typed
from quietline.protocol.api import Direction
from quietline.protocol.constants import MULTI_ANONYMOUS_BOX_SLOT_LEN, NONCE_LEN
from quietline.protocol.covernode import USER_LANE
from quietline.protocol.keys import (
    CoverNodeMessagingKey,
    EncryptionKeyPair,
    JournalistMessagingKey,
    ReplyKey,
)
from quietline.protocol.messages import encrypt_cover_u2c, encrypt_u2c

PAGE = 1000
DISTINCT = 2000  # submissions made once and cycled through: opening keeps no state


def submissions(covernode: EncryptionKeyPair) -> list[bytes]:
    key = CoverNodeMessagingKey.of(covernode)
    journalist = JournalistMessagingKey.of(EncryptionKeyPair.generate())
    made = []
    for n in range(DISTINCT):
        if n % 10 == 0:
            box = encrypt_u2c(
                [key, key],
                recipient_id="journalist",
                recipient_key=journalist,
                reply_key=ReplyKey.of(EncryptionKeyPair.generate()),
                text=f"benchmark message {n}",
            )
        else:
            box = encrypt_cover_u2c([key, key])
        made.append(box.data)
    return made


def raw_rate(secret: bytes, wire: list[bytes], seconds: float) -> float:
    """The minimal PyNaCl loop: what one core can do at all."""
    public = sodium.crypto_scalarmult_base(secret)
    body = 2 * MULTI_ANONYMOUS_BOX_SLOT_LEN
    nonce = bytes(NONCE_LEN)
    done = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for data in wire:
            key = sodium.crypto_box_seal_open(data[:MULTI_ANONYMOUS_BOX_SLOT_LEN], public, secret)
            sodium.crypto_secretbox_open(data[body:], nonce, key)
        done += len(wire)
    return done / (time.perf_counter() - started)


def raw_rate_in(
    pool: Pool, processes: int, secret: bytes, wire: list[bytes], seconds: float
) -> float:
    """The raw loop in ``processes`` of ``pool``'s processes at once: what that many cores
    can do at all, with whatever else the machine runs meanwhile."""
    return sum(pool.starmap(raw_rate, [(secret, wire, seconds)] * processes, chunksize=1))


def openers_rate(
    openers: Openers, covernode: EncryptionKeyPair, wire: list[bytes], seconds: float
) -> float:
    """The mixer's way: pages through ``openers``, results typed again in this process."""
    work = partial(open_submission, Direction.USER, (covernode.secret,))
    pages = [wire[start : start + PAGE] for start in range(0, len(wire), PAGE)]
    done = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for page in pages:
            outcome = openers.run(work, page)
            for item in outcome.results:
                if isinstance(item, Failed) or typed(USER_LANE, item) is None:
                    raise SystemExit("a submission did not open")
            done += len(page)
    return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="time per measurement")
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    parser.add_argument("--rounds", type=int, default=3, help="turns each measurement takes")
    options = parser.parse_args()
    covernode = EncryptionKeyPair.generate()
    wire = submissions(covernode)
    counts = [int(count) for count in options.workers.split(",")]
    raw = dict.fromkeys(counts, 0.0)
    best = dict.fromkeys(counts, 0.0)
    spawn = multiprocessing.get_context("spawn")
    with ExitStack() as stack:
        openers = {count: stack.enter_context(Openers(count)) for count in counts}
        pools = {count: stack.enter_context(spawn.Pool(count)) for count in counts if count > 1}
        work = partial(open_submission, Direction.USER, (covernode.secret,))
        for count in counts:  # start the workers before any clock runs
            openers[count].run(work, wire[:PAGE])
        for _ in range(options.rounds):
            for count in counts:
                limit = (
                    raw_rate_in(pools[count], count, covernode.secret, wire, options.seconds)
                    if count > 1
                    else raw_rate(covernode.secret, wire, options.seconds)
                )
                raw[count] = max(raw[count], limit)
                rate = openers_rate(openers[count], covernode, wire, options.seconds)
                best[count] = max(best[count], rate)
    one_core = raw[counts[0]] / counts[0]
    print(f"{'opening U2C (773 B)':<30} {'per second':>11} {'vs raw':>7} {'per core':>9}")
    print("-" * 60)
    for count in counts:
        cores = "1 core" if count == 1 else f"{count} processes"
        openers_name = "in-process (workers = 1)" if count == 1 else f"{count} worker processes"
        for name, rate in ((f"raw PyNaCl loop, {cores}", raw[count]), (openers_name, best[count])):
            print(
                f"{name:<30} {rate:>11,.0f} {rate / raw[count]:>7.2f}"
                f" {rate / one_core / count:>9.2f}"
            )


if __name__ == "__main__":
    main()
