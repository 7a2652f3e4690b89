"""Tests for quietline.protocol.mixing: the threshold-or-timeout mix and replay detection.

Every test injects the time (aware UTC datetimes) and a seeded ``random.Random``, so the
mix is fully deterministic: when it is due, which real messages a release takes (FIFO),
that each release is exactly ``output_size`` entries padded by the filler, that the
shuffle is uniform (a seeded chi-square test) and that a snapshot resumes identically.
A Hypothesis property checks that no real message is ever lost or duplicated.
"""

import hashlib
import random
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import count, permutations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quietline.protocol.errors import MisuseError
from quietline.protocol.mixing import (
    DEMO_J2U,
    DEMO_U2J,
    PRODUCTION_J2U,
    PRODUCTION_U2J,
    MixBatch,
    MixingParameters,
    MixState,
    ReplayFilter,
    ThresholdMix,
    next_release,
    replay_digest,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
# Small parameters: release at 6 inputs, or at 3 once 10 minutes have passed; 4 entries.
PARAMS = MixingParameters(
    threshold_min=3, threshold_max=6, timeout=timedelta(minutes=10), output_size=4
)


def filler_counter(prefix: str = "filler") -> Callable[[], str]:
    """A filler callable that hands out ``prefix-0``, ``prefix-1``, ... in order."""
    numbers: Iterator[int] = count()
    return lambda: f"{prefix}-{next(numbers)}"


def new_mix(
    parameters: MixingParameters = PARAMS, seed: int = 1, now: datetime = T0
) -> ThresholdMix[str]:
    return ThresholdMix.start(parameters, now, random.Random(seed))


# --- when a release is due ----------------------------------------------------------------


class TestDue:
    def test_nothing_received_is_not_due(self) -> None:
        mix = new_mix()
        assert not mix.due(T0)
        assert not mix.due(T0 + timedelta(days=30))

    def test_due_at_threshold_max_regardless_of_time(self) -> None:
        mix = new_mix()
        mix.receive_all(["a"] * (PARAMS.threshold_max - 1))
        assert not mix.due(T0)
        mix.receive("b")
        assert mix.due(T0)
        # Even at a time before the last release (a clock step back), the count decides.
        assert mix.due(T0 - timedelta(hours=1))

    def test_due_at_threshold_max_counting_cover_only(self) -> None:
        mix = new_mix()
        mix.receive_all([None] * PARAMS.threshold_max)
        assert mix.due(T0)

    def test_not_due_below_threshold_min_even_long_after_timeout(self) -> None:
        mix = new_mix()
        mix.receive_all(["a"] * (PARAMS.threshold_min - 1))
        assert not mix.due(T0 + PARAMS.timeout)
        assert not mix.due(T0 + timedelta(days=365))

    def test_due_at_threshold_min_once_timeout_passed(self) -> None:
        mix = new_mix()
        mix.receive_all(["a", None, None])
        assert not mix.due(T0)
        assert not mix.due(T0 + PARAMS.timeout - MICROSECOND)
        assert mix.due(T0 + PARAMS.timeout)  # the boundary itself counts
        assert mix.due(T0 + PARAMS.timeout + MICROSECOND)

    def test_zero_threshold_min_releases_empty_batches_on_timeout(self) -> None:
        parameters = MixingParameters(0, 5, timedelta(minutes=1), 3)
        mix = new_mix(parameters)
        assert not mix.due(T0)
        batch = mix.release(T0 + parameters.timeout, filler_counter())
        assert batch.real == ()
        assert sorted(batch.entries) == ["filler-0", "filler-1", "filler-2"]

    def test_cover_counts_toward_thresholds_but_is_never_output(self) -> None:
        mix = new_mix()
        mix.receive_all([None, "real", None])
        assert mix.pending == 1
        batch = mix.release(T0 + PARAMS.timeout, filler_counter())
        assert None not in batch.entries
        assert batch.real == ("real",)
        assert sorted(batch.entries) == ["filler-0", "filler-1", "filler-2", "real"]


# --- what a release contains --------------------------------------------------------------


class TestRelease:
    def test_release_when_not_due_raises_and_changes_nothing(self) -> None:
        mix = new_mix()
        mix.receive_all(["a", "b"])
        before = mix.state()
        with pytest.raises(MisuseError):
            mix.release(T0 + PARAMS.timeout, filler_counter())
        assert mix.state() == before

    def test_every_release_is_exactly_output_size(self) -> None:
        mix = new_mix()
        filler = filler_counter()
        for reals in (0, 1, 4, 6):
            mix.receive_all([f"m{i}" for i in range(reals)])
            mix.receive_all([None] * (PARAMS.threshold_max - reals))
            batch = mix.release(T0, filler)
            assert len(batch.entries) == PARAMS.output_size
        # 11 real arrived and 0 + 1 + 4 + 4 left (at most output_size per release).
        assert mix.pending == 2

    def test_fillers_come_from_the_filler_callable(self) -> None:
        mix = new_mix()
        mix.receive_all(["r0", None, None])
        batch = mix.release(T0 + PARAMS.timeout, filler_counter())
        assert batch.real == ("r0",)
        assert set(batch.entries) == {"r0", "filler-0", "filler-1", "filler-2"}

    def test_filler_is_not_called_when_the_batch_is_full_of_real_messages(self) -> None:
        def no_filler() -> str:
            raise AssertionError("no filler is needed")

        mix = new_mix()
        mix.receive_all(["a", "b", "c", "d", "e", "f"])
        batch = mix.release(T0, no_filler)
        assert sorted(batch.entries) == ["a", "b", "c", "d"]

    def test_real_lists_exactly_the_real_messages_released(self) -> None:
        mix = new_mix()
        mix.receive_all(["x", None, "y", None, None, None])
        batch = mix.release(T0, filler_counter())
        assert batch.real == ("x", "y")
        assert sorted(e for e in batch.entries if not e.startswith("filler-")) == ["x", "y"]

    def test_batch_records_the_release_time(self) -> None:
        mix = new_mix()
        mix.receive_all([None] * PARAMS.threshold_max)
        later = T0 + timedelta(minutes=3)
        assert mix.release(later, filler_counter()).released_at == later

    def test_fifo_oldest_go_first_and_the_rest_wait(self) -> None:
        mix = new_mix()
        messages = [f"m{i}" for i in range(10)]
        mix.receive_all(messages)
        filler = filler_counter()

        first = mix.release(T0, filler)
        assert first.real == ("m0", "m1", "m2", "m3")
        assert sorted(first.entries) == ["m0", "m1", "m2", "m3"]
        assert mix.pending == 6
        assert mix.state().pending == tuple(messages[4:])

        # The counter was reset, so the next release needs fresh inputs (cover will do).
        assert not mix.due(T0)
        mix.receive_all([None] * PARAMS.threshold_max)
        second = mix.release(T0, filler)
        assert second.real == ("m4", "m5", "m6", "m7")

        mix.receive_all([None] * PARAMS.threshold_min)
        third = mix.release(T0 + PARAMS.timeout, filler)
        assert third.real == ("m8", "m9")
        assert sorted(third.entries) == ["filler-0", "filler-1", "m8", "m9"]
        assert mix.pending == 0

    def test_counters_reset_after_release(self) -> None:
        mix = new_mix()
        mix.receive_all(["a", "b", "c"])
        released_at = T0 + timedelta(minutes=25)
        mix.release(released_at, filler_counter())
        state = mix.state()
        assert state.received == 0
        assert state.last_release == released_at
        # The timeout now runs from the release, not from the start.
        mix.receive_all([None] * PARAMS.threshold_min)
        assert not mix.due(released_at + PARAMS.timeout - MICROSECOND)
        assert mix.due(released_at + PARAMS.timeout)

    def test_default_rng_releases_a_permutation(self) -> None:
        mix: ThresholdMix[str] = ThresholdMix.start(PARAMS, T0)
        mix.receive_all(["a", "b", "c", "d", "e", "f"])
        batch = mix.release(T0, filler_counter())
        assert sorted(batch.entries) == ["a", "b", "c", "d"]


# --- persistence --------------------------------------------------------------------------


class TestMixState:
    def test_state_captures_counters_and_pending_in_order(self) -> None:
        mix = new_mix()
        mix.receive_all(["a", None, "b"])
        assert mix.state() == MixState(received=3, last_release=T0, pending=("a", "b"))

    def test_snapshot_is_not_changed_by_later_inputs(self) -> None:
        mix = new_mix()
        mix.receive("a")
        snapshot = mix.state()
        mix.receive("b")
        assert snapshot.pending == ("a",)
        assert snapshot.received == 1

    def test_restore_resumes_identically(self) -> None:
        original_rng = random.Random(42)
        original: ThresholdMix[str] = ThresholdMix.start(PARAMS, T0, original_rng)
        original.receive_all([f"m{i}" for i in range(9)] + [None])
        original.release(T0, filler_counter("early"))
        original.receive_all(["late-0", None])

        # What a CoverNode persists: the mix state, and (in tests) the generator's state.
        restored_rng = random.Random()
        restored_rng.setstate(original_rng.getstate())
        restored = ThresholdMix(PARAMS, original.state(), restored_rng)
        assert restored.state() == original.state()
        assert restored.pending == original.pending

        follow_up: list[str | None] = ["late-1", None, None, "late-2", None, None]
        later = T0 + timedelta(minutes=4)
        batches: list[list[MixBatch[str]]] = []
        for mix in (original, restored):
            filler = filler_counter()
            releases = []
            for item in follow_up:
                mix.receive(item)
                if mix.due(later):
                    releases.append(mix.release(later, filler))
            mix.receive_all([None] * PARAMS.threshold_min)
            releases.append(mix.release(later + PARAMS.timeout, filler))
            batches.append(releases)
        assert batches[0] == batches[1]
        assert original.state() == restored.state()

    def test_restored_mix_keeps_the_timeout_from_its_last_release(self) -> None:
        state: MixState[str] = MixState(received=5, last_release=T0, pending=("a",))
        mix = ThresholdMix(PARAMS, state, random.Random(0))
        assert not mix.due(T0 + PARAMS.timeout - MICROSECOND)
        assert mix.due(T0 + PARAMS.timeout)
        mix.receive(None)  # the sixth input reaches threshold_max
        assert mix.due(T0)


# --- parameters ---------------------------------------------------------------------------


class TestMixingParameters:
    @pytest.mark.parametrize(
        ("threshold_min", "threshold_max", "timeout", "output_size"),
        [
            (5, 4, timedelta(minutes=1), 1),  # min above max
            (-1, 4, timedelta(minutes=1), 1),  # negative min
            (1, 4, timedelta(minutes=1), 0),  # empty releases
            (1, 4, timedelta(minutes=1), -3),
            (1, 4, timedelta(0), 1),  # no timeout
            (1, 4, timedelta(seconds=-1), 1),
        ],
    )
    def test_rejects_impossible_parameters(
        self, threshold_min: int, threshold_max: int, timeout: timedelta, output_size: int
    ) -> None:
        with pytest.raises(MisuseError):
            MixingParameters(threshold_min, threshold_max, timeout, output_size)

    def test_accepts_equal_thresholds_and_tiny_timeout(self) -> None:
        parameters = MixingParameters(3, 3, MICROSECOND, 1)
        assert parameters.threshold_min == parameters.threshold_max == 3

    @pytest.mark.parametrize(
        ("parameters", "expected"),
        [
            (PRODUCTION_U2J, (100_000, 500_000, timedelta(hours=1), 500)),
            (PRODUCTION_J2U, (50, 100, timedelta(hours=1), 20)),
            (DEMO_U2J, (2, 10, timedelta(minutes=15), 10)),
            (DEMO_J2U, (10, 40, timedelta(minutes=15), 5)),
        ],
        ids=["production-u2j", "production-j2u", "demo-u2j", "demo-j2u"],
    )
    def test_coverdrop_documented_parameters(
        self, parameters: MixingParameters, expected: tuple[int, int, timedelta, int]
    ) -> None:
        assert (
            parameters.threshold_min,
            parameters.threshold_max,
            parameters.timeout,
            parameters.output_size,
        ) == expected


# --- shuffle ------------------------------------------------------------------------------

# Chi-square critical values at p = 0.001 (generous: the tests are seeded, so a pass is
# deterministic, while a missing or biased shuffle lands orders of magnitude above them).
CHI2_CRITICAL_7_DOF = 24.32
CHI2_CRITICAL_5_DOF = 20.52


def chi_square(observed: list[int], expected: float) -> float:
    return sum((o - expected) ** 2 / expected for o in observed)


class TestShuffle:
    def test_position_of_a_single_real_message_is_uniform(self) -> None:
        parameters = MixingParameters(1, 1, timedelta(minutes=1), 8)
        mix = new_mix(parameters, seed=2024)
        filler = filler_counter()
        releases = 4000
        positions: Counter[int] = Counter()
        for _ in range(releases):
            mix.receive("real")
            batch = mix.release(T0, filler)
            positions[batch.entries.index("real")] += 1
        observed = [positions[i] for i in range(parameters.output_size)]
        assert chi_square(observed, releases / parameters.output_size) < CHI2_CRITICAL_7_DOF
        # Without a shuffle the real message would always be first (chi-square ~28000).
        assert min(observed) > 0

    def test_all_orders_of_three_real_messages_are_equally_likely(self) -> None:
        parameters = MixingParameters(3, 3, timedelta(minutes=1), 3)
        mix = new_mix(parameters, seed=7)
        releases = 3000
        orders: Counter[tuple[str, ...]] = Counter()
        for _ in range(releases):
            mix.receive_all(["a", "b", "c"])
            orders[mix.release(T0, filler_counter()).entries] += 1
        observed = [orders[order] for order in permutations(("a", "b", "c"))]
        assert sum(observed) == releases
        assert chi_square(observed, releases / 6) < CHI2_CRITICAL_5_DOF

    def test_shuffle_changes_the_arrival_order(self) -> None:
        parameters = MixingParameters(8, 8, timedelta(minutes=1), 8)
        mix = new_mix(parameters, seed=3)
        arrival = tuple(f"m{i}" for i in range(8))
        in_arrival_order = 0
        for _ in range(20):
            mix.receive_all(arrival)
            batch = mix.release(T0, filler_counter())
            assert batch.real == arrival  # ``real`` keeps FIFO order; ``entries`` do not
            in_arrival_order += batch.entries == arrival
        assert in_arrival_order == 0  # 1 in 40320 per release for a uniform shuffle

    def test_fillers_are_mixed_among_real_entries(self) -> None:
        mix = new_mix(seed=11)
        first_positions = set()
        for _ in range(50):
            mix.receive_all(["real", None, None, None, None, None])
            first_positions.add(mix.release(T0, filler_counter()).entries.index("real"))
        assert first_positions == set(range(PARAMS.output_size))

    def test_same_seed_same_order_different_seed_different_order(self) -> None:
        def run(seed: int) -> list[tuple[str, ...]]:
            mix = new_mix(seed=seed)
            filler = filler_counter()
            out = []
            for round_ in range(5):
                mix.receive_all([f"r{round_}-{i}" for i in range(PARAMS.threshold_max)])
                out.append(mix.release(T0, filler).entries)
            return out

        assert run(5) == run(5)
        assert run(5) != run(6)


# --- property: nothing lost, nothing duplicated -------------------------------------------


@st.composite
def mixing_parameters(draw: st.DrawFn) -> MixingParameters:
    threshold_min = draw(st.integers(0, 12))
    threshold_max = draw(st.integers(threshold_min, 15))
    timeout = timedelta(minutes=draw(st.integers(1, 60)))
    return MixingParameters(threshold_min, threshold_max, timeout, draw(st.integers(1, 10)))


@settings(max_examples=200)
@given(
    parameters=mixing_parameters(),
    steps=st.lists(
        st.tuples(st.booleans(), st.integers(0, 30)),  # (is real, minutes before this input)
        max_size=120,
    ),
    seed=st.integers(0, 2**32),
)
def test_every_real_message_is_released_once_in_fifo_order(
    parameters: MixingParameters, steps: list[tuple[bool, int]], seed: int
) -> None:
    mix: ThresholdMix[int] = ThresholdMix.start(parameters, T0, random.Random(seed))
    fillers = count(-1, -1)  # fillers are negative, real messages their arrival index
    now = T0
    received: list[int] = []
    released: list[int] = []
    for index, (is_real, minutes) in enumerate(steps):
        now += timedelta(minutes=minutes)
        if is_real:
            received.append(index)
        mix.receive(index if is_real else None)
        if mix.due(now):
            batch = mix.release(now, lambda: next(fillers))
            assert len(batch.entries) == parameters.output_size
            assert sorted(e for e in batch.entries if e >= 0) == sorted(batch.real)
            assert len(set(batch.entries)) == len(batch.entries)
            released.extend(batch.real)
            assert mix.state().received == 0
        else:
            with pytest.raises(MisuseError):
                mix.release(now, lambda: next(fillers))

    pending = list(mix.state().pending)
    assert mix.pending == len(pending)
    assert released + pending == received  # FIFO: nothing lost, duplicated or reordered


# --- replay detection ---------------------------------------------------------------------


class TestReplayFilter:
    def test_first_sighting_then_replay(self) -> None:
        replays = ReplayFilter()
        assert replays.first_sighting(b"key-1", b"message")
        assert not replays.first_sighting(b"key-1", b"message")
        assert not replays.first_sighting(b"key-1", b"message")
        assert len(replays) == 1

    def test_different_plaintexts_are_independent(self) -> None:
        replays = ReplayFilter()
        assert replays.first_sighting(b"key-1", b"one")
        assert replays.first_sighting(b"key-1", b"two")
        assert len(replays) == 2

    def test_keys_are_independent(self) -> None:
        replays = ReplayFilter()
        assert replays.first_sighting(b"key-1", b"message")
        assert replays.first_sighting(b"key-2", b"message")
        assert not replays.first_sighting(b"key-2", b"message")
        assert len(replays) == 2

    def test_forget_frees_one_key_only(self) -> None:
        replays = ReplayFilter()
        replays.first_sighting(b"key-1", b"a")
        replays.first_sighting(b"key-1", b"b")
        replays.first_sighting(b"key-2", b"a")
        replays.forget(b"key-1")
        assert len(replays) == 1
        assert replays.first_sighting(b"key-1", b"a")  # forgotten: no longer a replay
        assert not replays.first_sighting(b"key-2", b"a")

    def test_forget_an_unknown_key_is_harmless(self) -> None:
        replays = ReplayFilter()
        replays.forget(b"never-seen")
        assert len(replays) == 0


class TestReplayDigest:
    def test_deterministic_and_32_bytes(self) -> None:
        assert replay_digest(b"plaintext") == replay_digest(b"plaintext")
        assert len(replay_digest(b"plaintext")) == 32

    def test_pinned_value(self) -> None:
        # Replay sets may be persisted (the edge's store); a changed digest would let
        # every remembered message be replayed once more after an upgrade.
        assert replay_digest(bytes(597)).hex() == (
            "74fc743094558dbeeb6d037702aa1008e5b19c01d8075d77e0c25e9c85daba96"
        )
        assert replay_digest(b"quietline").hex() == (
            "33a65c4f590307d8c0641e96d864aa2cd806dc56a9de95ff8f1467793bcd4aeb"
        )

    @given(st.binary(max_size=700), st.binary(max_size=700))
    def test_different_plaintexts_have_different_digests(self, a: bytes, b: bytes) -> None:
        assert (replay_digest(a) == replay_digest(b)) == (a == b)

    def test_domain_separated_from_plain_sha256(self) -> None:
        plaintext = b"U2C plaintext"
        assert replay_digest(plaintext) != hashlib.sha256(plaintext).digest()


def test_receive_cover_counts_many_inputs_at_once() -> None:
    one_by_one: ThresholdMix[str] = ThresholdMix.start(DEMO_U2J, T0)
    at_once: ThresholdMix[str] = ThresholdMix.start(DEMO_U2J, T0)
    one_by_one.receive_all([None] * 7)
    at_once.receive_cover(7)
    assert at_once.state() == one_by_one.state()
    with pytest.raises(MisuseError):
        at_once.receive_cover(-1)


# --- forecasting the next release -----------------------------------------------------


def test_a_slow_input_reaches_threshold_min_long_after_the_timeout() -> None:
    # 3 inputs needed; 1 counted; one more every 1,000 s: 2,000 s from now.
    assert next_release(PARAMS, 1, T0, 0.001, T0) == T0 + timedelta(seconds=2000)


def test_a_fast_input_releases_at_the_timeout_or_at_threshold_max() -> None:
    # threshold_min is reached at once, so the timeout decides ...
    assert next_release(PARAMS, 3, T0, 0.001, T0) == T0 + timedelta(minutes=10)
    # ... unless threshold_max comes first (3 more at one a second).
    assert next_release(PARAMS, 3, T0, 1.0, T0) == T0 + timedelta(seconds=3)
    assert next_release(PARAMS, 6, T0, 0.0, T0) == T0


def test_no_input_never_releases_below_threshold_min() -> None:
    assert next_release(PARAMS, 2, T0, 0.0, T0) is None
    assert next_release(PRODUCTION_U2J, 0, T0, 1e-12, T0) is None  # beyond the horizon


def test_a_mix_forecasts_from_its_own_counts() -> None:
    mix: ThresholdMix[str] = ThresholdMix.start(PARAMS, T0)
    mix.receive_cover(2)
    forecast = mix.forecast(T0 + timedelta(seconds=100))
    assert forecast.received == 2
    assert forecast.inputs_per_second == pytest.approx(0.02)
    assert forecast.observed == timedelta(seconds=100)
    # At 0.02 a second the 4 more that threshold_max wants come 200 s on, before the timeout.
    assert forecast.next_release == T0 + timedelta(seconds=300)
    assert ThresholdMix.start(PARAMS, T0).forecast(T0).next_release is None


@given(
    received=st.integers(0, 10),
    rate=st.floats(0, 10, allow_nan=False),
    elapsed=st.integers(0, 3600),
)
def test_a_forecast_release_is_due_when_it_comes(received: int, rate: float, elapsed: int) -> None:
    now = T0 + timedelta(seconds=elapsed)
    due = next_release(PARAMS, received, T0, rate, now)
    if due is None:
        return
    assert due >= now
    arrived = received + round(rate * (due - now).total_seconds())
    mix: ThresholdMix[str] = ThresholdMix(PARAMS, MixState(min(arrived, 10**6), T0, ()))
    assert mix.due(due)
