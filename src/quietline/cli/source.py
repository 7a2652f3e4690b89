"""``quietline source``: a source client from the command line (what a host app embeds).

``run`` is the client: it sends one message every period whether or not anyone wrote,
downloads keys and user dead drops on another schedule, and alone writes the client's
files, on that schedule. ``send`` and ``inbox`` talk to it through its socket, never to
the files. The message comes from standard input or a file, the passphrase from a prompt
or a file descriptor: never from an option or the environment, which show in the
process list.
"""

from __future__ import annotations

import io
import json
import os
import signal
import threading
import time
from collections.abc import Callable
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
    mailbox,
)
from quietline.client import passphrase as passphrases
from quietline.client.embed import ClientSettings, new_client, serve
from quietline.client.handoff import LOST, SENT
from quietline.client.ipc import SocketLink
from quietline.client.storage import Cache
from quietline.client.vault import DEFAULT_BLOCKS
from quietline.clock import SystemClock
from quietline.edge_client import EdgeClient
from quietline.edge_endpoint import BadEdgeSettings, EdgeEndpoint, parse_pin
from quietline.protocol.certificates import SignedKey
from quietline.protocol.encoding import format_rfc3339
from quietline.protocol.errors import ProtocolError, QuietlineError
from quietline.ui import forget_textual_settings, i18n
from quietline.ui.i18n import Language

source = typer.Typer(
    help="A source client: cover traffic on a schedule, real messages in its place.",
    no_args_is_help=True,
)


class ScheduleName(StrEnum):
    fixed = "fixed"
    memoryless = "memoryless"


VaultFolder = Annotated[
    Path,
    typer.Option("--vault", help="The client's folder (vault, cache); created by run."),
]
Anchors = Annotated[
    list[Path] | None,
    typer.Option(
        "--anchor",
        help="A pinned organisation key (JSON: key, certificate, not_valid_after); repeatable.",
    ),
]
# How often a waiting ``send`` says it is still waiting.
WAIT_STEP_S = 30.0


def _pinned(paths: list[Path] | None) -> list[SignedKey]:
    if paths:
        return [load_json(path, "organisation key", SignedKey.from_json) for path in paths]
    raise fail("no organisation anchor: pass --anchor (the organisation's public key file)")


def _link_and_anchors(folder: Path, paths: list[Path] | None) -> tuple[SocketLink, list[SignedKey]]:
    """The running client's socket, and the anchors: given, or those the run loop pins."""
    link = SocketLink(SourceStorage(folder).socket_path)
    if paths:
        return link, _pinned(paths)
    try:
        recorded = Cache.from_json(link.snapshot().cache).anchors
    except QuietlineError as error:
        raise fail(str(error)) from None
    if not recorded:
        raise fail("no organisation anchor: pass --anchor (the organisation's public key file)")
    return link, recorded


REPLACE_ANSWER = "replace the vault"


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
    kdf: Kdf = KdfName.moderate,
    vault_blocks: Annotated[
        int,
        typer.Option(
            "--vault-blocks",
            min=2,
            max=65536,
            help="Size of a new vault in blocks of 29 bytes (each costs about a millisecond "
            "of CPU per send to re-randomise); fixed when the folder is set up.",
        ),
    ] = DEFAULT_BLOCKS,
    proxy: Annotated[
        str | None,
        typer.Option(
            "--proxy",
            help="Reach the edge only through this proxy: socks5h://HOST:PORT (the proxy "
            "looks up the edge's name: a VPN's or Tor's), or http(s)://HOST:PORT (CONNECT; "
            "needs an https:// edge). Never taken from the environment.",
        ),
    ] = None,
    ca_file: Annotated[
        Path | None,
        typer.Option("--ca-file", help="Trust only this CA (PEM) for the edge's certificate."),
    ] = None,
    pin_sha256: Annotated[
        list[str] | None,
        typer.Option(
            "--pin-sha256",
            help="Talk only to an edge whose certificate's key has this pin (base64 "
            "SHA-256 of its SubjectPublicKeyInfo); repeatable, for a key change.",
        ),
    ] = None,
) -> None:
    """Send one fixed-size message every period, real or cover, until Ctrl-C or SIGTERM.

    The first run sets up the folder: a vault sealed under a random key nobody sees (its
    passphrase cost set by --kdf-cost, for every passphrase it will ever take)."""
    storage = SourceStorage(vault, vault_blocks=vault_blocks)
    pinned = _pinned(anchor)
    try:
        pins = frozenset(parse_pin(pin) for pin in pin_sha256 or ())
        connection = EdgeClient(EdgeEndpoint(edge, proxy, ca_file, pins))
    except BadEdgeSettings as error:
        raise fail(str(error)) from None
    stop = threading.Event()

    def request_stop(_signal: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    typer.echo(
        f"source client in {vault}: one message every {period:g} s ({schedule.value}), "
        f"keys and replies downloaded every {download_period:g} s; Ctrl-C stops"
    )
    with alone(storage.running_path, "source run"), connection:
        try:
            settings = ClientSettings(period, download_period, schedule.value, KDF_COSTS[kdf])
            client = new_client(connection, pinned, storage, settings)
            serve(client, SystemClock(), stop, on_step=_status_printer(client))
        except (StorageError, ProtocolError) as error:
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
            help="First message from this device: a new vault under a passphrase made for "
            "you and shown once. Any vault there is destroyed, so this asks for a typed "
            "confirmation first.",
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
    wait: Annotated[
        bool,
        typer.Option(
            "--wait/--no-wait",
            help="Wait until the running client has sent it (the default), or return once "
            "it is queued.",
        ),
    ] = True,
    anchor: Anchors = None,
    passphrase_fd: PassphraseFd = None,
) -> None:
    """Queue a real message (read from standard input or --message-file) with the running
    client: it goes out at its next send in place of cover, so the traffic is unchanged."""
    if replace_existing_vault and not new:
        raise fail("--replace-existing-vault only goes with --new")
    if new and passphrase_fd is not None:
        raise fail("--new makes a passphrase for you: it takes no --passphrase-fd")
    text = read_message(message_file)  # a text that cannot go is refused first
    link, anchors = _link_and_anchors(vault, anchor)
    now = SystemClock().now()
    try:
        if new:
            if not replace_existing_vault and not _typed_confirmation(
                f"This starts over in {vault} with a new passphrase. If you have written from "
                "this device before, the old conversation and the key its replies need are "
                "destroyed for good (on a device nobody used, nothing is lost)."
            ):
                raise fail(
                    "nothing was replaced. To start over, confirm at the terminal or pass "
                    "--replace-existing-vault"
                )
            words, queued = mailbox.begin(link, anchors, to, text, now=now)
            typer.echo(passphrases.shown(words))
        else:
            passphrase = read_passphrase("Passphrase", confirm=False, fd=passphrase_fd)
            queued = mailbox.send(link, anchors, passphrase, to, text, now=now)
    except QuietlineError as error:
        raise fail(str(error)) from None
    redirected = f" (who took over from {to})" if queued.recipient_id != to else ""
    typer.echo(f"queued for {queued.recipient_id}{redirected}: it replaces the next cover message")
    if wait:
        _wait_until_sent(link, queued.ticket)


def _wait_until_sent(link: SocketLink, ticket: int) -> None:
    """Wait, saying so, until the running client has sent the message or stopped."""
    started = time.monotonic()
    while True:
        try:
            state = link.wait_sent(ticket, WAIT_STEP_S)
        except QuietlineError as error:
            raise fail(f"the message may not have been sent: {error}") from None
        if state == SENT:
            typer.echo("sent")
            return
        if state == LOST:
            raise fail(
                "the client stopped before sending the message: it was not sent. Start "
                "`quietline source run` again and send it again"
            )
        waited = time.monotonic() - started
        typer.echo(f"still waiting for the next send ({waited:.0f} s); Ctrl-C stops waiting")


@source.command("ui")
def ui_command(
    vault: VaultFolder,
    anchor: Anchors = None,
    language: Annotated[
        Language | None,
        typer.Option(
            "--language",
            help="en or zh_CN (Simplified Chinese); by default the locale's (LANGUAGE, "
            "LC_ALL, LC_MESSAGES, LANG).",
        ),
    ] = None,
) -> None:
    """A terminal app in front of the running client: check the organisation's key, unlock
    or start new, write and read. It talks to `quietline source run` through its socket,
    so nothing done in it changes what the client sends or writes, nor when."""
    # Textual loads slowly: only this command pays for it, and reads its settings from
    # the environment as it loads.
    forget_textual_settings(os.environ)
    from quietline.ui.app import SourceApp  # noqa: PLC0415
    from quietline.ui.session import Session  # noqa: PLC0415

    link, anchors = _link_and_anchors(vault, anchor)
    chosen = language or i18n.from_environment(os.environ)
    SourceApp(Session(link, anchors, SystemClock()), i18n.translations(chosen)).run()


@source.command("inbox")
def inbox_command(
    vault: VaultFolder,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    anchor: Anchors = None,
    passphrase_fd: PassphraseFd = None,
) -> None:
    """Show the replies found in the dead drops the running client downloaded."""
    link, anchors = _link_and_anchors(vault, anchor)
    passphrase = read_passphrase("Passphrase", confirm=False, fd=passphrase_fd)
    try:
        replies = mailbox.inbox(link, anchors, passphrase, now=SystemClock().now())
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
