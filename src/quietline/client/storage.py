"""The source client's folder: three fixed files and two locks, the same on every device.

- ``queue``: the private sending queue, ``8 x (16-byte hint ‖ 773-byte U2C)`` = 6,312
  bytes, *not* passphrase-encrypted, so cover can be sent without anyone unlocking
  anything. Only the hint key (in the vault) tells real slots from cover. A fresh
  install writes random bytes of the same size.
- ``vault``: a :class:`~quietline.vault.Vault` of fixed size; a fresh install fills it
  with random bytes, so it looks the same whether or not anyone ever wrote.
- ``cache.json``: public data only: the organisation anchors, the last published key
  set that verified, and the user dead drops downloaded (kept 14 days).
- ``lock`` and ``vault.lock``: empty files locked with ``fcntl.flock``. ``lock`` guards
  the queue and the cache and is only ever held for a quick read or atomic replace of
  them; ``vault.lock`` guards the vault's read-modify-write (key derivation included)
  and is taken only by what the user does, never by the run loop, so ``send`` and
  ``inbox`` cannot delay a scheduled send or download.

Every write replaces a whole file atomically with mode 0600. The queue and vault never
change size; the cache's size depends on public data only (what the edge published and
when this install started downloading), never on what its user did.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import nacl.utils

from quietline.keystore import write_private
from quietline.protocol.certificates import SignedKey
from quietline.protocol.deaddrops import DeadDrop, UserDeadDrop
from quietline.protocol.errors import MalformedInput, ProtocolError, QuietlineError
from quietline.protocol.hierarchy import PublishedKeys
from quietline.protocol.jsonvalues import (
    I64_MAX,
    load_json,
    require_bool,
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
VAULT_LOCK_NAME = "vault.lock"
# Held by the one run loop working on the folder for as long as it runs.
RUNNING_NAME = "running"

QUEUE_SLOTS = DEFAULT_SLOTS
QUEUE_FILE_SIZE = QUEUE_SLOTS * (HINT_LEN + ENCRYPTED_U2C.size)
VAULT_SIZE = 64 * 1024
DEAD_DROP_RETENTION = timedelta(days=14)
PHASE_NAMES = ("send", "download")


class StorageError(QuietlineError):
    """A file in the client's folder is missing or damaged; the message names it."""


@dataclass
class Cache:
    """The public data a client keeps between runs."""

    anchors: list[SignedKey] = field(default_factory=list)
    published: PublishedKeys | None = None
    dead_drops: list[DeadDrop[UserDeadDrop]] = field(default_factory=list)
    last_dead_drop_id: int = 0
    # This installation's schedule phases (fractions of a period in [0, 1)), drawn at
    # random at its first start: {"send": ..., "download": ...}.
    phases: dict[str, float] = field(default_factory=dict)
    # Whether the dead drop downloads are catching up from ``last_dead_drop_id`` (one
    # window a period) rather than asking for the newest window.
    catching_up: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "anchors": [anchor.to_json() for anchor in self.anchors],
            "published_keys": None if self.published is None else self.published.to_json(),
            "user_dead_drops": [dead_drop.to_json() for dead_drop in self.dead_drops],
            "last_dead_drop_id": self.last_dead_drop_id,
            "phases": dict(self.phases),
            "catching_up": self.catching_up,
        }

    @classmethod
    def from_json(cls, obj: object) -> Cache:
        """Parse the cache file's JSON; raises MalformedInput on any shape error."""
        fields = require_object(obj, "the client cache")
        anchors = require_list(fields.get("anchors", []), "the cache's anchors")
        drops = require_list(fields.get("user_dead_drops", []), "the cache's dead drops")
        last = require_int(fields.get("last_dead_drop_id", 0), "the last dead drop id", 0, I64_MAX)
        published = fields.get("published_keys")
        phases = require_object(fields.get("phases", {}), "the schedule phases")
        return cls(
            [SignedKey.from_json(anchor) for anchor in anchors],
            None if published is None else PublishedKeys.from_json(published),
            [DeadDrop.from_json(UserDeadDrop, drop) for drop in drops],
            last,
            {name: _phase(phases[name]) for name in PHASE_NAMES if name in phases},
            require_bool(fields.get("catching_up", False), "whether it is catching up"),
        )

    def forget_dead_drops_before(self, cutoff: datetime) -> None:
        self.dead_drops = [d for d in self.dead_drops if d.body.created_at >= cutoff]


def _phase(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise MalformedInput("a schedule phase is a number in [0, 1)")
    return float(value)


class SourceStorage:
    """The files of one source client installation in ``folder``."""

    def __init__(
        self, folder: Path, *, vault_size: int = VAULT_SIZE, kdf_cost: KdfCost = MODERATE
    ) -> None:
        self.folder = folder
        self.queue_path = folder / QUEUE_NAME
        self.cache_path = folder / CACHE_NAME
        self.lock_path = folder / LOCK_NAME
        self.vault_lock_path = folder / VAULT_LOCK_NAME
        self.running_path = folder / RUNNING_NAME
        self.vault = Vault(folder / VAULT_NAME, vault_size, kdf_cost)

    def install(self) -> None:
        """Create whatever is missing: the folder (0700), a random queue and vault of
        their fixed sizes, an empty cache with random schedule phases and the lock files.
        Existing files are kept. Waits on the vault's lock only when there is no vault."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        for lock in (self.lock_path, self.vault_lock_path):
            os.close(os.open(lock, os.O_RDWR | os.O_CREAT, 0o600))
        if not self.vault.exists():
            with self.vault_locked():
                if not self.vault.exists():
                    self.vault.fill_random()
        with self.locked():
            if not self.queue_path.exists():
                write_private(self.queue_path, nacl.utils.random(QUEUE_FILE_SIZE))
            cache = self.read_cache() if self.cache_path.exists() else Cache()
            if not self.cache_path.exists() or any(n not in cache.phases for n in PHASE_NAMES):
                for name in PHASE_NAMES:
                    cache.phases.setdefault(name, secrets.SystemRandom().random())
                self.write_cache(cache)

    def schedule_phase(self, name: str) -> float:
        """This installation's phase for the ``send`` or ``download`` schedule (a fraction
        of a period, drawn at random by :meth:`install`); 0 before installation."""
        return self.read_cache().phases.get(name, 0.0) if self.cache_path.exists() else 0.0

    def is_installed(self) -> bool:
        return all(path.exists() for path in (self.queue_path, self.vault.path, self.cache_path))

    def require_installed(self) -> None:
        """Raise StorageError unless a client has been set up in the folder."""
        if not self.is_installed():
            raise StorageError(
                f"{self.folder} holds no source client: run `quietline source run` with "
                "this --vault first, so it sets up the folder and downloads the keys"
            )

    def locked(self) -> AbstractContextManager[None]:
        """Hold the lock of the queue and the cache, which the run loop takes: only ever
        around a quick read or replace of those files, never around a key derivation, the
        vault or the network."""
        return self._flock(self.lock_path)

    def vault_locked(self) -> AbstractContextManager[None]:
        """Hold the vault's lock, around what the user does (key derivation included); the
        run loop never takes it, so nothing a person does can delay a send or download."""
        return self._flock(self.vault_lock_path)

    @contextmanager
    def _flock(self, path: Path) -> Iterator[None]:
        """Hold ``path``'s exclusive lock (blocking until whoever holds it releases it)."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Created in place if missing (never replaced: a lock must stay one file).
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(descriptor, fcntl.LOCK_UN)
        finally:
            os.close(descriptor)

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
