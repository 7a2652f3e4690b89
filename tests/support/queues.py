"""The edge's submission queues with blocking calls, for tests that look into them from
outside the event loop the edge serves on."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from quietline.edge.queues import DEFAULT_MAX_QUEUED, SubmissionQueues
from quietline.edge.sqlite_queues import SqliteQueues
from quietline.edge.store import EdgeStore
from quietline.protocol.api import Direction

T = TypeVar("T")


class Queues:
    """``engine`` (the object an edge app may be given) with blocking calls, each run on
    an event loop of this object's own (JetStream's connection belongs to one loop)."""

    def __init__(self, engine: SubmissionQueues) -> None:
        self.engine = engine
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def _run(self, call: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(call, self._loop).result()

    def enqueue(self, direction: Direction, data: bytes) -> int:
        return self._run(self.engine.enqueue(direction, data))

    def pull(
        self, direction: Direction, after: int, limit: int, ack_through: int
    ) -> list[tuple[int, bytes]]:
        return self._run(self.engine.pull(direction, after, limit, ack_through))

    def queue_length(self, direction: Direction) -> int:
        return self._run(self.engine.queue_length(direction))

    def close(self) -> None:
        self._run(self.engine.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


def sqlite_queues(path: Path, max_queued: Mapping[Direction, int] = DEFAULT_MAX_QUEUED) -> Queues:
    """The queues in the SQLite file at ``path`` (an edge's database, usually)."""
    return Queues(SqliteQueues(path, max_queued))


@contextmanager
def queues_beside(
    store: EdgeStore, max_queued: Mapping[Direction, int] = DEFAULT_MAX_QUEUED
) -> Iterator[Queues]:
    """The queues in ``store``'s own database (the edge's default), closed on exit."""
    queues = sqlite_queues(store.path, max_queued)
    try:
        yield queues
    finally:
        queues.close()
