"""The deployment's health as the edge shows it: pure judgements for ``quietline status``.

An :class:`EdgeView` holds what can be seen from the edge without any client data: its
system status, the published keys verified from the pinned anchor, the newest dead drops
of each kind (how recent, and how often the mixer released them), and, where the command
runs beside them, the queue lengths in the edge's database and the counts in the
mixer's. :func:`judge` turns it into :class:`Finding` lines a person can act on, each at
a :class:`Level`; the worst level is the command's exit code. Nothing here reads a
clock, a file or the network.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from quietline.config import Config
from quietline.mixer.alarm import LANE_NAMES
from quietline.mixer.forecast import DOCS, SENDERS, SLOW_FACTOR, describe, warning
from quietline.protocol.api import Direction, Status
from quietline.protocol.certificates import KeyRole
from quietline.protocol.deaddrops import DeadDropKind
from quietline.protocol.encoding import format_rfc3339
from quietline.protocol.keygen import ROTATE_AFTER, VALIDITY
from quietline.protocol.mixing import ReleaseForecast
from quietline.protocol.verification import KeyVerification, VerifiedKey


class Level(enum.IntEnum):
    """How urgent a finding is; the exit code of ``quietline status``."""

    OK = 0
    WARN = 1  # needs attention soon: a key near its end, a stalled release, a filling queue
    FAIL = 2  # broken now: the edge unreachable or unavailable, a needed key missing


@dataclass(frozen=True, slots=True)
class Finding:
    level: Level
    part: str
    text: str


@dataclass(frozen=True, slots=True)
class EdgeView:
    """What ``quietline status`` saw. ``unreachable`` says why the edge could not be read
    (then the rest is empty); ``keys`` is the published keys verified from the pinned
    anchor, or why that anchor itself is not valid; ``queues`` and ``forecasts`` are None
    where the edge's or the mixer's database is not on this machine."""

    now: datetime
    unreachable: str | None = None
    status: Status | None = None
    keys: KeyVerification | str | None = None  # a str: why no pinned anchor is valid
    # The newest dead drops of each kind as (id, created_at), newest first.
    recent: Mapping[DeadDropKind, Sequence[tuple[int, datetime]]] | None = None
    queues: Mapping[Direction, int] | None = None
    forecasts: Mapping[Direction, ReleaseForecast] | None = None


# Who keeps each role's keys fresh, for a finding a person can act on.
KEEPER = {
    KeyRole.ORGANIZATION: "ship clients a new anchor (docs/protocol.md)",
    KeyRole.COVERNODE_PROVISIONING: "run `quietline admin renew` and publish",
    KeyRole.JOURNALIST_PROVISIONING: "run `quietline admin renew` and publish",
    KeyRole.COVERNODE_ID: "run `quietline admin certify-mixer`, copy the keys to the mixer"
    " and publish",
    KeyRole.JOURNALIST_ID: "run `quietline admin renew`, import the bundle into its desk"
    " and publish",
    KeyRole.COVERNODE_MSG: "the mixer makes these weekly: is it running?",
    KeyRole.JOURNALIST_MSG: "its desk makes these daily: is `quietline desk run` running?",
}
# What each dead drop's absence suggests: the lane that makes it, and who feeds that lane.
DEAD_DROP_LANE = {DeadDropKind.JOURNALIST: Direction.USER, DeadDropKind.USER: Direction.JOURNALIST}
FEEDERS = {
    DeadDropKind.JOURNALIST: "is the mixer running?",
    DeadDropKind.USER: "is the mixer running, and are the desks (each sends one message a period)?",
}
# A release later than this many timeouts is worth a look.
LATE_RELEASES = 3
QUEUE_WARNING_SHARE = 0.5


def span(delta: timedelta) -> str:
    """A duration for a person: minutes, hours or days."""
    seconds = delta.total_seconds()
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def warn_before(role: KeyRole) -> timedelta:
    """How long before its end a role's newest key means its successor is late: a whole
    rotation period late, or half the time a newest key normally has left, whichever
    comes first."""
    validity, rotate = VALIDITY[role], ROTATE_AFTER[role]
    return max(validity - 2 * rotate, (validity - rotate) / 2)


def key_finding(key: VerifiedKey, now: datetime) -> Finding:
    """A role's newest key: a warning once its successor is late (:func:`warn_before`),
    a failure in its last day."""
    left = key.not_valid_after - now
    owner = f" of {key.owner}" if key.owner else ""
    text = f"{key.role.value}{owner}: newest valid until {format_rfc3339(key.not_valid_after)}"
    if left < timedelta(days=1):
        return Finding(Level.FAIL, "keys", f"{text}, in {span(left)}: {KEEPER[key.role]}")
    if left < warn_before(key.role):
        return Finding(Level.WARN, "keys", f"{text}, in {span(left)}: {KEEPER[key.role]}")
    return Finding(Level.OK, "keys", f"{text} ({span(left)})")


def _keys(verification: KeyVerification, now: datetime) -> list[Finding]:
    newest: dict[tuple[KeyRole, str | None], VerifiedKey] = {}
    for key in verification.verified.keys:
        held = newest.get((key.role, key.owner))
        if held is None or key.not_valid_after > held.not_valid_after:
            newest[(key.role, key.owner)] = key
    findings = [key_finding(key, now) for key in newest.values()]
    roles = {role for role, _ in newest}
    for role in (KeyRole.COVERNODE_MSG, KeyRole.JOURNALIST_MSG):
        if role not in roles:
            findings.append(
                Finding(Level.FAIL, "keys", f"no valid {role.value} key: {KEEPER[role]}")
            )
    recipients = {owner for role, owner in newest if role is KeyRole.JOURNALIST_ID and owner}
    for owner in sorted(r for r in recipients if (KeyRole.JOURNALIST_MSG, r) not in newest):
        findings.append(
            Finding(
                Level.FAIL,
                "keys",
                f"{owner} has no valid messaging key: {KEEPER[KeyRole.JOURNALIST_MSG]}",
            )
        )
    findings += [
        Finding(Level.WARN, "keys", f"published but refused: {rejected.describe()}")
        for rejected in verification.rejected
    ]
    return findings


def _dead_drops(view: EdgeView, config: Config) -> list[Finding]:
    timeouts = {
        Direction.USER: config.mixer.u2j.timeout,
        Direction.JOURNALIST: config.mixer.j2u.timeout,
    }
    findings = []
    for kind, recent in (view.recent or {}).items():
        lane = DEAD_DROP_LANE[kind]
        name = f"{kind.value} dead drops ({LANE_NAMES[lane]})"
        if not recent:
            findings.append(Finding(Level.WARN, "dead drops", f"{name}: none yet; {FEEDERS[kind]}"))
            continue
        findings += _dead_drop_pace(name, kind, recent, timeouts[lane], view.now)
    return findings


def _dead_drop_pace(
    name: str,
    kind: DeadDropKind,
    recent: Sequence[tuple[int, datetime]],
    timeout: timedelta,
    now: datetime,
) -> list[Finding]:
    """How old the newest dead drop is, and how often the recent ones came, against the
    timeout of the lane that makes them."""
    number, created = recent[0]
    age = now - created
    text = f"{name}: newest #{number}, {span(age)} old"
    if len(recent) > 1:
        gap = (created - recent[-1][1]) / (len(recent) - 1)
        text += f"; the last {len(recent)} came every {span(gap)} on average"
        if gap > SLOW_FACTOR * timeout:
            return [
                Finding(
                    Level.WARN,
                    "dead drops",
                    f"{text}, against a timeout of {span(timeout)}: the mixing is sized for"
                    f" a larger crowd; {DOCS}",
                )
            ]
    if age > LATE_RELEASES * timeout:
        return [
            Finding(
                Level.WARN,
                "dead drops",
                f"{text}; that is more than {LATE_RELEASES} timeouts ({span(timeout)} each):"
                f" {FEEDERS[kind]} If it is, its thresholds may be too high for the input"
                " (see the mixer's forecast)",
            )
        ]
    return [Finding(Level.OK, "dead drops", text)]


def _queues(queues: Mapping[Direction, int], config: Config) -> list[Finding]:
    limits = {
        Direction.USER: config.edge.limits.max_queued_user,
        Direction.JOURNALIST: config.edge.limits.max_queued_journalist,
    }
    findings = []
    for direction, held in queues.items():
        most = limits[direction]
        text = (
            f"{LANE_NAMES[direction]} queue (from {SENDERS[LANE_NAMES[direction]]}):"
            f" {held:,} of at most {most:,} waiting for the mixer"
        )
        if held >= most:
            level, text = Level.FAIL, f"{text}: full, senders are refused; is the mixer running?"
        elif held >= QUEUE_WARNING_SHARE * most:
            level, text = Level.WARN, f"{text}: the mixer is behind or away"
        else:
            level = Level.OK
        findings.append(Finding(level, "queues", text))
    return findings


def _forecasts(view: EdgeView, config: Config) -> list[Finding]:
    parameters = {Direction.USER: config.mixer.u2j, Direction.JOURNALIST: config.mixer.j2u}
    findings = []
    for direction, forecast in (view.forecasts or {}).items():
        lane, used = LANE_NAMES[direction], parameters[direction]
        slow = warning(lane, used, forecast, view.now)
        if slow is not None:
            findings.append(Finding(Level.WARN, "mixer", slow))
        else:
            findings.append(Finding(Level.OK, "mixer", describe(lane, used, forecast, view.now)))
    return findings


def judge(view: EdgeView, config: Config) -> list[Finding]:
    """Every finding about ``view``, by part: edge, keys, dead drops, queues, mixer."""
    if view.unreachable is not None:
        return [Finding(Level.FAIL, "edge", f"unreachable: {view.unreachable}")]
    findings = []
    if view.status is not None:
        text = f"system status {view.status.status.value}: {view.status.description}"
        level = Level.OK if view.status.is_available else Level.FAIL
        findings.append(Finding(level, "edge", text))
    if isinstance(view.keys, str):
        findings.append(Finding(Level.FAIL, "keys", f"{view.keys}: {KEEPER[KeyRole.ORGANIZATION]}"))
    elif view.keys is not None:
        findings += _keys(view.keys, view.now)
    findings += _dead_drops(view, config)
    if view.queues is None:
        findings.append(
            Finding(Level.OK, "queues", "not visible here (run on the edge's machine to see them)")
        )
    else:
        findings += _queues(view.queues, config)
    if view.forecasts is None:
        findings.append(
            Finding(
                Level.OK,
                "mixer",
                "release forecast not visible here (run on the mixer's machine to see it)",
            )
        )
    else:
        findings += _forecasts(view, config)
    return findings


def worst(findings: list[Finding]) -> Level:
    return max((finding.level for finding in findings), default=Level.OK)
