"""Vault passphrases and their Argon2id cost, the same for the source and desk commands.

A passphrase comes from a hidden prompt on the terminal, or, for scripts, from a file
descriptor the caller opened (``--passphrase-fd N``, as gpg does): never from an option
or an environment variable, which other programs on the machine can read in /proc.
"""

import os
import sys
from enum import StrEnum
from typing import Annotated

import typer

from quietline.cli.files import fail
from quietline.vault import INTERACTIVE, MODERATE, KdfCost

# Longer than any passphrase a person types; a descriptor that gives more is a mistake.
MAX_PASSPHRASE_BYTES = 4096


class KdfName(StrEnum):
    moderate = "moderate"
    interactive = "interactive"


KDF_COSTS: dict[KdfName, KdfCost] = {KdfName.moderate: MODERATE, KdfName.interactive: INTERACTIVE}

Kdf = Annotated[
    KdfName,
    typer.Option(
        "--kdf-cost",
        help="Argon2id cost of the vault passphrase; interactive is for tests and demos only.",
    ),
]
PassphraseFd = Annotated[
    int | None,
    typer.Option(
        "--passphrase-fd",
        min=0,
        help="Read the passphrase from this open file descriptor (its first line) instead "
        "of asking at the terminal; for scripts.",
    ),
]


def has_terminal() -> bool:
    """Whether this process can talk to a person at a terminal (its controlling one)."""
    try:
        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
    except OSError:
        return sys.stdin.isatty()
    return True


def passphrase_from_fd(fd: int) -> str:
    """The first line read from descriptor ``fd`` (left open: the caller owns it); exits
    with a clear error when it cannot be read or is not UTF-8."""
    chunks: list[bytes] = []
    try:
        with os.fdopen(fd, "rb", buffering=0, closefd=False) as stream:
            while sum(map(len, chunks)) <= MAX_PASSPHRASE_BYTES:
                chunk = stream.read(MAX_PASSPHRASE_BYTES + 1)
                if not chunk:
                    break
                chunks.append(chunk)
                if b"\n" in chunk:
                    break
    except OSError as error:
        reason = error.strerror
        raise fail(f"cannot read the passphrase from file descriptor {fd}: {reason}") from None
    line = b"".join(chunks).split(b"\n", 1)[0].removesuffix(b"\r")
    if len(line) > MAX_PASSPHRASE_BYTES:
        raise fail(f"the passphrase from file descriptor {fd} is longer than 4096 bytes")
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        raise fail(f"the passphrase from file descriptor {fd} is not UTF-8 text") from None


def read_passphrase(prompt: str, *, confirm: bool, fd: int | None) -> str:
    """The passphrase from descriptor ``fd`` if given, else from a hidden prompt at the
    terminal (typed twice with ``confirm``). Exits with a clear error when there is no
    terminal to ask at or the passphrase is empty."""
    if fd is not None:
        passphrase = passphrase_from_fd(fd)
    elif not has_terminal():
        raise fail("no terminal to ask for the passphrase at: give it with --passphrase-fd N")
    else:
        passphrase = typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=True)
    if not passphrase:
        raise fail("the passphrase is empty")
    return passphrase
