"""Mixing sized to the crowd: parameters for an expected number of active clients, and
what they cost, measured by driving the real batch machine.

CoverDrop's production parameters wait for 100,000 inputs before a journalist dead drop:
right for millions of app installs, but a small organisation's 20 clients at one
message a minute release once every few days. :func:`mixing_for` sizes both lanes from
the expected crowd instead:

- the timeout is the delay aimed at (an hour for sources' messages, ten minutes for
  replies, so that a source client, which reads the newest two user dead drops every
  other download, never falls behind);
- ``threshold_min`` is half the inputs a timeout brings at the expected rate: a release
  waits past its timeout only when the input falls below half (an edge holding messages
  back), so each release hides its messages among at least that many;
- ``threshold_max`` is four times that rate, so a flood speeds releases up only beyond
  four times the normal traffic;
- ``output_size`` holds four times the real messages a timeout brings at the assumed
  rate of real messages (:class:`Crowd`), so bursts do not queue behind the cap.

The traffic behind it: every running source client sends one message (real or cover)
per send period of its schedule (``quietline.client.client``), and every desk one per
``[desk] period_seconds``. How many are real is an assumption, written in :class:`Crowd`
and printed with the figures.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import timedelta

from quietline.client.client import (
    DEAD_DROP_WINDOW,
    DEFAULT_DOWNLOAD_PERIOD_S,
    DEFAULT_SEND_PERIOD_S,
    SWEEP_WINDOWS,
)
from quietline.client.storage import DEAD_DROP_RETENTION
from quietline.config import DEFAULT_DESK_PERIOD_S, MixingOverride
from quietline.protocol.constants import (
    C2J_ENCRYPTED_LEN,
    J2C_ENCRYPTED_LEN,
    J2U_ENCRYPTED_LEN,
    U2C_ENCRYPTED_LEN,
)
from quietline.protocol.errors import MisuseError
from quietline.protocol.mixing import MixingParameters
from quietline.protocol.mixing_simulation import Outcome, Traffic, simulate

U2J_TIMEOUT = timedelta(hours=1)
J2U_TIMEOUT = timedelta(minutes=10)
MIN_OUTPUT = {"u2j": 10, "j2u": 5}
HEADROOM = 4  # threshold_max and output_size against the expected rates
PRESETS = {"small": 100, "medium": 10_000, "large": 1_000_000}
MAX_CLIENTS = 100_000_000


@dataclass(frozen=True, slots=True)
class Crowd:
    """The expected traffic of a deployment: ``clients`` source clients running at once,
    ``desks`` desks, and the real messages among what they send (assumed: one real
    message an hour per thousand running clients, at least one an hour; a reply for
    every four of those, at least one every two hours)."""

    clients: int
    desks: int
    real_u2j_per_hour: float
    real_j2u_per_hour: float

    @classmethod
    def of(cls, clients: int) -> Crowd:
        """The crowd of ``clients`` running source clients, with the desks and real
        messages assumed for it. Raises MisuseError outside 1 to MAX_CLIENTS."""
        if not 1 <= clients <= MAX_CLIENTS:
            raise MisuseError(f"a crowd is 1 to {MAX_CLIENTS:,} clients")
        real = max(1.0, clients / 1000)
        return cls(clients, max(1, round(math.sqrt(clients) / 50)), real, max(0.5, real / 4))

    @property
    def u2j(self) -> Traffic:
        return Traffic(self.clients * 3600 / DEFAULT_SEND_PERIOD_S, self.real_u2j_per_hour)

    @property
    def j2u(self) -> Traffic:
        return Traffic(self.desks * 3600 / DEFAULT_DESK_PERIOD_S, self.real_j2u_per_hour)


def crowd_named(text: str) -> Crowd:
    """A preset's crowd (``small``, ``medium``, ``large``) or a number of clients.

    Raises MisuseError for anything else."""
    if text in PRESETS:
        return Crowd.of(PRESETS[text])
    try:
        clients = int(text.replace(",", "").replace("_", ""))
    except ValueError:
        raise MisuseError(
            f"a crowd is a number of clients or one of {', '.join(PRESETS)}"
        ) from None
    return Crowd.of(clients)


def _sized(traffic: Traffic, timeout: timedelta, minimum_output: int) -> MixingParameters:
    hours = timeout.total_seconds() / 3600
    per_timeout = traffic.inputs_per_hour * hours
    threshold_min = max(1, math.floor(per_timeout / 2))
    return MixingParameters(
        threshold_min=threshold_min,
        threshold_max=max(threshold_min + 1, math.ceil(per_timeout * HEADROOM)),
        timeout=timeout,
        output_size=max(minimum_output, math.ceil(traffic.real_per_hour * hours * HEADROOM)),
    )


def mixing_for(crowd: Crowd) -> MixingOverride:
    """Both lanes' parameters for ``crowd``, as ``admin init`` writes them."""
    return MixingOverride(
        u2j=_sized(crowd.u2j, U2J_TIMEOUT, MIN_OUTPUT["u2j"]),
        j2u=_sized(crowd.j2u, J2U_TIMEOUT, MIN_OUTPUT["j2u"]),
        comment=(
            f"Mixing sized for {crowd.clients:,} running source clients and {crowd.desks}"
            f" desk(s) (quietline admin init --crowd {crowd.clients}); these replace the"
            ' "production" values. `quietline admin presets` prints what they cost.'
        ),
    )


@dataclass(frozen=True, slots=True)
class CrowdFigures:
    """What a crowd's mixing costs, measured by :func:`measure`."""

    crowd: Crowd
    mixing: MixingOverride
    u2j: Outcome
    j2u: Outcome

    @property
    def clients_per_batch(self) -> float:
        """Running clients with an input in a journalist dead drop's batch: each sends
        one per send period, so a batch gathered over a period or more holds them all."""
        gathered_s = 3600 / self.u2j.releases_per_hour if self.u2j.releases_per_hour else 0
        return self.crowd.clients * min(1.0, gathered_s / DEFAULT_SEND_PERIOD_S)

    @property
    def client_upload_per_day(self) -> float:
        return 86400 / DEFAULT_SEND_PERIOD_S * U2C_ENCRYPTED_LEN

    @property
    def client_download_per_day(self) -> float:
        """A source client reads a window of DEAD_DROP_WINDOW user dead drops every
        download period (the newest, or the sweep's next), whatever the release rate."""
        per_read = DEAD_DROP_WINDOW * self.j2u.entries_per_release * J2U_ENCRYPTED_LEN
        return 86400 / DEFAULT_DOWNLOAD_PERIOD_S * per_read

    @property
    def client_keeps_up(self) -> bool:
        """Whether user dead drops come no faster than a source client reads the newest
        window (every other download; the sweep finds the rest, later)."""
        newest_per_hour = 3600 / (2 * DEFAULT_DOWNLOAD_PERIOD_S)
        return self.j2u.releases_per_hour <= DEAD_DROP_WINDOW * newest_per_hour

    @property
    def reply_reach_h(self) -> float:
        """How old a reply may be, in hours, and still be found by a source client that
        was away or newly installed: its sweep goes back SWEEP_WINDOWS windows of dead
        drops, which span this long at this release rate, and nothing is kept longer
        than DEAD_DROP_RETENTION."""
        retention_h = DEAD_DROP_RETENTION / timedelta(hours=1)
        releases = self.j2u.releases_per_hour
        if releases <= 0:
            return retention_h
        return min(retention_h, SWEEP_WINDOWS * DEAD_DROP_WINDOW / releases)

    @property
    def desk_upload_per_day(self) -> float:
        return 86400 / DEFAULT_DESK_PERIOD_S * J2C_ENCRYPTED_LEN

    @property
    def desk_download_per_day(self) -> float:
        """A desk reads every journalist dead drop."""
        return self.u2j.download_bytes_per_day(C2J_ENCRYPTED_LEN)


def measure(crowd: Crowd, days: float, seed: int) -> CrowdFigures:
    """Drive each lane of the mix sized for ``crowd`` for ``days`` of simulated time."""
    mixing = mixing_for(crowd)
    return CrowdFigures(
        crowd,
        mixing,
        # A seeded generator, so the figures can be regenerated; nothing secret here.
        simulate(mixing.u2j, crowd.u2j, days, random.Random(seed)),  # noqa: S311
        simulate(mixing.j2u, crowd.j2u, days, random.Random(seed)),  # noqa: S311
    )
