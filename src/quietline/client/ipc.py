"""The run loop's socket: how ``quietline source send`` and ``inbox`` reach a running client.

A Unix stream socket in the client's folder (mode 0600 inside the 0700 folder; on Linux
the peer must also be the same user, checked with ``SO_PEERCRED``). One request and one
answer per connection, each a line of JSON:

- ``{"op": "snapshot"}`` → ``{"ok": true, "version": N, "vault": b64, "cache": {...}}``
- ``{"op": "stage", "base": N, "vault": b64, "message": b64 | null}`` →
  ``{"ok": true, "ticket": N | null}``, or ``{"ok": false, "error": "conflict" | "full" |
  "refused", "message": "..."}``
- ``{"op": "wait", "ticket": N, "timeout": s}`` → ``{"ok": true, "state": "sent" |
  "waiting" | "lost"}``

Nothing here touches a file: the run loop answers from memory (its
:class:`~quietline.client.handoff.Handoff`). A malformed request gets ``refused`` and
never stops the run loop.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from quietline.client.errors import ClientNotRunning, Conflict, QueueFull, SourceClientError
from quietline.client.handoff import Handoff, Snapshot
from quietline.protocol.encoding import b64_decode, b64_encode
from quietline.protocol.errors import MalformedInput, QuietlineError
from quietline.protocol.jsonvalues import load_json, require_int, require_object
from quietline.protocol.messages import ENCRYPTED_U2C, EncryptedU2C

# A request holds at most a vault (tens of KB); an answer may hold the cache's 14 days
# of dead drops (a few MB).
MAX_REQUEST = 16 * 1024 * 1024
MAX_ANSWER = 256 * 1024 * 1024
MAX_WAIT_S = 600.0
REQUEST_TIMEOUT_S = 30.0
# Longer socket paths do not fit in sockaddr_un (108 bytes on Linux).
MAX_SOCKET_PATH = 100


class LinkServer:
    """Serves a :class:`Handoff` on the socket at ``path`` while the block runs."""

    def __init__(self, handoff: Handoff, path: Path) -> None:
        self._handoff = handoff
        self._path = path
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> LinkServer:
        # The run loop holds the folder's lock, so a socket left here is a dead one's.
        self._path.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with _address(self._path) as address:
            listener.bind(address)
        os.chmod(self._path, 0o600)
        listener.listen(16)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, name="client-socket", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._path.unlink(missing_ok=True)

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return  # closed: the run loop stops
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            connection.settimeout(REQUEST_TIMEOUT_S)
            try:
                if not _same_user(connection):
                    return
                request = require_object(
                    load_json(_read_line(connection, MAX_REQUEST)), "a request"
                )
                answer = self._answer(request)
            except (OSError, MalformedInput) as error:
                answer = {"ok": False, "error": "refused", "message": str(error)}
            with contextlib.suppress(OSError):
                connection.sendall(json.dumps(answer).encode() + b"\n")

    def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
        handlers = {"snapshot": self._snapshot, "stage": self._stage, "wait": self._wait}
        handler = handlers.get(str(request.get("op")))
        if handler is None:
            return {"ok": False, "error": "refused", "message": "unknown request"}
        try:
            return {"ok": True, **handler(request)}
        except Conflict as error:
            return {"ok": False, "error": "conflict", "message": str(error)}
        except QueueFull as error:
            return {"ok": False, "error": "full", "message": str(error)}
        except QuietlineError as error:
            return {"ok": False, "error": "refused", "message": str(error)}

    def _snapshot(self, _request: dict[str, Any]) -> dict[str, Any]:
        snapshot = self._handoff.snapshot()
        return {
            "version": snapshot.version,
            "vault": b64_encode(snapshot.vault),
            "cache": snapshot.cache,
        }

    def _stage(self, request: dict[str, Any]) -> dict[str, Any]:
        raw_message = request.get("message")
        message = None if raw_message is None else ENCRYPTED_U2C.decode(b64_decode(raw_message))
        ticket = self._handoff.stage(
            require_int(request.get("base"), "the base version", 0, 2**62),
            b64_decode(request.get("vault")),
            message,
        )
        return {"ticket": ticket}

    def _wait(self, request: dict[str, Any]) -> dict[str, Any]:
        timeout = request.get("timeout")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise MalformedInput("the timeout is a number of seconds")
        if not math.isfinite(timeout):
            raise MalformedInput("the timeout is a finite number of seconds")
        ticket = require_int(request.get("ticket"), "the ticket", 1, 2**62)
        return {"state": self._handoff.wait_sent(ticket, min(max(timeout, 0.0), MAX_WAIT_S))}


class SocketLink:
    """A :class:`~quietline.client.handoff.ClientLink` to the run loop of ``folder``."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def snapshot(self) -> Snapshot:
        answer = self._ask({"op": "snapshot"})
        cache = require_object(answer.get("cache"), "the cache")
        version = require_int(answer.get("version"), "the version", 0, 2**62)
        return Snapshot(version, b64_decode(answer.get("vault")), cache)

    def stage(self, base: int, vault: bytes, message: EncryptedU2C | None) -> int | None:
        encoded = None if message is None else b64_encode(ENCRYPTED_U2C.encode(message))
        answer = self._ask(
            {"op": "stage", "base": base, "vault": b64_encode(vault), "message": encoded}
        )
        ticket = answer.get("ticket")
        return None if ticket is None else require_int(ticket, "the ticket", 1, 2**62)

    def wait_sent(self, ticket: int, timeout: float) -> str:
        answer = self._ask({"op": "wait", "ticket": ticket, "timeout": timeout}, timeout)
        state = answer.get("state")
        if not isinstance(state, str):
            raise MalformedInput("the run loop's answer holds no state")
        return state

    def _ask(self, request: dict[str, Any], wait: float = 0.0) -> dict[str, Any]:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
                connection.settimeout(REQUEST_TIMEOUT_S + wait)
                with _address(self._path) as address:
                    connection.connect(address)
                connection.sendall(json.dumps(request).encode() + b"\n")
                answer = require_object(
                    load_json(_read_line(connection, MAX_ANSWER)), "the run loop's answer"
                )
        except (FileNotFoundError, ConnectionRefusedError):
            raise ClientNotRunning(
                f"no source client is running on {self._path.parent}: start `quietline "
                "source run` with this --vault and keep it running"
            ) from None
        except OSError as error:
            raise ClientNotRunning(f"the running source client did not answer: {error}") from None
        if answer.get("ok") is True:
            return answer
        message = str(answer.get("message", "refused"))
        error_name = answer.get("error")
        if error_name == "conflict":
            raise Conflict(message)
        if error_name == "full":
            raise QueueFull(message)
        raise SourceClientError(f"the running source client refused: {message}")


def _read_line(connection: socket.socket, limit: int) -> bytes:
    """One line (without its end), at most ``limit`` bytes; MalformedInput past that or
    when the peer hangs up first."""
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = connection.recv(65536)
        if not chunk:
            raise MalformedInput("the other end hung up before the end of the line")
        end = chunk.find(b"\n")
        if end >= 0:
            chunks.append(chunk[:end])
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise MalformedInput(f"a line longer than {limit} bytes")


def _same_user(connection: socket.socket) -> bool:
    """Whether the peer runs as this user (Linux; elsewhere the folder's mode decides)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return True
    credentials = connection.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", credentials)
    return bool(uid == os.getuid())


@contextlib.contextmanager
def _address(path: Path) -> Iterator[str]:
    """A name for ``path`` that fits in sockaddr_un: the path itself, or for a long one
    (a deep test folder, say) the folder reached through ``/proc/self/fd`` (Linux)."""
    if len(os.fsencode(path)) <= MAX_SOCKET_PATH:
        yield str(path)
        return
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{folder}/{path.name}"
    finally:
        os.close(folder)
