"""The source client inside a host application: start it with the app, stop it with the
app, and send and read through calls or through the terminal UI.

A host app (a news reader, say) runs :class:`EmbeddedClient` for as long as it runs,
whether or not its user ever opens the contact feature: that is what makes the app's
users the crowd a source hides in. Its run loop is the one ``quietline source run``
runs (:func:`serve`), on a thread of its own, on the same schedule, writing the same
folder on that schedule alone, and serving the same socket, so ``quietline source
send``, ``inbox`` and ``ui`` work with an embedded client too. What a person does goes
through :meth:`EmbeddedClient.session`, a :class:`~quietline.ui.session.Session` over
the run loop's in-memory handoff: it never opens a file and never changes when or how
much the client sends or downloads.

The host app must not log, crash-report, back up or sync the data folder, must not log
or report the text its user types or reads, and ships the organisation's anchor inside
the app (docs/source-client.md, "Embedding the client").
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

from quietline.client.client import (
    DEFAULT_DOWNLOAD_PERIOD_S,
    DEFAULT_SEND_PERIOD_S,
    ClientCounters,
    SourceClient,
    TickOutcome,
)
from quietline.client.errors import SourceClientError
from quietline.client.ipc import LinkServer
from quietline.client.schedule import schedule_named
from quietline.client.storage import SourceStorage
from quietline.client.vault import DEFAULT_BLOCKS
from quietline.clock import Clock, SystemClock
from quietline.edge_client import EdgeClient
from quietline.edge_endpoint import EdgeEndpoint
from quietline.protocol.certificates import SignedKey
from quietline.protocol.errors import QuietlineError
from quietline.runner import run_steps, running_alone
from quietline.ui import forget_textual_settings
from quietline.ui.session import Session
from quietline.vault import MODERATE, KdfCost

# How long stop() waits for the run loop to finish a send or download under way.
STOP_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """How a client runs: a send every ``send_period_s`` (``fixed`` on the installation's
    phase, or ``memoryless`` with that mean), a download every ``download_period_s``, and
    the Argon2id cost a new folder's vault records (MODERATE for people)."""

    send_period_s: float = DEFAULT_SEND_PERIOD_S
    download_period_s: float = DEFAULT_DOWNLOAD_PERIOD_S
    schedule: str = "fixed"
    kdf_cost: KdfCost = MODERATE


def new_client(
    edge: EdgeClient,
    anchors: Sequence[SignedKey],
    storage: SourceStorage,
    settings: ClientSettings | None = None,
) -> SourceClient:
    """A client on the folder of ``storage``, set up here the first time (which draws the
    installation's schedule phases). Raises StorageError."""
    chosen = settings or ClientSettings()
    storage.install(chosen.kdf_cost)
    sends = timedelta(seconds=chosen.send_period_s)
    downloads = timedelta(seconds=chosen.download_period_s)
    return SourceClient(
        edge,
        anchors,
        storage,
        send_schedule=schedule_named(chosen.schedule, sends, storage.schedule_phase("send")),
        download_schedule=schedule_named("fixed", downloads, storage.schedule_phase("download")),
        kdf_cost=chosen.kdf_cost,
    )


def serve(
    client: SourceClient,
    clock: Clock,
    stop: threading.Event,
    *,
    on_step: Callable[[TickOutcome], None] = lambda _: None,
    on_ready: Callable[[], None] = lambda: None,
) -> None:
    """The run loop: start the client, serve its socket (then ``on_ready``), tick until
    ``stop`` is set. Messages still waiting when it ends are lost, and their waiters
    told. Raises StorageError when a file of the folder is damaged."""
    client.start(clock.now())
    with LinkServer(client.handoff, client.storage.socket_path):
        on_ready()
        try:
            run_steps(client.tick, clock, stop, pause=client.pause, on_step=on_step)
        finally:
            client.stop()


@dataclass(frozen=True, slots=True)
class ClientState:
    """What a host app may show about the client: whether it runs, whether it has the
    organisation's verified keys and profiles (without them nothing can be sent), and
    its counters
    (the same for every installation: never whether a send was real)."""

    running: bool
    has_keys: bool
    counters: ClientCounters


class EmbeddedClient:
    """The source client on a background thread of the host app.

    ``folder`` is the client's data folder (created 0700), ``anchors`` the organisation's
    pinned keys (shipped with the app), ``edge`` where and how to reach the edge (proxy,
    CA, pins: :class:`~quietline.edge_endpoint.EdgeEndpoint`); the defaults of
    ``settings`` are the ones for people. Use it as a context
    manager, or call :meth:`start` and :meth:`stop`; a second client on the same folder,
    in this process or another, is refused (it would double the folder's traffic).
    """

    def __init__(
        self,
        folder: Path,
        anchors: Sequence[SignedKey],
        edge: EdgeEndpoint,
        settings: ClientSettings | None = None,
        *,
        vault_blocks: int = DEFAULT_BLOCKS,
        clock: Clock | None = None,
    ) -> None:
        if not anchors:
            raise SourceClientError("a source client needs the organisation's anchor key")
        self.storage = SourceStorage(folder, vault_blocks=vault_blocks)
        self.anchors = list(anchors)
        self._endpoint = edge
        self._settings = settings or ClientSettings()
        self._clock = clock or SystemClock()
        self._stop = threading.Event()
        self._client: SourceClient | None = None
        self._thread: threading.Thread | None = None
        self._resources = ExitStack()

    def start(self) -> None:
        """Set the folder up if needed and start the run loop; returns once its socket
        serves. Raises AlreadyRunning, StorageError or SourceClientError."""
        if self._thread is not None:
            raise SourceClientError("the client is already running")
        with ExitStack() as resources:
            resources.enter_context(running_alone(self.storage.running_path, "source client"))
            edge = resources.enter_context(EdgeClient(self._endpoint))
            client = new_client(edge, self.anchors, self.storage, self._settings)
            started = threading.Event()
            failure: list[QuietlineError] = []
            self._stop.clear()
            thread = threading.Thread(
                target=self._run,
                args=(client, started, failure),
                name="source-client",
                daemon=True,
            )
            thread.start()
            started.wait()
            if failure:
                thread.join()
                raise failure[0]
            self._thread, self._client = thread, client
            self._resources = resources.pop_all()

    def _run(
        self, client: SourceClient, started: threading.Event, failure: list[QuietlineError]
    ) -> None:
        try:
            serve(client, self._clock, self._stop, on_ready=started.set)
        except QuietlineError as error:
            failure.append(error)
        finally:
            started.set()

    def stop(self) -> None:
        """Stop the run loop (a message still waiting is lost) and release the folder."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join(STOP_TIMEOUT_S)
            self._thread = None
        self._resources.close()

    def __enter__(self) -> EmbeddedClient:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def state(self) -> ClientState:
        client = self._need_client()
        # From what a person's session sees (the cache as last published to the handoff),
        # not the run loop's copy, which is ahead of it while a download is written.
        recipients, _ = self.session().recipients()
        return ClientState(self.running, bool(recipients), replace(client.counters))

    def session(self) -> Session:
        """A person's session with the running client: check the digest, list the
        recipients, unlock or begin, send, read the conversation, lock. Its calls may
        block (key derivation): make them off the host app's UI thread."""
        return Session(self._need_client().handoff, self.anchors, self._clock)

    def open_ui(self, language: str | None = None) -> None:
        """Run the terminal UI (``quietline source ui``) on this client until the person
        quits it; the client keeps running. ``language``: ``en`` or ``zh_CN`` (default:
        the locale's)."""
        # Textual loads slowly: only a host app that opens the UI pays for it, and reads
        # its settings from the environment as it loads (the app refuses to run with
        # those that would record it).
        forget_textual_settings(os.environ)
        from quietline.ui import i18n  # noqa: PLC0415
        from quietline.ui.app import SourceApp  # noqa: PLC0415

        chosen = i18n.Language(language) if language else i18n.from_environment(os.environ)
        SourceApp(self.session(), i18n.translations(chosen)).run()

    def _need_client(self) -> SourceClient:
        if self._client is None or not self.running:
            raise SourceClientError("the client is not running: call start() first")
        return self._client
