"""The ``quietline`` command line."""

import typer

from quietline.cli.admin import admin
from quietline.cli.interop import interop

app = typer.Typer(
    name="quietline",
    help="Quietline: reach an organisation without anyone being able to tell that you did.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(interop, name="interop")
app.add_typer(admin, name="admin")


def main() -> None:
    app()
