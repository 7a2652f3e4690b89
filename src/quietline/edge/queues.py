"""The edge's two submission queues (U2C and J2C), whichever engine holds them.

A queue is named by one URL (``[edge] queue`` in quietline.toml): ``sqlite:PATH`` keeps
them in a SQLite file (by default the edge's own database; quietline.edge.sqlite_queues)
and ``nats://HOST:PORT`` in NATS JetStream (quietline.edge.jetstream). Both keep the
protocol the mixer relies on for exactly-once: every submission gets a sequence number
that only grows and is never reused; ``pull`` returns entries after a cursor and forgets
those up to the mixer's acknowledgement, so only unacknowledged submissions are held and
count towards the bound.
"""

from __future__ import annotations

from typing import Protocol

from quietline.protocol.api import QUEUE_BEHIND, Direction
from quietline.protocol.errors import QuietlineError

DEFAULT_MAX_QUEUED = {Direction.USER: 1_000_000, Direction.JOURNALIST: 10_000}
SQLITE_SCHEME = "sqlite:"
NATS_SCHEMES = ("nats://", "tls://")


class QueueFull(QuietlineError):
    """A submission queue holds its maximum of unacknowledged submissions (the mixer is
    behind or away); the sender keeps its message and tries again later."""

    default_status = 503
    retry_after_seconds = 60


class QueueUnavailable(QuietlineError):
    """The queue could not take or give submissions now (its database is locked, its
    server away or restarting); nothing was stored or forgotten, try again."""

    default_status = 503
    retry_after_seconds = 1


class QueueBehind(QuietlineError):
    """A pull names a sequence number the queue never gave: the queue is newer than the
    mixer's cursor (its database or stream was replaced, or restored from an older copy).
    Nothing was forgotten; acknowledging up to that cursor would delete, unread, whatever
    came in since."""

    default_status = QUEUE_BEHIND


def check_cursor(direction: Direction, after: int, ack_through: int, highest: int) -> None:
    """Raise QueueBehind when ``after`` or ``ack_through`` is past ``highest``, the last
    sequence number the queue of ``direction`` ever gave."""
    if max(after, ack_through) > highest:
        raise QueueBehind(
            f"the {direction.value} queue's last sequence number is {highest}, "
            f"behind the cursor {max(after, ack_through)}"
        )


class SubmissionQueues(Protocol):
    """Both submission queues of an edge. Every method may be awaited concurrently from
    the edge's event loop; none blocks it."""

    async def enqueue(self, direction: Direction, data: bytes) -> int:
        """Append a submission once it is durable (docs/deploy.md says what that means
        for each engine) and return its sequence number. Raises QueueFull when the queue
        already holds its maximum, QueueUnavailable when it cannot be stored now."""
        ...

    async def pull(
        self, direction: Direction, after: int, limit: int, ack_through: int
    ) -> list[tuple[int, bytes]]:
        """Forget every entry up to ``ack_through``, then return up to ``limit`` entries
        after ``after`` in sequence order. Raises QueueUnavailable, and QueueBehind
        (forgetting nothing) when either number is past the last the queue ever gave."""
        ...

    async def queue_length(self, direction: Direction) -> int:
        """How many unacknowledged submissions the queue holds. Raises QueueUnavailable."""
        ...

    async def close(self) -> None:
        """Wait for what is in flight, then let go of files and connections."""
        ...
