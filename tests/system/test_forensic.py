"""The forensic adversary test: a device a person used must look like one nobody used.

Two real ``quietline source run`` clients, each under ``strace``, against the real edge,
mixer and desk: a person uses client 0 (the first message, which shows the new
passphrase, a second message, two reads of the inbox, each command under ``strace``
too); nobody uses client 1. Both run at the default vault size and key derivation cost,
with a two-second send period. Every quarter of a second both folders are snapshotted
as an examiner would (names, sizes, modes, times, the vault's bytes, read without moving
its access time). ``tests/system/forensic.py`` then lists every difference an examiner
could use (see :func:`~tests.system.forensic.problems`); the test fails on any. A second
test feeds the same comparison a leak of each kind, so a check that stopped looking
would fail too.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from quietline.client import SourceStorage, vault
from quietline.client.records import SourceRecords
from quietline.vault import MODERATE
from tests.support.deployment import deploy, wait_for
from tests.support.required import missing
from tests.system.forensic import (
    Change,
    ClientRecord,
    FileState,
    Snapshot,
    changes,
    problems,
    snapshot,
    strace_prefix,
)

pytestmark = [pytest.mark.slow, pytest.mark.adversary]

PERIOD = 4.0
DOWNLOAD_PERIOD = 8.0
# A write belongs to a slot when it comes within this of it: the loop's grace (a
# quarter of the period) and a download that runs first, on a loaded machine. A write
# off the schedule lands outside it, or makes two writes in one slot: either is found.
TOLERANCE = 1.5
# Setting up and the first download come when the client starts, off any grid.
STARTUP = 4.0
# The person's actions, seconds after both clients have their keys.
ACTIONS = ((6.0, "first"), (19.0, "send"), (29.0, "inbox"), (37.0, "inbox"))
OBSERVED_S = 48.0
SNAPSHOT_EVERY_S = 0.25


def _require_strace() -> None:
    if shutil.which("strace") is None:
        missing(
            "strace is not installed here (apt install strace)",
            "strace is not installed, and CI must run the forensic test",
        )


def _record(name: str, folder: Path) -> ClientRecord:
    phases = json.loads((folder / "cache.json").read_text())["phases"]
    return ClientRecord(
        name, folder, PERIOD, float(phases["send"]), DOWNLOAD_PERIOD, float(phases["download"])
    )


def test_a_used_device_looks_like_an_unused_one(tmp_path: Path) -> None:
    _require_strace()
    traces = tmp_path / "traces"
    traces.mkdir()
    options = ("--period", f"{PERIOD:g}", "--download-period", f"{DOWNLOAD_PERIOD:g}")
    with deploy(tmp_path / "deployment", 2, source_options=options) as deployment:
        for n in (0, 1):
            deployment.source_prefix[n] = strace_prefix(traces / f"run-{n}.txt")
        for n in (0, 1):
            deployment.start(f"source-{n}")
        folders = [deployment.vaults[n] for n in (0, 1)]
        wait_for(
            "both clients to have their keys",
            lambda: (
                all(SourceStorage(f).is_installed() for f in folders)
                and all(SourceStorage(f).read_cache().published for f in folders)
            ),
            deployment,
        )
        records = [_record(f"client {n}", folders[n]) for n in (0, 1)]
        stop = threading.Event()

        def examine() -> None:
            while not stop.wait(SNAPSHOT_EVERY_S):
                now = time.time()
                for record in records:
                    record.snapshots.append(snapshot(record.folder, now))

        examiner = threading.Thread(target=examine, daemon=True)
        examiner.start()
        begun = time.monotonic()
        done = []
        for number, (at, action) in enumerate(ACTIONS):
            time.sleep(max(0.0, begun + at - time.monotonic()))
            prefix = strace_prefix(traces / f"command-{number}.txt")
            if action == "inbox":
                done.append(deployment.inbox(0, prefix=prefix) is not None)
            else:
                done.append(deployment.write(0, f"sentinel {number}", prefix=prefix))
        time.sleep(max(0.0, begun + OBSERVED_S - time.monotonic()))
        stop.set()
        examiner.join()
        for n in (0, 1):
            service = deployment.running[f"source-{n}"]
            os.killpg(service.process.pid, 15)  # the tracer and the client under it
            service.process.wait(30)
    assert done == [True] * len(ACTIONS), deployment.logs()

    used, unused = records
    for n, record in enumerate(records):
        record.run_trace = changes((traces / f"run-{n}.txt").read_text())
    used.command_traces = [
        changes((traces / f"command-{number}.txt").read_text()) for number in range(len(ACTIONS))
    ]
    found = problems(used, unused, TOLERANCE, STARTUP)
    assert found == [], "\n".join(found)
    assert len(used.writes_of("vault", STARTUP)) > OBSERVED_S / PERIOD - 3
    assert len(used.snapshots) > OBSERVED_S / SNAPSHOT_EVERY_S / 2

    # The caches hold public data only: the same fields, keys and anchors.
    caches = [SourceStorage(folder).read_cache().to_json() for folder in folders]
    assert caches[0].keys() == caches[1].keys()
    for name in ("anchors", "published_keys"):
        assert caches[0][name] == caches[1][name]
    # The vault opens with the passphrase the person was shown, and with nothing else; it
    # records both messages; its key derivation is the documented one.
    passphrase = deployment.passphrases[0]
    for folder in folders:
        raw = SourceStorage(folder).read_vault()
        assert len(raw) == 65_560
        assert vault.header(raw)[1] == MODERATE
    raw = SourceStorage(folders[0]).read_vault()
    records_kept = SourceRecords.parse(
        vault.open_vault(vault.VaultKey.derive(passphrase, raw), raw)
    )
    assert [m.text.text() for m in records_kept.sent] == ["sentinel 0", "sentinel 1"]
    other = SourceStorage(folders[1]).read_vault()
    with pytest.raises(vault.VaultLocked):
        vault.open_vault(vault.VaultKey.derive(passphrase, other), other)


def _clean(folder: Path) -> ClientRecord:
    """A client that wrote its vault at every slot and its cache at every download."""
    record = ClientRecord("client", folder, 2.0, 0.25, 4.0, 0.5)
    record.run_trace.append(Change(990.0, "mkdir", (str(folder),)))
    for k in range(500, 520):
        at = k * 2.0 + 0.5 + 0.05
        record.run_trace.append(Change(at, "renameat2", (f"{folder}/.vault.x1", f"{folder}/vault")))
        if k % 2 == 0:
            cache_at = (k // 2) * 4.0 + 2.0 + 0.1
            record.run_trace.append(
                Change(cache_at, "renameat2", (f"{folder}/.cache.json.y", f"{folder}/cache.json"))
            )
    files = {"vault": FileState("vault", 65_560, 0o100600, 1001.0, 1001.0, b"")}
    record.snapshots = [Snapshot(1001.5, dict(files))]
    return record


def test_the_comparison_finds_each_kind_of_leak(tmp_path: Path) -> None:
    folder = tmp_path / "a"
    assert problems(_clean(folder), _clean(tmp_path / "b"), 0.9, 4.0) == []

    written_by_send = _clean(folder)
    written_by_send.command_traces = [[Change(1.0, "openat", (f"{folder}/vault",))]]
    assert any(
        "command 0 changed" in p for p in problems(written_by_send, _clean(folder), 0.9, 4.0)
    )

    off_grid = _clean(folder)
    off_grid.run_trace.append(Change(1017.6, "renameat2", (f"{folder}/.v", f"{folder}/vault")))
    assert any("after its slot" in p for p in problems(off_grid, _clean(folder), 0.9, 4.0))

    twice = _clean(folder)
    twice.run_trace.append(Change(1016.6, "renameat2", (f"{folder}/.v", f"{folder}/vault")))
    assert any("2 writes in one slot" in p for p in problems(twice, _clean(folder), 0.9, 4.0))

    outside = _clean(folder)
    outside.run_trace.append(Change(1.0, "openat", ("/home/someone/.quietline-log",)))
    assert any("outside its folder" in p for p in problems(outside, _clean(folder), 0.9, 4.0))

    read = _clean(folder)
    state = read.snapshots[0].files["vault"]
    read.snapshots[0].files["vault"] = FileState(
        "vault", state.size, state.mode, 1001.0, 1005.0, b""
    )
    assert any("read after it was written" in p for p in problems(read, _clean(folder), 0.9, 4.0))

    bigger = _clean(folder)
    bigger.snapshots[0].files["queue"] = FileState("queue", 6312, 0o100600, 1001.0, 1001.0, b"")
    assert any("folders differ" in p for p in problems(bigger, _clean(folder), 0.9, 4.0))

    same = bytes(24) + os.urandom(64 * 32)
    kept = _clean(folder)
    kept.snapshots = [
        Snapshot(t, {"vault": FileState("vault", len(same), 0o100600, t, t, content)})
        for t, content in ((1001.0, same), (1002.0, same[:-32] + bytes(32)))
    ]
    assert any("kept a point" in p for p in problems(kept, _clean(folder), 0.9, 4.0))
