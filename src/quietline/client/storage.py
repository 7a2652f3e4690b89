"""The source client's folder: two files, a lock and a socket, the same on every device.

- ``vault``: the source's vault (:mod:`quietline.client.vault`), 65,560 bytes whatever it
  holds. A new installation seals random contents under a random key nobody sees; the
  run loop rewrites it at every send, re-randomised (or, when someone used the client
  since the last send, as they handed it over), so its size, times and contents change
  the same way on a device nobody uses.
- ``cache.json``: public data only: the organisation anchors, the last published key
  set that verified, the user dead drops downloaded (kept 14 days) and the schedule
  phases. The run loop rewrites it at every download.
- ``running``: an empty file the run loop holds locked (``fcntl.flock``) while it runs,
  so one run loop works on a folder at a time.
- ``socket``: while the run loop runs, the Unix socket through which ``send`` and
  ``inbox`` reach it (:mod:`quietline.client.ipc`). They never open a file here.

Only the run loop writes, always a whole file replaced atomically with mode 0600, and
only at its scheduled sends and downloads.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from quietline.client import vault
from quietline.keystore import write_private
from quietline.protocol.certificates import SignedKey
from quietline.protocol.deaddrops import DeadDrop, UserDeadDrop
from quietline.protocol.errors import MalformedInput, ProtocolError, QuietlineError
from quietline.protocol.hierarchy import PublishedKeys
from quietline.protocol.jsonvalues import (
    load_json,
    require_list,
    require_object,
)
from quietline.vault import MODERATE, KdfCost

VAULT_NAME = "vault"
CACHE_NAME = "cache.json"
# Held by the one run loop working on the folder for as long as it runs.
RUNNING_NAME = "running"
SOCKET_NAME = "socket"

DEAD_DROP_RETENTION = timedelta(days=14)
PHASE_NAMES = ("send", "download")
# Phases are drawn in steps of a billionth of a period and written with nine digits.
PHASE_STEPS = 10**9


class StorageError(QuietlineError):
    """A file in the client's folder is missing or damaged; the message names it."""


@dataclass
class Cache:
    """The public data a client keeps between runs."""

    anchors: list[SignedKey] = field(default_factory=list)
    published: PublishedKeys | None = None
    dead_drops: list[DeadDrop[UserDeadDrop]] = field(default_factory=list)
    # This installation's schedule phases (fractions of a period in [0, 1)), drawn at
    # random at its first start: {"send": ..., "download": ...}.
    phases: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "anchors": [anchor.to_json() for anchor in self.anchors],
            "published_keys": None if self.published is None else self.published.to_json(),
            "user_dead_drops": [dead_drop.to_json() for dead_drop in self.dead_drops],
            # Written with a fixed number of digits: the file's size must not depend on
            # the draw (every installation's cache is the same size at the same moment).
            "phases": {name: f"{value:.9f}" for name, value in self.phases.items()},
        }

    @classmethod
    def from_json(cls, obj: object) -> Cache:
        """Parse the cache file's JSON; raises MalformedInput on any shape error."""
        fields = require_object(obj, "the client cache")
        anchors = require_list(fields.get("anchors", []), "the cache's anchors")
        drops = require_list(fields.get("user_dead_drops", []), "the cache's dead drops")
        published = fields.get("published_keys")
        phases = require_object(fields.get("phases", {}), "the schedule phases")
        return cls(
            [SignedKey.from_json(anchor) for anchor in anchors],
            None if published is None else PublishedKeys.from_json(published),
            [DeadDrop.from_json(UserDeadDrop, drop) for drop in drops],
            {name: _phase(phases[name]) for name in PHASE_NAMES if name in phases},
        )

    def forget_dead_drops_before(self, cutoff: datetime) -> None:
        self.dead_drops = [d for d in self.dead_drops if d.body.created_at >= cutoff]


def _phase(value: object) -> float:
    """A phase as the cache writes it: a decimal string in [0, 1)."""
    try:
        phase = float(value) if isinstance(value, str) else -1.0
    except ValueError:
        phase = -1.0
    if not 0 <= phase < 1:
        raise MalformedInput("a schedule phase is a decimal in [0, 1)")
    return phase


class SourceStorage:
    """The files of one source client installation in ``folder``; ``vault_blocks`` sets
    the size of the vault an installation makes (later runs keep the file's size)."""

    def __init__(self, folder: Path, *, vault_blocks: int = vault.DEFAULT_BLOCKS) -> None:
        self.folder = folder
        self.vault_path = folder / VAULT_NAME
        self.cache_path = folder / CACHE_NAME
        self.running_path = folder / RUNNING_NAME
        self.socket_path = folder / SOCKET_NAME
        self.vault_blocks = vault_blocks

    def install(self, cost: KdfCost = MODERATE) -> None:
        """Create whatever is missing: the folder (0700), a vault sealed under a random key
        (its passphrase cost ``cost``) and a cache with random schedule phases. Existing
        files are kept. Only the run loop calls this."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.folder.chmod(0o700)  # also when something else made it first
        if not self.vault_path.exists():
            write_private(self.vault_path, vault.install(self.vault_blocks, cost))
        cache = self.read_cache() if self.cache_path.exists() else Cache()
        if not self.cache_path.exists() or any(n not in cache.phases for n in PHASE_NAMES):
            for name in PHASE_NAMES:
                cache.phases.setdefault(name, secrets.randbelow(PHASE_STEPS) / PHASE_STEPS)
            self.write_cache(cache)

    def schedule_phase(self, name: str) -> float:
        """This installation's phase for the ``send`` or ``download`` schedule (a fraction
        of a period, drawn at random by :meth:`install`); 0 before installation."""
        return self.read_cache().phases.get(name, 0.0) if self.cache_path.exists() else 0.0

    def is_installed(self) -> bool:
        return self.vault_path.exists() and self.cache_path.exists()

    # --- vault ---------------------------------------------------------------------------

    def read_vault(self) -> bytes:
        """The vault file; raises StorageError when it is missing or not a vault."""
        try:
            raw = self.vault_path.read_bytes()
        except OSError as error:
            raise StorageError(f"cannot read the vault {self.vault_path}") from error
        try:
            vault.block_count(raw)
        except vault.VaultDamaged as error:
            raise StorageError(
                f"the vault {self.vault_path} is damaged or from another version of "
                f"Quietline: {error}"
            ) from None
        return raw

    def write_vault(self, raw: bytes) -> None:
        write_private(self.vault_path, raw)

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
