"""The ``quietline`` command line."""

import typer

from quietline.cli.admin import admin
from quietline.cli.demo import demo
from quietline.cli.desk import desk
from quietline.cli.edge import edge
from quietline.cli.interop import interop
from quietline.cli.mixer import mixer
from quietline.cli.source import source

app = typer.Typer(
    name="quietline",
    help="Quietline: reach an organisation without anyone being able to tell that you did.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(interop, name="interop")
app.add_typer(source, name="source")
app.add_typer(admin, name="admin")
app.add_typer(desk, name="desk")
app.command("mixer")(mixer)
app.command("edge")(edge)
app.command("demo")(demo)


def main() -> None:
    app()
