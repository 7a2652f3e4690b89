"""``quietline source``: a source client from the command line (what a host app embeds).

``run`` sends the head of the private sending queue on a fixed schedule whether or not
anyone wrote, and downloads keys and user dead drops on another; ``send`` puts a real
message in place of the next cover message; ``inbox`` reads replies. The message comes
from standard input or a file, the passphrase from a prompt or a file descriptor:
never from an option or the environment, which show in the process list.
"""

from __future__ import annotations

import io
import json
import os
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
from quietline.cli.passphrase import KDF_COSTS, Kdf, KdfName, PassphraseFd, read_passphrase
from quietline.cli.textinput import MessageFile, read_message
from quietline.client import (
    SourceClient,
    SourceStorage,
    StorageError,
    TickOutcome,
    WrongPassphrase,
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


REPLACE_ANSWER = "replace the vault"


def _passphrase(confirm: bool, fd: int | None) -> str:
    return read_passphrase("Vault passphrase", confirm=confirm, fd=fd)


def _typed_confirmation(question: str) -> bool:
    """Whether the person at the terminal typed REPLACE_ANSWER after ``question``; False
    when there is no terminal (standard input may be the message, so ask /dev/tty)."""
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return False
    # Unbuffered both ways, as getpass does: a terminal cannot seek, so no "r+" file.
    with io.TextIOWrapper(io.FileIO(fd, "r+"), encoding="utf-8", errors="replace") as terminal:
        terminal.write(f"{question}\nType '{REPLACE_ANSWER}' to go on: ")
        terminal.flush()
        return terminal.readline().strip() == REPLACE_ANSWER


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
    message_file: MessageFile = None,
    new: Annotated[
        bool,
        typer.Option(
            "--new",
            help="First message from this device: create a vault under this passphrase. If "
            "the passphrase does not open the vault there, that vault is destroyed, so this "
            "asks for a typed confirmation first.",
        ),
    ] = False,
    replace_existing_vault: Annotated[
        bool,
        typer.Option(
            "--replace-existing-vault",
            help="With --new, for scripts: replace the vault without asking, losing whatever "
            "conversation and reply key it held.",
        ),
    ] = False,
    anchor: Anchors = None,
    kdf: Kdf = KdfName.moderate,
    passphrase_fd: PassphraseFd = None,
) -> None:
    """Queue a real message (read from standard input or --message-file); it replaces the
    next cover message, so the traffic is unchanged."""
    if replace_existing_vault and not new:
        raise fail("--replace-existing-vault only goes with --new")
    client = _client(vault, anchor, kdf)
    text = read_message(message_file)
    passphrase = _passphrase(confirm=new and passphrase_fd is None, fd=passphrase_fd)
    now = SystemClock().now()
    try:
        try:
            # Already confirmed: one attempt that opens the vault or replaces it.
            recipient = client.send(passphrase, to, text, new=replace_existing_vault, now=now)
        except WrongPassphrase:
            if not new:
                raise
            if not replace_existing_vault and not _typed_confirmation(
                f"This passphrase does not open the vault in {vault}. If you have written "
                "from this device before, you probably mistyped it: a new vault destroys the "
                "old one, with your conversation and the key replies need, for good."
            ):
                raise fail(
                    f"the passphrase did not open the vault in {vault}, and nothing was "
                    "replaced. If you mistyped it, try again. To start over, destroying "
                    "whatever the vault holds, confirm at the terminal or pass "
                    "--replace-existing-vault"
                ) from None
            recipient = client.send(passphrase, to, text, new=True, now=now)
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
    passphrase_fd: PassphraseFd = None,
) -> None:
    """Show the replies found in the downloaded dead drops."""
    client = _client(vault, anchor, kdf)
    passphrase = _passphrase(confirm=False, fd=passphrase_fd)
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
