"""The client's folder: a vault and a cache of fixed shape on install, 0600, atomic."""

import json
import stat
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quietline.client import vault
from quietline.client.storage import PHASE_STEPS, Cache, SourceStorage, StorageError
from quietline.vault import INTERACTIVE, MODERATE
from tests.client.replies import user_dead_drop
from tests.protocol.strategies import (
    published_keys,
    sequence_numbers,
    signed_keys,
    user_dead_drops,
)
from tests.support.organisation import Organisation

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
BLOCKS = 16


def _storage(folder: Path) -> SourceStorage:
    return SourceStorage(folder, vault_blocks=BLOCKS)


def test_install_writes_fixed_size_private_files(tmp_path: Path) -> None:
    storage = _storage(tmp_path / "client")
    storage.install(INTERACTIVE)
    assert stat.S_IMODE(storage.folder.stat().st_mode) == 0o700
    assert storage.vault_path.stat().st_size == vault.size(BLOCKS) == 24 + BLOCKS * 128
    for path in (storage.vault_path, storage.cache_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert sorted(p.name for p in storage.folder.iterdir()) == ["cache.json", "vault"]
    # The default vault: 65,560 bytes at libsodium's moderate Argon2id cost.
    default = SourceStorage(tmp_path / "default")
    default.install()
    raw = default.read_vault()
    assert len(raw) == 65_560
    assert vault.header(raw)[1] == MODERATE


def test_fresh_vaults_differ_and_do_not_compress(tmp_path: Path) -> None:
    first, second = _storage(tmp_path / "a"), _storage(tmp_path / "b")
    first.install(INTERACTIVE)
    second.install(INTERACTIVE)
    raw_a, raw_b = first.read_vault(), second.read_vault()
    assert len(raw_a) == len(raw_b)
    assert raw_a[vault.HEADER_LEN :] != raw_b[vault.HEADER_LEN :]
    # Nothing structured to see: the blocks do not compress.
    body = raw_a[vault.HEADER_LEN :]
    assert len(zlib.compress(body, 9)) > 0.99 * len(body)


def test_install_keeps_existing_files(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    storage.install(INTERACTIVE)
    before = {p: p.read_bytes() for p in (storage.vault_path, storage.cache_path)}
    storage.install(INTERACTIVE)
    assert {p: p.read_bytes() for p in before} == before


def test_each_install_draws_its_schedule_phases_once_and_keeps_them(tmp_path: Path) -> None:
    installs = [_storage(tmp_path / str(n)) for n in range(20)]
    phases: list[float] = []
    for storage in installs:
        assert storage.schedule_phase("send") == 0.0  # nothing installed yet
        storage.install(INTERACTIVE)
        drawn = (storage.schedule_phase("send"), storage.schedule_phase("download"))
        assert all(0.0 <= phase < 1.0 for phase in drawn)
        storage.install(INTERACTIVE)  # a restart keeps them
        assert (storage.schedule_phase("send"), storage.schedule_phase("download")) == drawn
        phases.extend(drawn)
    assert len(set(phases)) == len(phases)
    # A cache from before the phases (and with the dead drop cursor earlier versions kept)
    # gets them at the next start, and keeps the rest.
    storage = installs[0]
    document = json.loads(storage.cache_path.read_text())
    document.update(phases={}, last_dead_drop_id=7, catching_up=False)
    document["anchors"] = [Organisation.create(NOW).anchor.to_json()]
    storage.cache_path.write_text(json.dumps(document))
    storage.install(INTERACTIVE)
    assert 0.0 <= storage.schedule_phase("download") < 1.0
    assert len(storage.read_cache().anchors) == 1


def test_a_phase_out_of_range_is_damage(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    storage.install(INTERACTIVE)
    document = json.loads(storage.cache_path.read_text())
    for wrong in ("1.5", 0.5, "nan", "-0.1", None):
        document["phases"]["send"] = wrong
        storage.cache_path.write_text(json.dumps(document))
        with pytest.raises(StorageError, match="phase"):
            storage.read_cache()


def test_the_cache_is_the_same_size_on_every_installation(tmp_path: Path) -> None:
    sizes = set()
    for n in range(20):
        storage = _storage(tmp_path / str(n))
        storage.install(INTERACTIVE)
        sizes.add(storage.cache_path.stat().st_size)
    assert len(sizes) == 1


def test_cache_round_trips_keys_and_dead_drops(tmp_path: Path) -> None:
    org = Organisation.create(NOW)
    storage = _storage(tmp_path)
    storage.install(INTERACTIVE)
    drop = user_dead_drop(org, [], NOW).published(3)
    storage.write_cache(Cache([org.anchor], org.published_keys(), [drop]))
    cache = storage.read_cache()
    assert cache.anchors == [org.anchor]
    assert cache.published == org.published_keys()
    assert cache.dead_drops == [drop]
    cache.forget_dead_drops_before(NOW + timedelta(seconds=1))
    assert cache.dead_drops == []


def test_damaged_files_are_named(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    storage.install(INTERACTIVE)
    good = storage.vault_path.read_bytes()
    for damaged in (b"short", good + b"x", good[:16] + b"\xff" * 8 + good[24:]):
        storage.vault_path.write_bytes(damaged)
        with pytest.raises(StorageError, match="damaged"):
            storage.read_vault()
    storage.cache_path.write_text("{not json")
    with pytest.raises(StorageError, match="damaged"):
        storage.read_cache()
    storage.cache_path.write_text('{"anchors": 3}')
    with pytest.raises(StorageError, match="damaged"):
        storage.read_cache()


caches = st.builds(
    Cache,
    st.lists(signed_keys, max_size=2),
    st.none() | published_keys,
    st.lists(
        st.tuples(sequence_numbers, user_dead_drops).map(lambda pair: pair[1].published(pair[0])),
        max_size=2,
    ),
    st.fixed_dictionaries(
        {},
        optional={
            name: st.integers(0, PHASE_STEPS - 1).map(lambda n: n / PHASE_STEPS)
            for name in ("send", "download")
        },
    ),
)


@settings(max_examples=30)
@given(caches)
def test_any_cache_round_trips_through_json(cache: Cache) -> None:
    assert Cache.from_json(json.loads(json.dumps(cache.to_json()))) == cache
