"""``quietline mixer``: run the CoverNode against an edge until stopped.

It opens no port: every poll interval (at once while the queues hold more than a step
takes in) it pulls the edge's queues, opens the submissions over ``workers`` processes
and publishes what it mixed, printing a status line of counts (never content, and never
whether an input was real or cover) after the first step and after each step that did
something. SIGTERM or Ctrl-C lets the current step finish and exits 0; an unreachable edge
is reported and retried.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from quietline.cli.files import fail, load_json, print_report
from quietline.clock import SystemClock
from quietline.config import ConfigError, load_config
from quietline.edge_client import EdgeClient
from quietline.mixer.keys import KeyFolderError
from quietline.mixer.opening import Openers, WorkersUnavailable
from quietline.mixer.service import Mixer, MixerReport
from quietline.mixer.state import MixerStore
from quietline.protocol.certificates import SignedKey
from quietline.protocol.mixing import DEMO_J2U, DEMO_U2J, MixingParameters
from quietline.runner import run_steps


def _describe(parameters: MixingParameters) -> str:
    return (
        f"{parameters.output_size} entries after {parameters.threshold_max} inputs,"
        f" or {parameters.threshold_min} and {parameters.timeout.total_seconds():g} s"
    )


def _quietly() -> Callable[[MixerReport], None]:
    """Print the first step's report (so an operator sees the mixer work), then only the
    steps that did something: an idle mixer writes nothing."""
    first = True

    def show(report: MixerReport) -> None:
        nonlocal first
        if first or report.did_something:
            print_report(report)
        first = False

    return show


def mixer(
    config: Annotated[
        Path, typer.Option("--config", help="The deployment folder (or its quietline.toml).")
    ],
    demo: Annotated[
        bool,
        typer.Option("--demo", help="Use the demo mixing parameters instead of the config's."),
    ] = False,
    once: Annotated[
        bool, typer.Option("--once", help="Do one step and exit (1 if the step hit an error).")
    ] = False,
) -> None:
    """Run the mixer (CoverNode): pull the edge's queues, mix, publish dead drops."""
    try:
        settings = load_config(config).mixer
    except ConfigError as error:
        raise fail(str(error)) from None
    if demo:
        settings = replace(settings, u2j=DEMO_U2J, j2u=DEMO_J2U)
    anchor = load_json(settings.anchor, "organisation key", SignedKey.from_json)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    try:
        openers = Openers(settings.workers)
    except WorkersUnavailable as error:
        raise fail(f"cannot start the mixer's workers: {error}") from None
    with EdgeClient(settings.edge_url) as edge, MixerStore(settings.database) as store, openers:
        try:
            service = Mixer(settings, edge, [anchor], store, openers=openers)
        except KeyFolderError as error:
            raise fail(str(error)) from None
        typer.echo(
            f"mixer {settings.covernode_id}: pulling {settings.edge_url} every"
            f" {settings.poll_seconds:g} s, opening with {settings.workers} worker(s);"
            f" journalist dead drops: {_describe(settings.u2j)};"
            f" user dead drops: {_describe(settings.j2u)}"
        )
        last = run_steps(
            service.step,
            SystemClock(),
            stop,
            pause=lambda report, _now: 0 if report.backlog else settings.poll_seconds,
            on_step=_quietly(),
            once=once,
        )
    if once:
        raise typer.Exit(code=0 if last is not None and last.error is None else 1)
    typer.echo("mixer stopped")
