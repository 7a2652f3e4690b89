"""Floods and the (n-1) attack against the mixer's batches, and how soon the alarm fires.

Run: ``.venv/bin/python benchmarks/n_minus_one.py [--clients N] [--hours H] [--seed S]``

Drives Quietline's own ``ThresholdMix`` (the batch machine the mixer runs) and its input
alarm (``quietline.mixer.alarm.InputMonitor``, default settings: one-hour windows, 4x)
in one-minute steps of simulated time. A crowd of ``N`` clients sends at CoverDrop's
0.17 messages an hour each, 50 of them real an hour in all; the mix is CoverDrop's
production U2J mix scaled to the crowd (thresholds ``N/5`` and ``N``, timeout an hour,
500 entries). After a day of normal traffic, one of these starts:

- ``flood kx cover|real``: one client sends at k times the normal rate;
- ``(n-1) starve``: the edge withholds every input but one target's real message;
- ``(n-1) fill cover``: the same, topping the input up with cover of its own, and
  holding the target back until the mix has released every honest input;
- ``(n-1) fill real``: the same, topping it up with real messages of its own (it may
  write to the desk like anyone), at the usual share: the counts look normal.

Per release, the batch's senders are the clients whose inputs arrived since the last
release (a real message can only be one of them, so this is the smallest anonymity set
it has; one that waited for an earlier round has more). ``H`` is the entropy (bits) of
"which input is the real one" weighted by inputs, as an outsider sees it; ``H'`` the
same once the attacker (flooder or edge) strikes out its own inputs, which it knows. The
effective anonymity is 2^H'; its ratio to the honest senders in the batch (the most it
could be) shows how uneven the crowd is. ``delay`` is the mean wait of honest real
messages released during the attack; ``withheld`` the honest real messages that never
reached the mix during it; ``target`` the effective anonymity of the (n-1) target in
the batch that carried it (``-``: never released); ``alarm`` how long after the attack
began the first alarm fired, and which.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from quietline.mixer.alarm import AlarmSettings, InputMonitor
from quietline.protocol.mixing import MixingParameters, ThresholdMix
from quietline.protocol.mixing_simulation import poisson

STEP = timedelta(minutes=1)
RATE_PER_CLIENT = 0.17  # messages an hour, CoverDrop's planning figure
REAL_PER_HOUR = 50.0  # CoverDrop's low planning case
OUTPUT_SIZE = 500
FLOODER = -1  # the flooding client's id
ATTACKER = -2  # the malicious edge's own inputs
START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Scenario:
    name: str
    flood: float = 0.0  # the flooder's rate in multiples of one client's
    flood_real: bool = False
    withhold: bool = False  # the edge passes on one target message only
    fill: str = ""  # "", "cover" or "real": what the edge tops the input up with


@dataclass(frozen=True)
class Item:
    sender: int
    sent_at: datetime


@dataclass
class Intake:
    """Feeds the mix: the inputs since the last release by sender, and this step's counts
    for the alarm."""

    mix: ThresholdMix[Item | None]
    senders: Counter[int] = field(default_factory=Counter)
    fed: int = 0
    real_fed: int = 0

    def feed(self, sender: int, real: Item | None) -> None:
        self.senders[sender] += 1
        self.mix.receive(real)
        self.fed += 1
        self.real_fed += real is not None


@dataclass
class Result:
    releases: int = 0
    entropy: list[float] = field(default_factory=list)
    attacker_entropy: list[float] = field(default_factory=list)
    honest_senders: list[int] = field(default_factory=list)
    delays_h: list[float] = field(default_factory=list)
    withheld: int = 0
    target_anonymity: float | None = None
    alarm_after_h: float | None = None
    alarm_kinds: str = "-"


def entropy(counts: Counter[int], leave_out: frozenset[int] = frozenset()) -> float:
    """Bits of uncertainty over which sender's input is a given real message."""
    kept = [n for sender, n in counts.items() if sender not in leave_out and n > 0]
    total = sum(kept)
    return -sum(n / total * math.log2(n / total) for n in kept) if total else 0.0


def simulate(scenario: Scenario, clients: int, hours: float, seed: int) -> tuple[Result, Result]:
    """(before the attack, during it): the first half of ``hours`` is normal traffic."""
    rng = random.Random(seed)
    parameters = MixingParameters(clients // 5, clients, timedelta(hours=1), OUTPUT_SIZE)
    mix: ThresholdMix[Item | None] = ThresholdMix.start(parameters, START, rng)
    monitor = InputMonitor("u2j", AlarmSettings(), START)
    attack_at = START + timedelta(hours=hours / 2)
    end = START + timedelta(hours=hours)
    per_step = STEP.total_seconds() / 3600
    honest_rate = clients * RATE_PER_CLIENT
    real_share = REAL_PER_HOUR / honest_rate
    before, during = Result(), Result()
    intake = Intake(mix)
    target: Item | None = None
    target_fed = False
    known = frozenset({FLOODER, ATTACKER})
    now = START
    while now < end:
        now += STEP
        attacking = now > attack_at
        result = during if attacking else before
        intake.fed = intake.real_fed = 0
        for _ in range(poisson(rng, honest_rate * per_step)):
            sender, real = rng.randrange(clients), rng.random() < real_share
            if attacking and scenario.withhold:
                if real and target is None:
                    target = Item(sender, now)
                elif real:
                    result.withheld += 1
                continue
            intake.feed(sender, Item(sender, now) if real else None)
        # The edge lets the target through once no honest input is left in the round (at
        # once if it sends nothing of its own: then nothing else could ever clear it).
        clean = all(sender < 0 for sender in intake.senders) or not scenario.fill
        if target is not None and not target_fed and clean:
            intake.feed(target.sender, target)
            target_fed = True
        if attacking and scenario.flood:
            for _ in range(poisson(rng, scenario.flood * RATE_PER_CLIENT * per_step)):
                intake.feed(FLOODER, Item(FLOODER, now) if scenario.flood_real else None)
        if attacking and scenario.fill:
            for _ in range(poisson(rng, honest_rate * per_step)):
                real = scenario.fill == "real" and rng.random() < real_share
                intake.feed(ATTACKER, Item(ATTACKER, now) if real else None)
        alarms = monitor.observe(now, intake.fed, intake.real_fed)
        if attacking and alarms and result.alarm_after_h is None:
            result.alarm_after_h = (now - attack_at).total_seconds() / 3600
            result.alarm_kinds = ", ".join(sorted({a.kind.name.lower() for a in alarms}))
        if mix.due(now):
            batch = mix.release(now, lambda: None)
            honest = [item for item in batch.real if item is not None and item.sender >= 0]
            result.releases += 1
            result.entropy.append(entropy(intake.senders))
            result.attacker_entropy.append(entropy(intake.senders, known))
            result.honest_senders.append(sum(1 for s in intake.senders if s >= 0))
            result.delays_h += [(now - item.sent_at).total_seconds() / 3600 for item in honest]
            if target is not None and target in batch.real:
                result.target_anonymity = 2 ** entropy(intake.senders, known)
            intake = Intake(mix)
    return before, during


def mean(values: list[float] | list[int]) -> float:
    return statistics.fmean(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50_000, help="size of the crowd")
    parser.add_argument("--hours", type=float, default=48.0, help="simulated hours per case")
    parser.add_argument("--seed", type=int, default=1, help="random seed")
    arguments = parser.parse_args()
    n = arguments.clients
    scenarios = [
        Scenario("no attack"),
        Scenario("flood 100x cover", flood=100),
        Scenario(f"flood {n // 10}x cover", flood=n // 10),
        Scenario(f"flood {n}x cover", flood=n),
        Scenario(f"flood {4 * n}x cover", flood=4 * n),
        Scenario(f"flood {20 * n}x cover", flood=20 * n),
        Scenario(f"flood {n // 10}x real", flood=n // 10, flood_real=True),
        Scenario(f"flood {n}x real", flood=n, flood_real=True),
        Scenario("(n-1) starve", withhold=True),
        Scenario("(n-1) fill cover", withhold=True, fill="cover"),
        Scenario("(n-1) fill real", withhold=True, fill="real"),
    ]
    print(
        f"{n} clients at {RATE_PER_CLIENT}/h ({n * RATE_PER_CLIENT:.0f} inputs/h, "
        f"{REAL_PER_HOUR:g} real/h); mix: {n // 5}..{n} inputs or 1 h, {OUTPUT_SIZE} entries; "
        f"attack from hour {arguments.hours / 2:g} to {arguments.hours:g}"
    )
    header = (
        f"{'scenario':<24} {'rel/h':>6} {'senders':>8} {'H bits':>7} {'H` bits':>8} "
        f"{'2^H`':>8} {'/senders':>9} {'delay h':>8} {'withheld':>9} {'target':>7} "
        f"{'alarm':>24}"
    )
    print(header)
    print("-" * len(header))
    for scenario in scenarios:
        before, during = simulate(scenario, n, arguments.hours, arguments.seed)
        senders = mean(during.honest_senders)
        effective = mean([2**h for h in during.attacker_entropy])
        target = "-" if during.target_anonymity is None else f"{during.target_anonymity:.0f}"
        alarm = (
            "none"
            if during.alarm_after_h is None
            else f"{during.alarm_after_h:.1f} h {during.alarm_kinds}"
        )
        print(
            f"{scenario.name:<24} {during.releases / (arguments.hours / 2):>6.2f} "
            f"{senders:>8.0f} {mean(during.entropy):>7.2f} {mean(during.attacker_entropy):>8.2f} "
            f"{effective:>8.0f} {effective / senders:>9.2f} {mean(during.delays_h):>8.2f} "
            f"{during.withheld:>9} {target:>7} {alarm:>24}"
        )
        if scenario.name == "no attack":
            false_alarm = "none" if before.alarm_after_h is None else "fired"
            print(f"{'  (first half)':<24} {before.releases / (arguments.hours / 2):>6.2f} "
                  f"{mean(before.honest_senders):>8.0f} {mean(before.entropy):>7.2f} "
                  f"{'':>8} {'':>8} {'':>9} {mean(before.delays_h):>8.2f} "
                  f"{'':>9} {'':>7} {false_alarm:>24}")  # fmt: skip


if __name__ == "__main__":
    main()
