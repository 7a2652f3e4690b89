"""The desk's vault on disk: unlock once, then load-modify-save under a file lock.

``desk run`` and ``desk reply`` may work on the same vault at the same time. Every change
happens inside :meth:`DeskStore.transaction`, which holds an exclusive ``fcntl`` lock on a
file beside the vault from before the load until after the save, so neither process can
overwrite what the other just wrote.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from quietline.desk.state import DeskState
from quietline.protocol.errors import MalformedInput, QuietlineError
from quietline.vault import MODERATE, KdfCost, Vault, VaultLocked

# Generous: a year of busy conversations fits. Fixed, so the file says nothing by its size.
DESK_VAULT_SIZE = 4 * 1024 * 1024


class DeskExists(QuietlineError):
    """There is already a vault at this path."""


class NoDesk(QuietlineError):
    """There is no desk vault at this path yet."""


class DeskStore:
    """A desk vault file and its lock file; holds the derived key once unlocked."""

    def __init__(self, path: Path, cost: KdfCost = MODERATE, size: int = DESK_VAULT_SIZE) -> None:
        self.vault = Vault(path, size, cost)
        self.lock_path = path.with_name(path.name + ".lock")
        self._key: bytes | None = None

    @property
    def path(self) -> Path:
        return self.vault.path

    def exists(self) -> bool:
        return self.vault.exists()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            os.close(handle)

    def create(self, passphrase: str, state: DeskState) -> None:
        """Write a new vault holding ``state``; raises DeskExists if one is there."""
        with self._locked():
            if self.exists():
                raise DeskExists(f"a vault already exists at {self.path}")
            self._key = self.vault.create(passphrase, state.to_json())

    def unlock(self, passphrase: str) -> None:
        """Derive the vault key from ``passphrase``.

        Raises NoDesk when there is no vault, VaultLocked when the passphrase is wrong.
        """
        if not self.exists():
            raise NoDesk(f"no desk vault at {self.path}: add a recipient first")
        # No lock: the file is replaced whole by a rename, and the slow key derivation
        # should not hold up a running desk.
        contents, key = self.vault.open(passphrase)
        _parse(contents)
        self._key = key

    def _require_key(self) -> bytes:
        if self._key is None:
            raise VaultLocked("the desk vault is locked: unlock it with its passphrase first")
        return self._key

    def read(self) -> DeskState:
        """A snapshot of the desk (changes to it are not saved)."""
        key = self._require_key()
        with self._locked():
            return _parse(self.vault.open_with_key(key))

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Load the state under the lock, yield it, and save it when the block ends
        without an exception. Raises VaultFull when the new state does not fit."""
        key = self._require_key()
        with self._locked():
            transaction = Transaction(self.vault, key, _parse(self.vault.open_with_key(key)))
            yield transaction
            transaction.save()


class Transaction:
    """The state loaded under the lock; ``save`` may also be called part-way, to make a
    change durable before acting on it (a new key before it is published)."""

    def __init__(self, vault: Vault, key: bytes, state: DeskState) -> None:
        self._vault = vault
        self._key = key
        self.state = state

    def save(self) -> None:
        self._vault.save(self._key, self.state.to_json())


def _parse(contents: object) -> DeskState:
    try:
        return DeskState.from_json(contents)
    except MalformedInput as error:
        raise VaultLocked(f"the vault opened but {error}") from None
