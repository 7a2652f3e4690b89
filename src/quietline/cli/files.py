"""What every command shares: reading the JSON files an operator points it at, status
lines, and errors a person can act on."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import typer

from quietline.keystore import read_json
from quietline.protocol.encoding import parse_rfc3339
from quietline.protocol.errors import ProtocolError
from quietline.runner import AlreadyRunning, StepReport, running_alone

T = TypeVar("T")


def fail(message: str) -> typer.Exit:
    """Print ``message`` to stderr and return the exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


def load_json(path: Path, what: str, parse: Callable[[object], T]) -> T:
    """Read ``path`` as JSON and parse it; exits with a clear message on any failure."""
    try:
        document = read_json(path)
    except OSError as error:
        raise fail(f"cannot read {what} from {path}: {error.strerror}") from None
    except ProtocolError as error:
        raise fail(f"{error} ({what})") from None
    try:
        return parse(document)
    except ProtocolError as error:
        raise fail(f"{path} is not a valid {what}: {error}") from None


def parse_now(text: str) -> datetime:
    try:
        return parse_rfc3339(text)
    except ProtocolError:
        raise fail(
            f"--now must be an RFC 3339 time such as 2023-10-04T19:06:51Z, not {text!r}"
        ) from None


@contextmanager
def alone(lock_path: Path, what: str) -> Iterator[None]:
    """Run the block as the only ``what`` on these files (see
    :func:`quietline.runner.running_alone`); exits with a clear message otherwise."""
    try:
        with running_alone(lock_path, what):
            yield
    except AlreadyRunning as error:
        raise fail(str(error)) from None


def print_report(report: StepReport) -> None:
    """A service step's notes, then its status line, each stamped with the step's time."""
    stamp = report.at.strftime("%H:%M:%S")
    for note in report.notes:
        typer.echo(f"[{stamp}] {note}")
    typer.echo(f"[{stamp}] {report.line()}")
