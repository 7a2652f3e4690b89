"""The network adversary tests: writers' traffic must look like everyone else's, and a
desk that replies like one that does not.

Twenty-four real source clients (a seeded third of them used by a person who sends and
reads replies at seeded random moments) run against the real edge, mixer and desk, each
through its own port of a recording proxy, for two and a half minutes with a two-second
send period and a three-second download period. An observer's classifiers then try to
tell the writers from the rest (``tests/system/unobservable.py``): the test fails when the
random forest's ROC-AUC interval lies above 0.75, its permutation test or any single
feature's Mann-Whitney test (Bonferroni) is significant at 0.001. Nothing depends on exact
timings: only how well the two groups separate.

The same for twelve more desks, each run through its own proxy port for 90 s with a
one-second period, each written to by one source: a seeded third of them have a person
who replies, three times, to everyone who wrote; the others never reply. Twelve desks
give the observer less to learn from than 24 sources: the longer run
(``python -m tests.system.unobservable --desks --clients 30 --minutes 10``) is the
stronger check.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.system.unobservable import (
    Observation,
    Plan,
    analyse,
    feature_rows,
    observe,
    observe_desks,
    summary,
)

pytestmark = [pytest.mark.slow, pytest.mark.adversary]

SEED = 2026
CLIENTS = 24
SECONDS = 150.0
ACTIONS_EACH = 3
DESKS = 12
DESK_SECONDS = 90.0


def judge(observation: Observation, labels: list[bool]) -> None:
    """Print the observer's table; fail if the writers stand out (or if the run proves
    nothing: nothing recorded, or nobody wrote)."""
    analysis = analyse(feature_rows(observation), labels, SEED)
    print(summary(observation))
    print(analysis.table())
    assert all(trace.exchanges() for trace in observation.traces)
    assert not any(c.unparsed for trace in observation.traces for c in trace.connections)
    writers = [n for n, label in enumerate(labels) if label]
    assert all(observation.done[n] for n in writers), observation.failed
    assert not analysis.distinguishable, analysis.table()


def test_an_observer_cannot_tell_writers_from_cover_only_clients(tmp_path: Path) -> None:
    plan = Plan.seeded(SEED, CLIENTS, SECONDS, ACTIONS_EACH)
    observation = observe(tmp_path, plan, SECONDS)
    judge(observation, [n in plan.writers for n in range(CLIENTS)])


def test_an_observer_cannot_tell_a_desk_that_replies_from_one_that_does_not(
    tmp_path: Path,
) -> None:
    plan = Plan.seeded(SEED, DESKS, DESK_SECONDS, ACTIONS_EACH)
    observation = observe_desks(tmp_path, plan, DESK_SECONDS)
    judge(observation, [d in plan.writers for d in range(DESKS)])
