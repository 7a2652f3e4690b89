"""``quietline source``: a source client from the command line (what a host app embeds).

``run`` sends the head of the private sending queue on a fixed schedule whether or not
anyone wrote, and downloads keys and user dead drops on another; ``send`` puts a real
message in place of the next cover message; ``inbox`` reads replies. The passphrase
comes from a prompt, or from QUIETLINE_PASSPHRASE for scripts (never from an option:
options show in process lists).
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from quietline.cli.files import alone, fail, load_json
from quietline.cli.passphrase import KDF_COSTS, Kdf, KdfName, read_passphrase
from quietline.client import (
    SourceClient,
    SourceStorage,
    StorageError,
    TickOutcome,
    schedule_named,
)
from quietline.clock import SystemClock
from quietline.edge_client import EdgeClient
from quietline.protocol.certificates import SignedKey
from quietline.protocol.encoding import format_rfc3339
from quietline.protocol.errors import QuietlineError
from quietline.runner import run_steps

source = typer.Typer(
    help="A source client: cover traffic on a schedule, real messages in its place.",
    no_args_is_help=True,
)


class ScheduleName(StrEnum):
    fixed = "fixed"
    memoryless = "memoryless"


VaultFolder = Annotated[
    Path,
    typer.Option("--vault", help="The client's folder (queue, vault, cache); created by run."),
]
Anchors = Annotated[
    list[Path] | None,
    typer.Option(
        "--anchor",
        help="A pinned organisation key (JSON: key, certificate, not_valid_after); repeatable.",
    ),
]


def _anchors(paths: list[Path] | None, storage: SourceStorage | None = None) -> list[SignedKey]:
    if paths:
        return [load_json(path, "organisation key", SignedKey.from_json) for path in paths]
    if storage is not None and storage.is_installed():
        try:
            recorded = storage.read_cache().anchors
        except StorageError as error:
            raise fail(str(error)) from None
        if recorded:
            return recorded
    raise fail("no organisation anchor: pass --anchor (the organisation's public key file)")


def _passphrase(confirm: bool) -> str:
    return read_passphrase("Vault passphrase", confirm=confirm)


def _client(folder: Path, anchors: list[Path] | None, kdf: KdfName) -> SourceClient:
    storage = SourceStorage(folder, kdf_cost=KDF_COSTS[kdf])
    try:
        storage.require_installed()
    except StorageError as error:
        raise fail(str(error)) from None
    return SourceClient(None, _anchors(anchors, storage), storage)


def _status_printer(client: SourceClient) -> Callable[[TickOutcome], None]:
    def show(outcome: TickOutcome) -> None:
        counters = client.counters
        when = format_rfc3339(outcome.at.replace(microsecond=0))
        for failure in outcome.notes:
            typer.echo(f"{when} {failure}")
        if outcome.sent:
            typer.echo(
                f"{when} sent message {counters.sends} · send failures {counters.send_failures}"
                f" · downloads {counters.downloads} (failed {counters.download_failures})"
            )

    return show


@source.command("run")
def run_command(
    edge: Annotated[str, typer.Option("--edge", help="The edge's base URL.")],
    vault: VaultFolder,
    anchor: Anchors = None,
    period: Annotated[
        float, typer.Option("--period", min=0.01, help="Seconds between sends (the mean).")
    ] = 60.0,
    download_period: Annotated[
        float, typer.Option("--download-period", min=0.01, help="Seconds between downloads.")
    ] = 300.0,
    schedule: Annotated[
        ScheduleName, typer.Option("--schedule", help="fixed: every period; memoryless: random.")
    ] = ScheduleName.fixed,
) -> None:
    """Send one fixed-size message every period, real or cover, until Ctrl-C or SIGTERM."""
    storage = SourceStorage(vault)
    pinned = _anchors(anchor)
    stop = threading.Event()

    def request_stop(_signal: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    typer.echo(
        f"source client in {vault}: one message every {period:g} s ({schedule.value}), "
        f"keys and replies downloaded every {download_period:g} s; Ctrl-C stops"
    )
    with alone(storage.running_path, "source run"), EdgeClient(edge) as connection:
        try:
            storage.install()  # draws this installation's schedule phases the first time
        except StorageError as error:
            raise fail(str(error)) from None
        sends = timedelta(seconds=period)
        downloads = timedelta(seconds=download_period)
        client = SourceClient(
            connection,
            pinned,
            storage,
            send_schedule=schedule_named(schedule.value, sends, storage.schedule_phase("send")),
            download_schedule=schedule_named(
                "fixed", downloads, storage.schedule_phase("download")
            ),
        )
        try:
            run_steps(
                client.tick,
                SystemClock(),
                stop,
                pause=client.pause,
                on_step=_status_printer(client),
            )
        except StorageError as error:
            raise fail(str(error)) from None
    counters = client.counters
    typer.echo(
        f"stopped after {counters.sends} sends ({counters.send_failures} failed) and "
        f"{counters.downloads} downloads ({counters.download_failures} failed)"
    )


@source.command("send")
def send_command(
    vault: VaultFolder,
    to: Annotated[str, typer.Option("--to", help="The recipient's id (see the profiles).")],
    message: Annotated[str, typer.Option("--message", help="What to write.")],
    new: Annotated[
        bool,
        typer.Option(
            "--new",
            help="First message from this device: create the vault under this passphrase "
            "(replacing any vault this passphrase does not open).",
        ),
    ] = False,
    anchor: Anchors = None,
    kdf: Kdf = KdfName.moderate,
) -> None:
    """Queue a real message; it replaces the next cover message, so the traffic is unchanged."""
    client = _client(vault, anchor, kdf)
    passphrase = _passphrase(confirm=new)
    try:
        recipient = client.send(passphrase, to, message, new=new, now=SystemClock().now())
    except QuietlineError as error:
        raise fail(str(error)) from None
    redirected = f" (who took over from {to})" if recipient != to else ""
    typer.echo(f"queued for {recipient}{redirected}; it goes out in place of a cover message")


@source.command("inbox")
def inbox_command(
    vault: VaultFolder,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    anchor: Anchors = None,
    kdf: Kdf = KdfName.moderate,
) -> None:
    """Show the replies found in the downloaded dead drops."""
    client = _client(vault, anchor, kdf)
    passphrase = _passphrase(confirm=False)
    try:
        replies = client.inbox(passphrase, SystemClock().now())
    except QuietlineError as error:
        raise fail(str(error)) from None
    if as_json:
        typer.echo(json.dumps({"replies": [r.to_json() for r in replies]}, ensure_ascii=False))
        return
    for reply in replies:
        when = format_rfc3339(reply.received_at)
        if reply.kind == "handover":
            typer.echo(f"{when} {reply.journalist_id}: handed you over to {reply.text}")
        else:
            typer.echo(f"{when} {reply.journalist_id}: {reply.text}")
    typer.echo(f"{len(replies)} replies")
