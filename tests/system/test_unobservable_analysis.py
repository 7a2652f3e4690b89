"""The adversary's statistics (tests/system/unobservable.py) on feature rows made up here:
a difference planted in one feature is found, and exchangeable noise is not."""

from __future__ import annotations

import random

import numpy as np

from tests.system.unobservable import analyse, auc

SEED = 7
CLIENTS = 24
WRITERS = frozenset(range(0, CLIENTS, 3))


def rows(planted: float) -> list[dict[str, float]]:
    """Every client's features drawn from the same distribution, except ``gap max``, which
    is ``planted`` larger for writers."""
    rng = random.Random(SEED)
    return [
        {
            "gap mean": rng.gauss(1.0, 0.01),
            "gap max": rng.gauss(1.5, 0.1) + (planted if n in WRITERS else 0.0),
            "bytes down": float(rng.randrange(9000, 13000)),
            "connections": 1.0,
        }
        for n in range(CLIENTS)
    ]


def labels() -> list[bool]:
    return [n in WRITERS for n in range(CLIENTS)]


def test_auc_counts_ties_half() -> None:
    assert auc(np.array([3.0, 2.0, 1.0]), np.array([1, 0, 0])) == 1.0
    assert auc(np.array([1.0, 1.0]), np.array([1, 0])) == 0.5
    assert auc(np.array([0.0, 1.0]), np.array([1, 0])) == 0.0


def test_a_planted_difference_is_distinguishable() -> None:
    analysis = analyse(rows(planted=2.0), labels(), SEED, permutations=19)
    best = min(analysis.tests, key=lambda t: t.p)
    assert best.name == "gap max"
    assert best.p_bonferroni < 0.01
    assert analysis.auc_interval[0] > 0.75
    assert analysis.distinguishable


def test_exchangeable_clients_are_not_distinguishable() -> None:
    analysis = analyse(rows(planted=0.0), labels(), SEED)
    # A feature that never varies is not tested: it cannot tell anyone apart.
    assert {t.name for t in analysis.tests} == {"gap mean", "gap max", "bytes down"}
    assert analysis.permutation_p >= 0.01
    assert not analysis.distinguishable, analysis.table()
