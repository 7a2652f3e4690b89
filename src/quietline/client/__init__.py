"""The source client: a library a host application embeds to let its users reach the
organisation unobservably. See :class:`SourceClient`; ``quietline source`` is its CLI.

Modules: the files it keeps (``storage``), its vault (``vault``, over
``quietline.protocol.reencryption``), its generated passphrases (``passphrase``), when it
sends and downloads (``schedule``), what its vault holds (``records``), what a person
does (``mailbox``), how that reaches the run loop (``handoff`` in memory, ``ipc`` over
the run loop's socket) and the client (``client``), whose ``tick`` a host app runs with
``quietline.runner.run_steps``.

What a device shows, used or not (DESIGN promise 5): only the run loop writes, on its
schedule. At every send it rewrites ``vault`` (65,560 bytes) with new bytes, re-randomised
or as a person handed it over since the last send; at every download, ``cache.json``
(public data). What a person does never opens a file in the folder.
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
