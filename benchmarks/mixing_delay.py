"""What a round trip costs with CoverDrop's production mixing at its planning traffic.

Run: ``.venv/bin/python benchmarks/mixing_delay.py [--days D] [--seed S]``

Drives Quietline's own ``ThresholdMix`` (the batch machine the mixer runs) with Poisson
arrivals in 10-second steps of simulated time (``quietline.protocol.mixing_simulation``,
which ``quietline admin presets`` also uses for the crowd presets): CoverDrop's low and
high planning cases (500,000 and 5,000,000 clients at 0.17 messages an hour; 50 and 100
real U2J an hour; 20 and 100 J2C an hour with 5 and 15 real). Prints, per direction and
case, the release rate, the mixing delay of real messages, dead-drop sizes and what a
reader downloads a day, then the mean source → desk → source round trip with each side
polling hourly (CoverDrop's client download rate) and a desk sending one J2C per period.
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass

from quietline.protocol.constants import C2J_ENCRYPTED_LEN, J2U_ENCRYPTED_LEN
from quietline.protocol.mixing import PRODUCTION_J2U, PRODUCTION_U2J, MixingParameters
from quietline.protocol.mixing_simulation import Traffic, simulate

CLIENT_POLL_HOURS = 1.0


@dataclass(frozen=True)
class Case:
    name: str
    parameters: MixingParameters
    traffic: Traffic
    entry_bytes: int


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=7.0, help="simulated days per case")
    parser.add_argument("--seed", type=int, default=1, help="random seed")
    arguments = parser.parse_args()
    cases = [
        Case(
            "U2J low (500k clients)", PRODUCTION_U2J, Traffic(500_000 * 0.17, 50), C2J_ENCRYPTED_LEN
        ),
        Case(
            "U2J high (5M clients)",
            PRODUCTION_U2J,
            Traffic(5_000_000 * 0.17, 100),
            C2J_ENCRYPTED_LEN,
        ),
        Case("J2U low (20 J2C/h)", PRODUCTION_J2U, Traffic(20, 5), J2U_ENCRYPTED_LEN),
        Case("J2U high (100 J2C/h)", PRODUCTION_J2U, Traffic(100, 15), J2U_ENCRYPTED_LEN),
    ]
    print(
        f"{'case':<24} {'releases/h':>10} {'mean delay':>11} {'p95 delay':>10} "
        f"{'entries':>8} {'reader MiB/day':>15}"
    )
    print("-" * 83)
    outcomes = {}
    for case in cases:
        outcome = simulate(
            case.parameters, case.traffic, arguments.days, random.Random(arguments.seed)
        )
        outcomes[case.name] = outcome
        print(
            f"{case.name:<24} {outcome.releases_per_hour:>10.2f} "
            f"{outcome.mean_delay_h * 60:>8.1f} min {outcome.p95_delay_h * 60:>6.1f} min "
            f"{outcome.entries_per_release:>8}"
            f" {outcome.download_bytes_per_day(case.entry_bytes) / 2**20:>15.2f}"
        )
    print()
    for traffic, u2j, j2u in (("low", cases[0], cases[2]), ("high", cases[1], cases[3])):
        # Waiting for the next hourly poll after a release costs half an hour on average, on
        # each side; the desk's reply waits half a send period (assumed an hour) for its slot.
        wait = CLIENT_POLL_HOURS / 2
        total = (
            outcomes[u2j.name].mean_delay_h + wait + 0.5 + outcomes[j2u.name].mean_delay_h + wait
        )
        print(
            f"round trip, {traffic} traffic: {total:.2f} h mean "
            f"(U2J mix {outcomes[u2j.name].mean_delay_h:.2f} h + desk poll {wait:.2f} h + "
            f"reply slot 0.50 h + J2U mix {outcomes[j2u.name].mean_delay_h:.2f} h + "
            f"source poll {wait:.2f} h), before anyone types a reply"
        )


if __name__ == "__main__":
    main()
