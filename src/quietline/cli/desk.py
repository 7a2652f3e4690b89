"""``quietline desk``: the recipients' client, on a trusted machine of the organisation.

The vault's passphrase comes from a prompt, or from a file descriptor for scripts
(``--passphrase-fd N``); a reply's text from standard input or a file. Neither is ever
an option or an environment variable, which show in the process list.
Nothing here writes a log file: the status lines go to the terminal only.
"""

import json
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from quietline.cli.files import alone, fail, load_json, print_report
from quietline.cli.passphrase import KDF_COSTS, Kdf, KdfName, PassphraseFd, read_passphrase
from quietline.cli.textinput import MessageFile, read_message
from quietline.clock import SystemClock
from quietline.config import Config, ConfigError, load_config
from quietline.desk.service import Desk
from quietline.desk.state import (
    Conversation,
    DeskState,
    Flow,
    coarse,
    recipient_from_bundle,
)
from quietline.desk.store import DeskStore, NoDesk
from quietline.desk.web.app import DeskWeb
from quietline.desk.web.server import NotLoopback, require_loopback, serve
from quietline.edge_client import EdgeClient
from quietline.keystore import Bundle
from quietline.protocol.certificates import SignedKey
from quietline.protocol.encoding import format_rfc3339
from quietline.protocol.errors import ProtocolError, QuietlineError
from quietline.runner import run_steps
from quietline.vault import VaultLocked

desk = typer.Typer(
    help="The recipients' desk: read what sources send, reply, hand sources over.",
    no_args_is_help=True,
)

Folder = Annotated[
    Path, typer.Option("--config", help="The deployment folder (holds quietline.toml).")
]
Source = Annotated[str, typer.Argument(help="The source: the first 8 hex characters of its key.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _now() -> datetime:
    return SystemClock().now()


def _config(folder: Path) -> Config:
    try:
        return load_config(folder)
    except ConfigError as error:
        raise fail(str(error)) from None


def _anchors(config: Config) -> list[SignedKey]:
    def parse(obj: object) -> list[SignedKey]:
        items = obj if isinstance(obj, list) else [obj]
        return [SignedKey.from_json(item) for item in items]

    return load_json(config.desk.anchor, "organisation key", parse)


def _passphrase(*, confirm: bool, fd: int | None) -> str:
    return read_passphrase("Desk vault passphrase", confirm=confirm and fd is None, fd=fd)


def _store(config: Config, kdf: KdfName) -> DeskStore:
    return DeskStore(config.desk.vault, KDF_COSTS[kdf])


def _unlock(store: DeskStore, passphrase_fd: int | None) -> None:
    try:
        store.unlock(_passphrase(confirm=False, fd=passphrase_fd))
    except NoDesk as error:
        raise fail(f"{error} (quietline desk add-recipient BUNDLE)") from None
    except VaultLocked:
        raise fail(
            f"the passphrase does not open the desk vault at {store.path}"
            " (or it was made with another --kdf-cost)"
        ) from None


def _running(config: Config) -> Path:
    """The lock file that lets one desk run or desk serve at a time work on the vault."""
    vault = config.desk.vault
    return vault.with_name(vault.name + ".running")


def _the_desk(config: Config, store: DeskStore, edge: EdgeClient, anchors: list[SignedKey]) -> Desk:
    period = timedelta(seconds=config.desk.period_seconds)
    return Desk(store, edge, anchors, period, config.desk.keep_messages)


@contextmanager
def _desk(
    folder: Path, kdf: KdfName, passphrase_fd: int | None, *, create: bool = False
) -> Iterator[Desk]:
    """The desk of the deployment in ``folder``, unlocked (created first if asked)."""
    config = _config(folder)
    anchors = _anchors(config)
    store = _store(config, kdf)
    if create and not store.exists():
        store.create(_passphrase(confirm=True, fd=passphrase_fd), DeskState())
        typer.echo(f"created the desk vault {store.path}")
    else:
        _unlock(store, passphrase_fd)
    with EdgeClient(config.desk.edge_url) as edge:
        try:
            yield _the_desk(config, store, edge, anchors)
        except QuietlineError as error:
            raise fail(str(error)) from None


@desk.command("add-recipient")
def add_recipient(
    folder: Folder,
    bundle_path: Annotated[
        Path, typer.Argument(help="The bundle `quietline admin enroll` wrote.", metavar="BUNDLE")
    ],
    kdf: Kdf = KdfName.moderate,
    passphrase_fd: PassphraseFd = None,
) -> None:
    """Import a recipient (creating the vault on first use); publish its messaging key."""
    bundle = load_json(bundle_path, "recipient bundle", Bundle.from_json)
    try:
        recipient = recipient_from_bundle(bundle)
    except ProtocolError as error:
        raise fail(f"{bundle_path} is not a usable recipient bundle: {error}") from None
    with _desk(folder, kdf, passphrase_fd, create=True) as the_desk:
        problems: list[str] = []
        new = the_desk.add_recipient(recipient, _now(), problems.append)
    verb = "added" if new else "updated"
    typer.echo(f"{verb} recipient {recipient.id} ({recipient.profile.display_name})")
    for problem in problems:
        typer.echo(f"note: {problem}", err=True)


@desk.command("run")
def run(
    folder: Folder,
    once: Annotated[bool, typer.Option("--once", help="Do one period's work and stop.")] = False,
    kdf: Kdf = KdfName.moderate,
    passphrase_fd: PassphraseFd = None,
) -> None:
    """Read dead drops, store messages, send one J2C (reply or cover) every period."""
    stopping = threading.Event()

    def stop(_signal: int, _frame: FrameType | None) -> None:
        stopping.set()

    # Ctrl-C and SIGTERM end the loop between steps, never inside one: a step that sent a
    # reply always records it before the desk stops.
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        # Refused before the passphrase is asked for, when another one runs on this vault.
        with (
            alone(_running(_config(folder)), "desk run"),
            _desk(folder, kdf, passphrase_fd) as the_desk,
        ):
            typer.echo(f"desk running; one J2C every {the_desk.period.total_seconds():g} s")

            run_steps(
                the_desk.step,
                SystemClock(),
                stopping,
                pause=the_desk.pause,
                on_step=print_report,
                once=once,
            )
            if once:
                return
            typer.echo("desk stopped")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _summary(conversation: Conversation, queued: set[int]) -> dict[str, Any]:
    messages = conversation.messages
    return {
        "source": conversation.short_id,
        "reply_key": conversation.reply_key.hex(),
        "recipient": conversation.recipient_id,
        "handed_over_to": conversation.handed_over_to,
        "received": sum(m.direction is Flow.IN for m in messages),
        "sent": sum(m.direction is Flow.OUT and m.sent_at is not None for m in messages),
        "queued": sum(m.id in queued for m in messages),
        "last_at": format_rfc3339(coarse(max(m.at for m in messages))) if messages else None,
    }


@desk.command("sources")
def sources(
    folder: Folder,
    as_json: AsJson = False,
    kdf: Kdf = KdfName.moderate,
    passphrase_fd: PassphraseFd = None,
) -> None:
    """List the sources who wrote to this desk's recipients."""
    with _desk(folder, kdf, passphrase_fd) as the_desk:
        state = the_desk.store.read()
    queued = set(state.outbox)
    newest_first = sorted(state.conversations.values(), key=lambda c: c.latest, reverse=True)
    rows = [_summary(c, queued) for c in newest_first]
    if as_json:
        typer.echo(json.dumps({"sources": rows}))
        return
    if not rows:
        typer.echo("no sources yet")
        return
    for row in rows:
        status = f"handed over to {row['handed_over_to']}" if row["handed_over_to"] else ""
        typer.echo(
            f"{row['source']}  {row['recipient']:<24} in {row['received']:>3}  "
            f"out {row['sent']:>3}  queued {row['queued']}  {row['last_at']}  {status}".rstrip()
        )


@desk.command("thread")
def thread(
    folder: Folder,
    source: Source,
    as_json: AsJson = False,
    kdf: Kdf = KdfName.moderate,
    passphrase_fd: PassphraseFd = None,
) -> None:
    """Show every message exchanged with one source."""
    with _desk(folder, kdf, passphrase_fd) as the_desk:
        state = the_desk.store.read()
        conversation = state.conversation(source)
    queued = set(state.outbox)
    if as_json:
        document = _summary(conversation, queued)
        document["messages"] = [
            {**m.to_json(), "queued": m.id in queued} for m in conversation.messages
        ]
        for message in document["messages"]:
            message.pop("digest", None)
        typer.echo(json.dumps(document))
        return
    typer.echo(f"source {conversation.short_id}, with {conversation.recipient_id}")
    for message in conversation.messages:
        when = format_rfc3339(coarse(message.at))
        if message.direction is Flow.IN:
            typer.echo(f"{when}  source → {message.recipient_id}: {message.text}")
            continue
        if message.id in queued:
            state_text = "queued"
        else:
            state_text = "sent" if message.sent_at is not None else "dropped, never sent"
        what = f"handover to {message.text}" if message.kind.value == "handover" else message.text
        typer.echo(f"{when}  {message.recipient_id} → source ({state_text}): {what}")


@desk.command("reply")
def reply(
    folder: Folder,
    source: Source,
    message_file: MessageFile = None,
    as_recipient: Annotated[
        str | None,
        typer.Option("--as", help="Reply as this recipient (default: the source's recipient)."),
    ] = None,
    kdf: Kdf = KdfName.moderate,
    passphrase_fd: PassphraseFd = None,
) -> None:
    """Queue a reply (read from standard input or --message-file); it replaces the desk's
    next cover message."""
    text = read_message(message_file)
    with _desk(folder, kdf, passphrase_fd) as the_desk:
        conversation, queued = the_desk.reply(source, text, _now(), as_recipient)
        position = len(the_desk.store.read().outbox)
    typer.echo(
        f"queued a reply to {conversation.short_id} from {queued.recipient_id} "
        f"({position} in the outbox; one leaves per period)"
    )


@desk.command("handover")
def handover_command(
    folder: Folder,
    source: Source,
    to: Annotated[str, typer.Option("--to", help="The recipient who takes the source over.")],
    kdf: Kdf = KdfName.moderate,
    passphrase_fd: PassphraseFd = None,
) -> None:
    """Tell a source another recipient takes over (moving it if on this desk)."""
    with _desk(folder, kdf, passphrase_fd) as the_desk:
        result = the_desk.handover(source, to, _now())
    if result.moved:
        typer.echo(f"handed {source} over to {to} on this desk; the source is told next period")
    else:
        typer.echo(f"{to} is not on this desk: the source is told to write to {to}")


@desk.command("serve")
def serve_command(
    folder: Folder,
    host: Annotated[
        str, typer.Option("--host", help="A loopback address: 127.0.0.1, ::1 or localhost.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8470,
    lock_after: Annotated[
        float,
        typer.Option("--lock-after", min=0.1, help="Minutes without use before the pages lock."),
    ] = 10.0,
    kdf: Kdf = KdfName.moderate,
    passphrase_fd: PassphraseFd = None,
) -> None:
    """Serve the desk as a local web app and run its loop (one J2C every period).

    The pages open with the vault's passphrase and lock after --lock-after minutes
    without use or when asked. The loop starts at the first unlock (or at once with
    --passphrase-fd, for an unattended desk) and keeps its schedule while the pages are
    locked. Only one desk serve or desk run works on a vault at a time.
    """
    try:
        require_loopback(host)
    except NotLoopback as error:
        raise fail(str(error)) from None
    config = _config(folder)
    store = _store(config, kdf)
    if not store.exists():
        raise fail(f"no desk vault at {store.path} (quietline desk add-recipient BUNDLE)")
    with alone(_running(config), "desk serve"), EdgeClient(config.desk.edge_url) as edge:
        if passphrase_fd is not None:
            _unlock(store, passphrase_fd)
        the_desk = _the_desk(config, store, edge, _anchors(config))
        web = DeskWeb(the_desk, SystemClock(), timedelta(minutes=lock_after))
        serve(
            web, host, port, on_step=print_report,
            on_ready=lambda url: typer.echo(f"desk serving at {url} (Ctrl-C stops it)"),
            unlocked=passphrase_fd is not None,
        )  # fmt: skip
    typer.echo("desk stopped")
