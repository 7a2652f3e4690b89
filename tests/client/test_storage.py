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
    for path in (storage.queue_path, storage.vault.path, storage.cache_path, storage.lock_path):
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


caches = st.builds(
    Cache,
    st.lists(signed_keys, max_size=2),
    st.none() | published_keys,
    st.lists(
        st.tuples(sequence_numbers, user_dead_drops).map(lambda pair: pair[1].published(pair[0])),
        max_size=2,
    ),
    sequence_numbers,
)


@settings(max_examples=30)
@given(caches)
def test_any_cache_round_trips_through_json(cache: Cache) -> None:
    assert Cache.from_json(json.loads(json.dumps(cache.to_json()))) == cache
