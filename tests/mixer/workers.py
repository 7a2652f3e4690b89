"""The mixer's opening workers, seen from outside as an operator or the kernel sees them.

Killing goes by process id and never reaps: the mixer's own thread must find out for
itself how a worker ended, as it does in production. (Joining a worker here, from
another thread, would race the mixer for its exit status.)
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def worker_pids() -> list[int]:
    """The opening workers this process started (children running ``spawn``)."""
    me = os.getpid()
    children = Path(f"/proc/{me}/task/{me}/children").read_text().split()
    return [int(pid) for pid in children if _is_worker(int(pid))]


def kill_a_worker() -> int:
    """SIGKILL one worker and wait until it has died (without reaping it); its pid."""
    victim = worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    while _state(victim) not in ("Z", None):
        time.sleep(0.005)
    return victim


def _is_worker(pid: int) -> bool:
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]
