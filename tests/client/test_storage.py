"""The client's folder: fixed-size random files on install, 0600, atomic, locked."""

import fcntl
import json
import stat
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quietline.client.storage import (
    QUEUE_FILE_SIZE,
    VAULT_SIZE,
    Cache,
    SourceStorage,
    StorageError,
)
from quietline.vault import INTERACTIVE
from tests.client.replies import user_dead_drop
from tests.protocol.strategies import (
    published_keys,
    sequence_numbers,
    signed_keys,
    user_dead_drops,
)
from tests.support.organisation import Organisation

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _storage(folder: Path) -> SourceStorage:
    return SourceStorage(folder, kdf_cost=INTERACTIVE)


def test_install_writes_fixed_size_private_files(tmp_path: Path) -> None:
    storage = _storage(tmp_path / "client")
    storage.install()
    assert stat.S_IMODE(storage.folder.stat().st_mode) == 0o700
    assert storage.queue_path.stat().st_size == QUEUE_FILE_SIZE == 8 * (16 + 773)
    assert storage.vault.path.stat().st_size == VAULT_SIZE
    files = (storage.queue_path, storage.vault.path, storage.cache_path)
    for path in (*files, storage.lock_path, storage.vault_lock_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_fresh_files_are_random(tmp_path: Path) -> None:
    first, second = _storage(tmp_path / "a"), _storage(tmp_path / "b")
    first.install()
    second.install()
    for a, b in ((first.queue_path, second.queue_path), (first.vault.path, second.vault.path)):
        raw_a, raw_b = a.read_bytes(), b.read_bytes()
        assert len(raw_a) == len(raw_b)
        assert raw_a != raw_b
        # Random bytes do not compress: nothing structured is there to see.
        assert len(zlib.compress(raw_a, 9)) > 0.99 * len(raw_a)


def test_install_keeps_existing_files(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    storage.install()
    before = {p: p.read_bytes() for p in (storage.queue_path, storage.vault.path)}
    storage.install()
    assert {p: p.read_bytes() for p in before} == before


def test_each_install_draws_its_schedule_phases_once_and_keeps_them(tmp_path: Path) -> None:
    installs = [_storage(tmp_path / str(n)) for n in range(20)]
    phases: list[float] = []
    for storage in installs:
        assert storage.schedule_phase("send") == 0.0  # nothing installed yet
        storage.install()
        drawn = (storage.schedule_phase("send"), storage.schedule_phase("download"))
        assert all(0.0 <= phase < 1.0 for phase in drawn)
        storage.install()  # a restart keeps them
        assert (storage.schedule_phase("send"), storage.schedule_phase("download")) == drawn
        phases.extend(drawn)
    assert len(set(phases)) == len(phases)
    # A cache from before the phases gets them at the next start, and keeps the rest.
    storage = installs[0]
    cache = storage.read_cache()
    cache.phases, cache.last_dead_drop_id = {}, 7
    storage.write_cache(cache)
    storage.install()
    assert 0.0 <= storage.schedule_phase("download") < 1.0
    assert storage.read_cache().last_dead_drop_id == 7


def test_a_phase_out_of_range_is_damage(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    storage.install()
    document = json.loads(storage.cache_path.read_text())
    document["phases"]["send"] = 1.5
    storage.cache_path.write_text(json.dumps(document))
    with pytest.raises(StorageError, match="phase"):
        storage.read_cache()


def test_cache_round_trips_keys_and_dead_drops(tmp_path: Path) -> None:
    org = Organisation.create(NOW)
    storage = _storage(tmp_path)
    storage.install()
    drop = user_dead_drop(org, [], NOW).published(3)
    storage.write_cache(Cache([org.anchor], org.published_keys(), [drop], 3))
    cache = storage.read_cache()
    assert cache.anchors == [org.anchor]
    assert cache.published == org.published_keys()
    assert cache.dead_drops == [drop]
    assert cache.last_dead_drop_id == 3
    cache.forget_dead_drops_before(NOW + timedelta(seconds=1))
    assert cache.dead_drops == []


def test_damaged_files_are_named(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    with pytest.raises(StorageError, match="no source client"):
        storage.require_installed()
    storage.install()
    storage.queue_path.write_bytes(b"short")
    with pytest.raises(StorageError, match="damaged"):
        storage.read_queue()
    storage.cache_path.write_text("{not json")
    with pytest.raises(StorageError, match="damaged"):
        storage.read_cache()
    storage.cache_path.write_text('{"anchors": 3}')
    with pytest.raises(StorageError, match="damaged"):
        storage.read_cache()


def test_the_lock_excludes_other_holders(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    storage.install()
    with (
        storage.locked(),
        storage.lock_path.open("a+b") as other,
        pytest.raises(BlockingIOError),
    ):
        fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    with storage.lock_path.open("a+b") as other:
        fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(other.fileno(), fcntl.LOCK_UN)


def test_the_vault_lock_is_apart_from_the_run_loops_lock(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    storage.install()
    with storage.vault_locked():
        with storage.lock_path.open("a+b") as other:  # the run loop's lock stays free
            fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(other.fileno(), fcntl.LOCK_UN)
        with storage.vault_lock_path.open("a+b") as other, pytest.raises(BlockingIOError):
            fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


caches = st.builds(
    Cache,
    st.lists(signed_keys, max_size=2),
    st.none() | published_keys,
    st.lists(
        st.tuples(sequence_numbers, user_dead_drops).map(lambda pair: pair[1].published(pair[0])),
        max_size=2,
    ),
    sequence_numbers,
    st.fixed_dictionaries(
        {}, optional={name: st.floats(0, 1, exclude_max=True) for name in ("send", "download")}
    ),
    st.booleans(),
)


@settings(max_examples=30)
@given(caches)
def test_any_cache_round_trips_through_json(cache: Cache) -> None:
    assert Cache.from_json(json.loads(json.dumps(cache.to_json()))) == cache
