"""Vault passphrases and their Argon2id cost, the same for the source and desk commands."""

import os
from enum import StrEnum
from typing import Annotated

import typer

from quietline.cli.files import fail
from quietline.vault import INTERACTIVE, MODERATE, KdfCost

PASSPHRASE_VARIABLE = "QUIETLINE_PASSPHRASE"  # noqa: S105 - a variable name, not a secret


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


def read_passphrase(prompt: str, *, confirm: bool) -> str:
    """The passphrase from QUIETLINE_PASSPHRASE, else from a hidden prompt on stderr."""
    passphrase = os.environ.get(PASSPHRASE_VARIABLE)
    if passphrase is None:
        passphrase = typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=True)
    if not passphrase:
        raise fail(f"the passphrase is empty (set it at the prompt or in {PASSPHRASE_VARIABLE})")
    return passphrase
