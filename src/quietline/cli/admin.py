"""``quietline admin``: the organisation's key ceremonies, run on an offline machine."""

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from quietline.admin.ceremony import CeremonyError, digest, enroll, init, publish, renew
from quietline.admin.covernode import DEFAULT_IDENTITIES, certify_mixer, mixer_keys
from quietline.admin.crowd import PRESETS, crowd_named, measure, mixing_for
from quietline.admin.layout import Layout
from quietline.admin.revocation import recipient_keys, revoke
from quietline.cli.files import fail
from quietline.cli.presets import presets_table
from quietline.config import MIXING_PRESETS, MixingOverride, load_config
from quietline.edge_client import EdgeClient, EdgeRefused, EdgeUnavailable
from quietline.edge_endpoint import BadEdgeSettings
from quietline.protocol.errors import MisuseError, ProtocolError, QuietlineError

admin = typer.Typer(
    help="Key ceremonies: create, enrol, certify, publish, renew and revoke keys.",
    no_args_is_help=True,
)

Folder = Annotated[
    Path, typer.Option("--config", help="The deployment folder (holds quietline.toml).")
]


def _now() -> datetime:
    return datetime.now(UTC)


def _layout(folder: Path) -> Layout:
    layout = Layout(folder)
    if not layout.config.exists():
        raise fail(
            f"{folder} is not a deployment folder; create one with: quietline admin init {folder}"
        )
    return layout


CROWD_QUESTION = (
    "How many source clients do you expect to run at once? A number, or small (100),"
    " medium (10,000), large (1,000,000); leave empty for CoverDrop's production mixing"
)


def _crowd_override(crowd: str | None, mixing: str | None) -> MixingOverride | None:
    """The mixing sized for ``--crowd`` (asked for at a terminal when neither it nor
    ``--mixing`` is given); None to keep the ``--mixing`` preset as it is."""
    if crowd is not None and mixing is not None:
        raise fail("give --crowd or --mixing, not both")
    if crowd is None and mixing is None and sys.stdin.isatty():
        crowd = typer.prompt(CROWD_QUESTION, default="", show_default=False) or None
    if crowd is None:
        return None
    try:
        return mixing_for(crowd_named(crowd))
    except MisuseError as error:
        raise fail(f"--crowd: {error}") from None


@admin.command("init")
def init_command(
    folder: Annotated[Path, typer.Argument(help="The folder to create the deployment in.")],
    crowd: Annotated[
        str | None,
        typer.Option(
            help="Size the mixing for this many running source clients, or a preset:"
            f" {', '.join(PRESETS)} (see `quietline admin presets`)."
        ),
    ] = None,
    mixing: Annotated[
        str | None,
        typer.Option(help="Mixing parameters by name: production (CoverDrop's) or demo."),
    ] = None,
    edge_port: Annotated[int, typer.Option(help="The port the edge listens on.")] = 8350,
) -> None:
    """Create the organisation root key, the provisioning keys, the mixer's first identity
    keys and the config (with mixing sized to the expected crowd)."""
    if mixing is not None and mixing not in MIXING_PRESETS:
        raise fail(f"--mixing must be one of: {', '.join(MIXING_PRESETS)}")
    override = _crowd_override(crowd, mixing)
    try:
        layout = init(
            folder, _now(), mixing=mixing or "production", edge_port=edge_port, override=override
        )
    except CeremonyError as error:
        raise fail(str(error)) from None
    typer.echo(f"created a deployment in {layout.folder}")
    if override is not None:
        typer.echo(override.comment)
    typer.echo(f"organisation key digest: {digest(layout)}")
    typer.echo("next: quietline admin enroll --config FOLDER --id ID --name NAME")


@admin.command("presets")
def presets_command(
    crowd: Annotated[
        list[str] | None,
        typer.Option(help="A crowd to measure (a number of clients or a preset); repeatable."),
    ] = None,
    days: Annotated[float, typer.Option(min=0.1, max=30, help="Simulated days per crowd.")] = 2.0,
    seed: Annotated[int, typer.Option(help="The simulation's random seed.")] = 1,
) -> None:
    """Print each crowd preset's mixing parameters and what they cost (delay, anonymity
    set, bandwidth), measured by driving the mixer's batch machine."""
    try:
        wanted = [(name, crowd_named(name)) for name in (crowd or list(PRESETS))]
    except MisuseError as error:
        raise fail(f"--crowd: {error}") from None
    rows = [(name, measure(each, days, seed)) for name, each in wanted]
    for line in presets_table(rows, days, seed):
        typer.echo(line)


@admin.command("enroll")
def enroll_command(
    folder: Folder,
    recipient_id: Annotated[str, typer.Option("--id", help="A stable id, e.g. news_desk.")],
    name: Annotated[str, typer.Option("--name", help="The name sources see.")],
    description: Annotated[str, typer.Option(help="One line sources see.")] = "",
    desk: Annotated[
        bool, typer.Option("--desk", help="A shared desk rather than a person.")
    ] = False,
    default: Annotated[
        bool, typer.Option("--default", help="The recipient sources get by default.")
    ] = False,
) -> None:
    """Create a recipient's identity and messaging keys and write its bundle for the desk."""
    try:
        path = enroll(
            _layout(folder),
            _now(),
            recipient_id=recipient_id,
            display_name=name,
            description=description,
            is_desk=desk,
            default=default,
        )
    except (CeremonyError, ProtocolError, MisuseError, OSError) as error:
        raise fail(str(error)) from None
    typer.echo(f"enrolled {recipient_id}; its bundle is {path} (give it to the desk, then publish)")


@admin.command("publish")
def publish_command(
    folder: Folder,
    edge: Annotated[str, typer.Option("--edge", help="The edge's base URL.")] = "",
) -> None:
    """Upload provisioning keys, identities and profiles to the edge (safe to repeat)."""
    layout = _layout(folder)
    url = edge or load_config(layout.config).mixer.edge_url
    try:
        with EdgeClient(url) as client:
            publish(layout, client, _now(), typer.echo)
    except (EdgeUnavailable, EdgeRefused, BadEdgeSettings, ProtocolError, OSError) as error:
        raise fail(f"publishing to {url} failed: {error}") from None


@admin.command("digest")
def digest_command(folder: Folder) -> None:
    """Print the organisation key's human digest, to show in videos and on posters."""
    typer.echo(digest(_layout(folder)))


@admin.command("renew")
def renew_command(folder: Folder) -> None:
    """Make successors for provisioning keys and recipient identities that are due."""
    try:
        made = renew(_layout(folder), _now(), typer.echo)
    except (ProtocolError, MisuseError, OSError) as error:
        raise fail(str(error)) from None
    typer.echo(f"renewed {made} keys" if made else "nothing is due for renewal")


@admin.command("certify-mixer")
def certify_mixer_command(
    folder: Folder,
    count: Annotated[
        int, typer.Option("--count", min=1, max=26, help="Identity keys, one per two weeks.")
    ] = DEFAULT_IDENTITIES,
) -> None:
    """Certify the mixer's next identity keys (the provisioning key never leaves here)."""
    try:
        certify_mixer(_layout(folder), _now(), typer.echo, count)
    except QuietlineError as error:
        raise fail(str(error)) from None
    typer.echo("then: quietline admin publish --config FOLDER")


@admin.command("revoke")
def revoke_command(
    folder: Folder,
    recipient: Annotated[
        str | None, typer.Option("--recipient", help="Revoke this recipient's keys.")
    ] = None,
    mixer: Annotated[
        bool, typer.Option("--mixer", help="Revoke every identity key of the (seized) mixer.")
    ] = False,
    key: Annotated[str | None, typer.Option("--key", help="Revoke one key (hex).")] = None,
) -> None:
    """Revoke keys with the organisation key; publish tells the edge and every client."""
    layout = _layout(folder)
    try:
        keys = [bytes.fromhex(key)] if key else []
    except ValueError:
        raise fail("--key must be a public key in hex") from None
    try:
        if recipient:
            keys += recipient_keys(layout, recipient)
        if mixer:
            keys += mixer_keys(layout, _now())
        revoke(layout, _now(), keys, typer.echo)
    except QuietlineError as error:
        raise fail(str(error)) from None
    typer.echo("then: quietline admin publish --config FOLDER")
