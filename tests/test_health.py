"""Judging what ``quietline status`` saw: each finding a person can act on, at the level
that sets the exit code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from quietline.config import CONFIG_NAME, Config, default_config_text, load_config
from quietline.health import EdgeView, Level, judge, warn_before, worst
from quietline.protocol.api import Direction, Status, SystemStatus
from quietline.protocol.certificates import KeyRole
from quietline.protocol.deaddrops import DeadDropKind
from quietline.protocol.mixing import PRODUCTION_J2U as REPLIES
from quietline.protocol.mixing import PRODUCTION_U2J as PRODUCTION
from quietline.protocol.mixing import MixState, ThresholdMix
from quietline.protocol.verification import KeyVerification, verify_published_keys
from tests.support.organisation import Organisation

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
AVAILABLE = Status(SystemStatus.AVAILABLE, "Quietline is available", T0)


@pytest.fixture(scope="module")
def organisation() -> Organisation:
    return Organisation.create(T0, ("news_desk",))


@pytest.fixture
def config(tmp_path: Path) -> Config:
    (tmp_path / CONFIG_NAME).write_text(default_config_text(), encoding="utf-8")
    return load_config(tmp_path)


def keys(organisation: Organisation, now: datetime) -> KeyVerification:
    return verify_published_keys(organisation.published_keys(), [organisation.anchor], now)


def healthy(organisation: Organisation, now: datetime = T0 + HOUR) -> EdgeView:
    """An edge whose keys are fresh, whose dead drops are minutes old and whose queues
    are short, beside a mixer whose mix releases at its timeout."""
    forecasts = {
        lane: ThresholdMix[None](parameters, MixState(200_000, now - HOUR / 2, ())).forecast(now)
        for lane, parameters in ((Direction.USER, PRODUCTION), (Direction.JOURNALIST, REPLIES))
    }
    return EdgeView(
        now,
        status=AVAILABLE,
        keys=keys(organisation, now),
        recent={
            kind: [(7 - n, now - (10 + 60 * n) * MINUTE) for n in range(3)] for kind in DeadDropKind
        },
        queues={Direction.USER: 12, Direction.JOURNALIST: 0},
        forecasts=forecasts,
    )


def test_a_healthy_deployment_is_all_ok(organisation: Organisation, config: Config) -> None:
    findings = judge(healthy(organisation), config)
    assert worst(findings) is Level.OK, [f.text for f in findings if f.level]
    texts = [f"{f.part}: {f.text}" for f in findings]
    assert any(text.startswith("keys: covernode_msg of covernode_001") for text in texts)
    assert (
        "queues: u2j queue (from source clients): 12 of at most 1,000,000 waiting for the mixer"
        in texts
    )
    assert any(text.startswith("mixer: u2j: at the current") for text in texts)


def test_an_unreachable_edge_fails(config: Config) -> None:
    (finding,) = judge(EdgeView(T0, unreachable="http://edge: refused"), config)
    assert (finding.level, finding.part) == (Level.FAIL, "edge")


def test_an_unavailable_system_fails(organisation: Organisation, config: Config) -> None:
    down = Status(SystemStatus.NO_INFORMATION, "No CoverNode messaging key is published yet", T0)
    view = healthy(organisation)
    findings = judge(EdgeView(view.now, status=down, keys=view.keys, recent=view.recent), config)
    assert findings[0].level is Level.FAIL
    assert "NO_INFORMATION" in findings[0].text


def test_a_messaging_key_not_rotated_warns_then_fails(
    organisation: Organisation, config: Config
) -> None:
    # The mixer's messaging key, never rotated: fine for a while, then late, then ending.
    expires = T0 + timedelta(weeks=2)
    late = expires - warn_before(KeyRole.COVERNODE_MSG) + HOUR
    ending = expires - HOUR
    for now, level in ((T0 + HOUR, Level.OK), (late, Level.WARN), (ending, Level.FAIL)):
        (finding,) = [
            f for f in judge(healthy(organisation, now), config) if "covernode_msg" in f.text
        ]
        assert finding.level is level, (now, finding.text)
    assert "is it running?" in finding.text


def test_a_missing_messaging_key_fails(organisation: Organisation, config: Config) -> None:
    # Past the journalist messaging key's two weeks (no desk rotated it), within its identity's.
    now = T0 + timedelta(weeks=2, hours=1)
    findings = judge(healthy(organisation, now), config)
    failed = [f.text for f in findings if f.level is Level.FAIL]
    assert any("news_desk has no valid messaging key" in text for text in failed)
    assert any(text.startswith("no valid journalist_msg key") for text in failed)


def test_stale_or_missing_dead_drops_warn(organisation: Organisation, config: Config) -> None:
    view = healthy(organisation)
    stale = EdgeView(
        view.now,
        status=AVAILABLE,
        recent={DeadDropKind.JOURNALIST: [(3, view.now - 4 * HOUR)], DeadDropKind.USER: []},
    )
    findings = [f for f in judge(stale, config) if f.part == "dead drops"]
    assert [f.level for f in findings] == [Level.WARN, Level.WARN]
    assert "newest #3, 4.0 h old; that is more than 3 timeouts (1.0 h each): is the mixer" in (
        findings[0].text
    )
    assert "none yet" in findings[1].text


@pytest.mark.parametrize(
    ("held", "level"), [(499_999, Level.OK), (500_000, Level.WARN), (10**6, Level.FAIL)]
)
def test_a_filling_queue_warns_and_a_full_one_fails(
    organisation: Organisation, config: Config, held: int, level: Level
) -> None:
    view = EdgeView(T0, status=AVAILABLE, queues={Direction.USER: held})
    (finding,) = [f for f in judge(view, config) if f.part == "queues"]
    assert finding.level is level


def test_a_mix_too_large_for_its_input_warns(config: Config) -> None:
    # 20 clients for half an hour under CoverDrop's production parameters.
    forecast = ThresholdMix[None](PRODUCTION, MixState(600, T0, ())).forecast(T0 + HOUR / 2)
    view = EdgeView(T0 + HOUR / 2, status=AVAILABLE, forecasts={Direction.USER: forecast})
    (finding,) = [f for f in judge(view, config) if f.part == "mixer"]
    assert finding.level is Level.WARN
    assert finding.text.startswith("u2j: at the current 0.33 inputs a second")


def test_what_is_not_on_this_machine_is_said_not_judged(config: Config) -> None:
    findings = judge(EdgeView(T0, status=AVAILABLE), config)
    assert worst(findings) is Level.OK
    assert {f.part for f in findings if "not visible here" in f.text} == {"queues", "mixer"}


def test_an_expired_anchor_fails(config: Config) -> None:
    view = EdgeView(
        T0, status=AVAILABLE, keys="no pinned organisation anchor is valid at this time"
    )
    (finding,) = [f for f in judge(view, config) if f.part == "keys"]
    assert finding.level is Level.FAIL
    assert finding.text.endswith("ship clients a new anchor (docs/protocol.md)")


def test_dead_drops_released_far_slower_than_their_timeout_warn(config: Config) -> None:
    # CoverDrop's production parameters at a small organisation: a release every 3.5 days.
    recent = [(9 - n, T0 - n * timedelta(days=3.5)) for n in range(4)]
    view = EdgeView(T0 + HOUR / 2, status=AVAILABLE, recent={DeadDropKind.JOURNALIST: recent})
    (finding,) = [f for f in judge(view, config) if f.part == "dead drops"]
    assert finding.level is Level.WARN
    assert finding.text == (
        "journalist dead drops (u2j): newest #9, 30 min old; the last 4 came every 3.5 days on"
        " average, against a timeout of 1.0 h: the mixing is sized for a larger crowd;"
        " see docs/deploy.md, 'Mixing sized to the crowd'"
    )
