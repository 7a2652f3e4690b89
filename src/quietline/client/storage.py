"""The source client's folder: three fixed files and a lock, the same on every device.

- ``queue``: the private sending queue, ``8 x (16-byte hint ‖ 773-byte U2C)`` = 6,312
  bytes, *not* passphrase-encrypted, so cover can be sent without anyone unlocking
  anything. Only the hint key (in the vault) tells real slots from cover. A fresh
  install writes random bytes of the same size.
- ``vault``: a :class:`~quietline.vault.Vault` of fixed size; a fresh install fills it
  with random bytes, so it looks the same whether or not anyone ever wrote.
- ``cache.json``: public data only: the organisation anchors, the last published key
  set that verified, and the user dead drops downloaded (kept 14 days).
- ``lock``: an empty file locked with ``fcntl.flock`` around every read-modify-write,
  so ``run`` and ``send`` on the same folder never corrupt a file.

Every write replaces a whole file atomically with mode 0600. The queue and vault never
change size; the cache's size depends on public data only (what the edge published and
when this install started downloading), never on what its user did.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import nacl.utils

from quietline.keystore import write_private
from quietline.protocol.certificates import SignedKey
from quietline.protocol.deaddrops import DeadDrop, UserDeadDrop
from quietline.protocol.errors import ProtocolError, QuietlineError
from quietline.protocol.hierarchy import PublishedKeys
from quietline.protocol.jsonvalues import (
    I64_MAX,
    load_json,
    require_int,
    require_list,
    require_object,
)
from quietline.protocol.messages import ENCRYPTED_U2C, EncryptedU2C
from quietline.protocol.sending_queue import DEFAULT_SLOTS, HINT_LEN, SendingQueue
from quietline.vault import MODERATE, KdfCost, Vault

QUEUE_NAME = "queue"
VAULT_NAME = "vault"
CACHE_NAME = "cache.json"
LOCK_NAME = "lock"
# Held by the one run loop working on the folder for as long as it runs.
RUNNING_NAME = "running"

QUEUE_SLOTS = DEFAULT_SLOTS
QUEUE_FILE_SIZE = QUEUE_SLOTS * (HINT_LEN + ENCRYPTED_U2C.size)
VAULT_SIZE = 64 * 1024
DEAD_DROP_RETENTION = timedelta(days=14)


class StorageError(QuietlineError):
    """A file in the client's folder is missing or damaged; the message names it."""


@dataclass
class Cache:
    """The public data a client keeps between runs."""

    anchors: list[SignedKey] = field(default_factory=list)
    published: PublishedKeys | None = None
    dead_drops: list[DeadDrop[UserDeadDrop]] = field(default_factory=list)
    last_dead_drop_id: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "anchors": [anchor.to_json() for anchor in self.anchors],
            "published_keys": None if self.published is None else self.published.to_json(),
            "user_dead_drops": [dead_drop.to_json() for dead_drop in self.dead_drops],
            "last_dead_drop_id": self.last_dead_drop_id,
        }

    @classmethod
    def from_json(cls, obj: object) -> Cache:
        """Parse the cache file's JSON; raises MalformedInput on any shape error."""
        fields = require_object(obj, "the client cache")
        anchors = require_list(fields.get("anchors", []), "the cache's anchors")
        drops = require_list(fields.get("user_dead_drops", []), "the cache's dead drops")
        last = require_int(fields.get("last_dead_drop_id", 0), "the last dead drop id", 0, I64_MAX)
        published = fields.get("published_keys")
        return cls(
            [SignedKey.from_json(anchor) for anchor in anchors],
            None if published is None else PublishedKeys.from_json(published),
            [DeadDrop.from_json(UserDeadDrop, drop) for drop in drops],
            last,
        )

    def forget_dead_drops_before(self, cutoff: datetime) -> None:
        self.dead_drops = [d for d in self.dead_drops if d.body.created_at >= cutoff]


class SourceStorage:
    """The files of one source client installation in ``folder``."""

    def __init__(
        self, folder: Path, *, vault_size: int = VAULT_SIZE, kdf_cost: KdfCost = MODERATE
    ) -> None:
        self.folder = folder
        self.queue_path = folder / QUEUE_NAME
        self.cache_path = folder / CACHE_NAME
        self.lock_path = folder / LOCK_NAME
        self.running_path = folder / RUNNING_NAME
        self.vault = Vault(folder / VAULT_NAME, vault_size, kdf_cost)

    def install(self) -> None:
        """Create whatever is missing: the folder (0700), a random queue and vault of
        their fixed sizes, an empty cache and the lock file. Existing files are kept."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not self.lock_path.exists():
            write_private(self.lock_path, b"")
        with self.locked():
            if not self.queue_path.exists():
                write_private(self.queue_path, nacl.utils.random(QUEUE_FILE_SIZE))
            if not self.vault.exists():
                self.vault.fill_random()
            if not self.cache_path.exists():
                self.write_cache(Cache())

    def is_installed(self) -> bool:
        return all(path.exists() for path in (self.queue_path, self.vault.path, self.cache_path))

    def require_installed(self) -> None:
        """Raise StorageError unless a client has been set up in the folder."""
        if not self.is_installed():
            raise StorageError(
                f"{self.folder} holds no source client: run `quietline source run` with "
                "this --vault first, so it sets up the folder and downloads the keys"
            )

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the folder's exclusive lock (blocking until other processes release it)."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self.lock_path.open("a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    # --- queue ---------------------------------------------------------------------------

    def read_queue(self, hint_key: bytes | None = None) -> SendingQueue[EncryptedU2C]:
        """The sending queue, able to tell real from cover when given the vault's hint key;
        raises StorageError when the file is missing or damaged."""
        try:
            raw = self.queue_path.read_bytes()
        except OSError as error:
            raise StorageError(f"cannot read the sending queue {self.queue_path}") from error
        if len(raw) != QUEUE_FILE_SIZE:
            raise StorageError(
                f"the sending queue {self.queue_path} is damaged: {len(raw)} bytes, "
                f"expected {QUEUE_FILE_SIZE}"
            )
        return SendingQueue.from_bytes(hint_key, ENCRYPTED_U2C, raw)

    def write_queue(self, queue: SendingQueue[EncryptedU2C]) -> None:
        raw = queue.to_bytes()
        if len(raw) != QUEUE_FILE_SIZE:
            raise StorageError("refusing to write a sending queue of the wrong size")
        write_private(self.queue_path, raw)

    # --- cache ---------------------------------------------------------------------------

    def read_cache(self) -> Cache:
        """The cache; raises StorageError when it is missing or damaged."""
        try:
            return Cache.from_json(load_json(self.cache_path.read_bytes()))
        except OSError as error:
            raise StorageError(f"cannot read the key cache {self.cache_path}") from error
        except ProtocolError as error:
            raise StorageError(f"the key cache {self.cache_path} is damaged: {error}") from error

    def write_cache(self, cache: Cache) -> None:
        write_private(self.cache_path, json.dumps(cache.to_json()).encode())
