"""``quietline desk serve``: the pages under uvicorn on loopback, and the desk's loop.

The loop is the desk's own periodic step (:meth:`quietline.desk.service.Desk.step`),
driven by :func:`quietline.runner.run_steps` in a thread, as ``desk run`` drives it. It
needs the vault's keys, so it starts at the first unlock (in a page, or from
``--passphrase-fd`` at start for an unattended desk) and from then on keeps its
schedule whether the pages are locked or not: locking the pages hides them, and the
key stays in this process's memory for the loop, as it does in ``desk run``. A desk
whose loop stopped whenever someone locked the screen would tell the edge, by its
silence, when people are at work.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable
from datetime import datetime

import uvicorn

from quietline.desk.report import DeskReport
from quietline.desk.web.app import DeskWeb, create_app
from quietline.protocol.errors import MisuseError, QuietlineError
from quietline.runner import run_steps


class NotLoopback(MisuseError):
    """The desk serves on a loopback address only."""


def require_loopback(host: str) -> str:
    """``host`` if it is a loopback address (or ``localhost``); raises NotLoopback."""
    if host == "localhost":
        return host
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        raise NotLoopback(
            f"the desk serves on a loopback address only (127.0.0.1, ::1 or localhost), not "
            f"{host!r}: reach it from another machine through an SSH tunnel, never directly"
        )
    return host


class DeskLoop:
    """The desk's periodic step in a thread, started once; keeps the last report. If the
    loop ends other than by :meth:`stop` (a disk error, say), ``on_exit`` is called: a
    desk that serves pages but no longer sends would break its schedule unseen."""

    def __init__(
        self,
        web: DeskWeb,
        on_step: Callable[[DeskReport], None],
        on_exit: Callable[[], None] = lambda: None,
    ) -> None:
        self._web = web
        self._on_step = on_step
        self._on_exit = on_exit
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()

    def start(self) -> None:
        with self._starting:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="desk-loop", daemon=True)
                self._thread.start()

    def _step(self, now: datetime) -> DeskReport:
        try:
            return self._web.desk.step(now)
        except QuietlineError as error:  # a full vault, say: reported, and tried again
            report = DeskReport(now)
            report.error = str(error)
            return report

    def _kept(self, report: DeskReport) -> None:
        self._web.report = report
        self._on_step(report)

    def _run(self) -> None:
        desk = self._web.desk
        try:
            run_steps(self._step, self._web.clock, self._stop, pause=desk.pause, on_step=self._kept)
        finally:
            if not self._stop.is_set():
                self._on_exit()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def serve(
    web: DeskWeb,
    host: str,
    port: int,
    on_step: Callable[[DeskReport], None],
    on_ready: Callable[[str], None],
    *,
    unlocked: bool = False,
) -> None:
    """Serve the desk's pages on ``host``:``port`` (loopback only) until interrupted,
    running the loop from the first unlock (at once if ``unlocked``); ``on_ready`` gets
    the address to open. Raises NotLoopback before anything starts."""
    require_loopback(host)
    config = uvicorn.Config(
        create_app(web),
        host=host,
        port=port,
        access_log=False,  # no request, address or agent in any log
        log_level="warning",
        lifespan="off",
        server_header=False,
    )
    server = uvicorn.Server(config)
    # The process ends if the loop does: a supervisor starts it again, schedule and all.
    loop = DeskLoop(web, on_step, on_exit=lambda: setattr(server, "should_exit", True))
    web.on_unlock = loop.start
    if unlocked:
        loop.start()
    shown = f"[{host}]" if ":" in host else host
    on_ready(f"http://{shown}:{port}/")
    try:
        server.run()
    finally:
        loop.stop()
