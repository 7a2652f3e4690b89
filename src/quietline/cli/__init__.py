"""The ``quietline`` command line."""

from importlib import metadata
from typing import Annotated

import typer

from quietline.cli.admin import admin
from quietline.cli.demo import demo
from quietline.cli.desk import desk
from quietline.cli.edge import edge
from quietline.cli.interop import interop
from quietline.cli.mixer import mixer
from quietline.cli.source import source
from quietline.cli.status import status

app = typer.Typer(
    name="quietline",
    help="Quietline: reach an organisation without anyone being able to tell that you did.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def show_version(wanted: bool) -> None:
    if wanted:
        # The installed metadata, so pyproject.toml stays the one place the version is written.
        typer.echo(f"quietline {metadata.version('quietline')}")
        raise typer.Exit


@app.callback()
def options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Options that come before any command."""


app.add_typer(interop, name="interop")
app.add_typer(source, name="source")
app.add_typer(admin, name="admin")
app.add_typer(desk, name="desk")
app.command("mixer")(mixer)
app.command("edge")(edge)
app.command("demo")(demo)
app.command("status")(status)


def main() -> None:
    app()
