"""The source client: a library a host application embeds to let its users reach the
organisation unobservably. See :class:`SourceClient`; ``quietline source`` is its CLI.

Modules: the files it keeps (``storage``), when it sends and downloads (``schedule``),
what its vault holds (``records``), what the user does (``mailbox``) and the client
(``client``), whose ``tick`` a host app runs with ``quietline.runner.run_steps``.

What a device shows, used or not (DESIGN promise 5):

- ``queue`` (6,312 bytes) is rewritten on every send tick, and only then by the run
  loop, because each send refills the tail with fresh cover; ``send`` also rewrites it
  when it queues a real message, a trace the next send tick overwrites.
- ``vault`` (64 KiB) is random from install and rewritten only by ``send`` and
  ``inbox`` (``inbox`` always rewrites it), so its modification time shows when someone
  last unlocked it, not whether they wrote; the run loop never touches it.
- ``cache.json`` holds public data only and is rewritten on every download tick.

A real message is encrypted for the CoverNode keys of the moment it is queued; it goes
out within ``8 x period``, far inside a CoverNode messaging key's two weeks, unless the
host app does not run at all in between.
"""

from quietline.client.client import ClientCounters, SourceClient, SourceEdge, TickOutcome
from quietline.client.errors import (
    NoVerifiedKeys,
    QueueFull,
    SourceClientError,
    TextTooLong,
    WrongPassphrase,
)
from quietline.client.records import Reply
from quietline.client.schedule import FixedRate, Memoryless, Schedule, Timetable, schedule_named
from quietline.client.storage import SourceStorage, StorageError
from quietline.protocol.errors import UnknownRecipient

__all__ = [
    "ClientCounters",
    "FixedRate",
    "Memoryless",
    "NoVerifiedKeys",
    "QueueFull",
    "Reply",
    "Schedule",
    "SourceClient",
    "SourceClientError",
    "SourceEdge",
    "SourceStorage",
    "StorageError",
    "TextTooLong",
    "TickOutcome",
    "Timetable",
    "UnknownRecipient",
    "WrongPassphrase",
    "schedule_named",
]
