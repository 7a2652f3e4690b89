"""Mixing sized to the crowd: the parameters follow the expected traffic, and measured on
the real batch machine they release about once per timeout with the crowd as the
anonymity set, where CoverDrop's production parameters would wait for days."""

from __future__ import annotations

from datetime import timedelta

import pytest

from quietline.admin.crowd import PRESETS, Crowd, crowd_named, measure, mixing_for
from quietline.cli.presets import production_interval
from quietline.protocol.errors import MisuseError


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_release_once_a_timeout_among_the_whole_crowd(name: str) -> None:
    figures = measure(crowd_named(name), 1, 1)
    crowd, mixing = figures.crowd, figures.mixing
    assert figures.u2j.releases_per_hour == pytest.approx(1, abs=0.1)
    assert figures.u2j.inputs_per_release == pytest.approx(crowd.u2j.inputs_per_hour, rel=0.1)
    assert figures.clients_per_batch == crowd.clients
    assert figures.j2u.releases_per_hour == pytest.approx(6, abs=0.5)
    assert figures.client_keeps_up
    # Six releases an hour: the sweep's 336 dead drops go back 56 hours, not 14 days.
    assert figures.reply_reach_h == pytest.approx(336 / 6, rel=0.1)
    # Nothing piles up behind the output size.
    assert figures.u2j.undelivered < mixing.u2j.output_size
    assert figures.j2u.undelivered < mixing.j2u.output_size


def test_parameters_follow_the_expected_rate() -> None:
    mixing = mixing_for(Crowd.of(100))
    # 100 clients at one message a minute: 6,000 an hour.
    assert (mixing.u2j.threshold_min, mixing.u2j.threshold_max) == (3000, 24_000)
    assert mixing.u2j.timeout == timedelta(hours=1)
    assert mixing.j2u.timeout == timedelta(minutes=10)
    assert "100 running source clients" in mixing.comment
    larger = mixing_for(Crowd.of(1_000_000))
    assert larger.u2j.threshold_min == 100 * 100 * mixing.u2j.threshold_min
    assert larger.u2j.output_size > mixing.u2j.output_size


def test_coverdrop_production_waits_days_at_a_small_organisation() -> None:
    # The case: 20 clients at one message a minute.
    assert production_interval(measure(Crowd.of(20), 0.1, 1)) == "3.5 days"


@pytest.mark.parametrize("text", ["0", "-5", "many", "1e9", "100000001"])
def test_a_bad_crowd_is_a_clear_error(text: str) -> None:
    with pytest.raises(MisuseError, match="crowd"):
        crowd_named(text)


def test_a_crowd_is_a_number_or_a_preset() -> None:
    assert crowd_named("2,500") == Crowd.of(2500)
    assert crowd_named("medium") == Crowd.of(10_000)
