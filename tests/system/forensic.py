"""The forensic adversary's tools: snapshots of a client's folder and traces of every file
a process changes, and the comparison of a used device with an unused one.

What an examiner who seizes a device (once, or several times) can see, and what this
compares between a client a person used and one nobody used:

- **Snapshots** of each folder, taken as often as the test likes, read without moving
  access times (``O_NOATIME``): file names, sizes, modes, the three times, the bytes.
- **Traces** (``strace -f``) of every system call that changes the file system, by the
  run loops and by every command the person ran, with their times.

:func:`problems` lists every difference an examiner could use: a file the person's
commands changed (or any path outside the folder), a write of the run loop off its
schedule or a second write in one slot, a file set, size or mode that differs between
the two folders, a vault read since it was last written (its access time past its
modification time), a vault whose bytes are not uniform or share a point with the
previous one. An empty list is the promise kept.
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

# System calls that change the file system (an ``openat`` only with a writing flag).
CHANGING = (
    "openat,creat,rename,renameat,renameat2,unlink,unlinkat,mkdir,mkdirat,rmdir,link,"
    "linkat,symlink,symlinkat,chmod,fchmodat,truncate,utimensat,bind"
)
WRITING_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND")
# Not files: the terminal, the null device, pipes and the process's own descriptors.
IGNORED = re.compile(r"^(/dev/(tty|null|pts/\d+)|pipe:|socket:|anon_inode:)")
_LINE = re.compile(
    r"^(?P<pid>\d+)\s+(?P<time>\d+\.\d+)\s+(?P<call>\w+)\((?P<args>.*)\)\s+=\s+(?P<result>-?\d+)"
)
_PATH = re.compile(r'"((?:[^"\\]|\\.)*)"')
_PROC_FD = re.compile(r"^/proc/self/fd/\d+/")
# A 32-byte point of the vault's blocks (see quietline.protocol.reencryption).
POINT = 32
HEADER = 24


def strace_prefix(output: Path) -> list[str]:
    """The command prefix that traces every change to the file system into ``output``."""
    strace = shutil.which("strace")
    if strace is None:
        raise FileNotFoundError("strace is not installed")
    return [
        strace,
        "-f",
        "-qq",
        "-ttt",
        "--seccomp-bpf",
        "-e",
        f"trace={CHANGING}",
        "-o",
        str(output),
    ]


@dataclass(frozen=True)
class Change:
    """One successful system call that changed the file system."""

    at: float  # Unix time
    call: str
    paths: tuple[str, ...]


def changes(trace: str) -> list[Change]:
    """The successful changing calls of an strace ``-ttt`` output (reads left out)."""
    found = []
    for line in trace.splitlines():
        match = _LINE.match(line)
        if match is None or match["result"].startswith("-"):
            continue
        call, args = match["call"], match["args"]
        if call == "openat" and not any(flag in args for flag in WRITING_FLAGS):
            continue
        if call == "bind" and "AF_UNIX" not in args:
            continue
        paths = tuple(p for p in _PATH.findall(args) if not IGNORED.match(p))
        if paths:
            found.append(Change(float(match["time"]), call, paths))
    return found


def relative(path: str, folder: Path) -> str | None:
    """``path`` inside ``folder`` as the folder's own name for it (temporary files as
    ``.NAME.*``; the folder and the folders above it, made when it is set up, as ``.``),
    or None when it is outside."""
    path = _PROC_FD.sub(f"{folder}/", path)
    if path in {str(folder), *map(str, folder.parents)}:
        return "."
    if not path.startswith(f"{folder}/"):
        return None
    name = path.removeprefix(f"{folder}/")
    temporary = re.match(r"^\.(.+)\.[^.]+$", name)
    return f".{temporary[1]}.*" if temporary else name


@dataclass(frozen=True)
class FileState:
    name: str
    size: int
    mode: int
    mtime: float
    atime: float
    digest: bytes  # the whole content for the vault, else empty


@dataclass
class Snapshot:
    at: float
    files: dict[str, FileState]


def snapshot(folder: Path, at: float) -> Snapshot:
    """The folder as an examiner sees it, read without moving any access time."""
    files = {}
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        status = entry.stat(follow_symlinks=False)
        content = b""
        if entry.name == "vault":
            try:
                descriptor = os.open(entry.path, os.O_RDONLY | os.O_NOATIME)
            except FileNotFoundError:
                continue  # replaced between the listing and the read
            with os.fdopen(descriptor, "rb") as file:
                content = file.read()
        files[entry.name] = FileState(
            entry.name,
            status.st_size,
            stat.S_IMODE(status.st_mode) | stat.S_IFMT(status.st_mode),
            status.st_mtime_ns / 1e9,
            status.st_atime_ns / 1e9,
            content,
        )
    return Snapshot(at, files)


@dataclass
class ClientRecord:
    """Everything gathered about one client: its folder, schedule, run-loop trace, the
    traces of the person's commands and the snapshots."""

    name: str
    folder: Path
    send_period: float
    send_phase: float  # a fraction of the period
    download_period: float
    download_phase: float
    run_trace: list[Change] = field(default_factory=list)
    command_traces: list[list[Change]] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)

    def writes_of(self, name: str, after_start: float = 0.0) -> list[float]:
        """When the run loop replaced the file ``name`` (the rename onto it), leaving out
        the first ``after_start`` seconds of the run (setting up, the first download)."""
        begun = self.run_trace[0].at if self.run_trace else 0.0
        return [
            change.at
            for change in self.run_trace
            if change.call.startswith("rename")
            and relative(change.paths[-1], self.folder) == name
            and change.at >= begun + after_start
        ]


def off_schedule(
    times: Iterable[float],
    period: float,
    phase: float,
    tolerance: float,
) -> list[str]:
    """Writes that do not follow the grid ``k x period + phase x period`` (later than
    ``tolerance`` after a slot), and slots with more than one write."""
    problems = []
    per_slot: collections.Counter[int] = collections.Counter()
    for at in times:
        shifted = at - phase * period
        slot, offset = divmod(shifted, period)
        per_slot[int(slot)] += 1
        if offset > tolerance:
            problems.append(f"a write {offset:.2f} s after its slot (at {at:.3f})")
    problems += [f"{count} writes in one slot" for count in per_slot.values() if count > 1]
    return problems


def uniformity(body: bytes) -> float:
    """The chi-square statistic of the byte frequencies of ``body`` (255 degrees of
    freedom: about 255 for uniform bytes, 375 is past the 1 - 1e-6 quantile)."""
    counts = collections.Counter(body)
    expected = len(body) / 256
    return sum((counts.get(b, 0) - expected) ** 2 / expected for b in range(256))


def _points(raw: bytes) -> set[bytes]:
    return {raw[i : i + POINT] for i in range(HEADER, len(raw), POINT)}


def vault_problems(record: ClientRecord, startup: float) -> list[str]:
    """Each vault seen: uniform bytes, one header throughout, nothing shared with the
    one before; never read since it was written (except the one the run loop read when
    it started, until its first rewrite)."""
    problems = []
    previous: bytes | None = None
    begun = record.run_trace[0].at if record.run_trace else 0.0
    for seen in record.snapshots:
        vault = seen.files.get("vault")
        if vault is None:
            continue
        if vault.atime > vault.mtime + 0.001 and vault.mtime > begun + startup:
            problems.append(f"{record.name}: the vault was read after it was written")
        if vault.digest == previous or previous is None:
            previous = vault.digest
            continue
        if vault.digest[:HEADER] != previous[:HEADER]:
            problems.append(f"{record.name}: the vault's header changed")
        if _points(vault.digest) & _points(previous):
            problems.append(f"{record.name}: a rewrite kept a point of the vault before it")
        if uniformity(vault.digest[HEADER:]) > 375:
            problems.append(f"{record.name}: the vault's bytes are not uniform")
        previous = vault.digest
    return problems


def _shape(seen: Snapshot) -> set[tuple[str, int, int]]:
    """What of a folder must be the same on every device: the files and their modes, and
    the vault's size. A file being replaced shows for a moment as ``.NAME.*``, on each
    client's own schedule, and is left out; the cache's size follows the public dead
    drops it downloaded and when (its contents are compared apart)."""
    return {
        (f.name, f.size if f.name == "vault" else 0, f.mode)
        for f in seen.files.values()
        if not f.name.startswith(".")
    }


def problems(
    used: ClientRecord, unused: ClientRecord, tolerance: float, startup: float
) -> list[str]:
    """Every difference an examiner could use between a used and an unused client (whose
    run loops' first ``startup`` seconds, setting up and the first download, are not
    held to the schedule)."""
    found = []
    for number, trace in enumerate(used.command_traces):
        for change in trace:
            found.append(f"the person's command {number} changed {change.paths} ({change.call})")
    for record in (used, unused):
        outside = sorted(
            {p for c in record.run_trace for p in c.paths if relative(p, record.folder) is None}
        )
        if outside:
            found.append(f"{record.name}'s run loop changed paths outside its folder: {outside}")
        found += [
            f"{record.name} vault: {problem}"
            for problem in off_schedule(
                record.writes_of("vault", startup), record.send_period, record.send_phase, tolerance
            )
        ]
        found += [
            f"{record.name} cache: {problem}"
            for problem in off_schedule(
                record.writes_of("cache.json", startup),
                record.download_period,
                record.download_phase,
                tolerance,
            )
        ]
        found += vault_problems(record, startup)
    for mine, theirs in zip(used.snapshots, unused.snapshots, strict=False):
        shape, other = _shape(mine), _shape(theirs)
        if shape != other:
            found.append(f"the folders differ at {mine.at:.1f}: {sorted(shape ^ other)}")
    writes = [len(r.writes_of("vault", startup)) for r in (used, unused)]
    if abs(writes[0] - writes[1]) > 2:
        found.append(f"the vaults were rewritten {writes[0]} and {writes[1]} times")
    return found
