"""Vault passphrases: generated, never chosen, from the EFF large word list.

A person's passphrase is made for them when they start to use the client, as CoverDrop
does: ``WORDS`` words drawn uniformly from the EFF's large word list (EFF, "Deep Dive:
EFF's New Wordlists for Random Passphrases", 2016), byte for byte the file CoverDrop ships
as ``common/eff_large_wordlist.txt``. In that copy the EFF's "yo-yo" became a second
"yoyo", so it holds 7,775 distinct words, and words are drawn from those. Five words are
64.6 bits: with Argon2id at 3 passes and 256 MiB, CoverDrop's choice for devices without
a secure element (``docs/client_passphrase_configurations.md``), an exhaustive search by
a cluster with 1,000 TiB of memory takes about 2,200 years.

A typed passphrase is normalised (case and spacing) and checked word by word before any
key derivation: a word outside the list is a typo, said as such, which tells nothing
about the vault.
"""

from __future__ import annotations

import hashlib
import secrets
from functools import cache
from importlib.resources import files

from quietline.client.errors import SourceClientError

WORDS = 5
WORD_LIST_SIZE = 7775
# SHA-256 of CoverDrop's copy of the EFF large word list (7,776 lines).
WORD_LIST_SHA256 = "471bd1759d68b66e6e2bddf00df419f01e2ee00448bcbd9be9a21a08dfd70892"


# How ``quietline source send --new`` shows a new passphrase: once, on its own line.
INTRO = (
    "Your passphrase, shown only this once. Write it down and keep it apart from this "
    "device; without it nobody, you included, can read the replies:"
)
INDENT = "    "


class NotAPassphrase(SourceClientError):
    """What was typed cannot be a passphrase this client made (a typo, most likely)."""


@cache
def word_list() -> tuple[str, ...]:
    """The 7,775 distinct words, in the list's order; checked against the digest."""
    raw = files("quietline.client").joinpath("data/eff_large_wordlist.txt").read_bytes()
    if hashlib.sha256(raw).hexdigest() != WORD_LIST_SHA256:
        raise RuntimeError("the passphrase word list is not the EFF large word list")
    lines = raw.decode("ascii").splitlines()
    words = tuple(dict.fromkeys(line.split("\t")[1] for line in lines))
    if len(words) != WORD_LIST_SIZE:
        raise RuntimeError("the passphrase word list is damaged")
    return words


def generate(count: int = WORDS) -> str:
    """A new passphrase of ``count`` words drawn uniformly at random."""
    words = word_list()
    return " ".join(secrets.choice(words) for _ in range(count))


def normalise(typed: str, count: int = WORDS) -> str:
    """The passphrase as generated, from what a person typed (any case and spacing).

    Raises NotAPassphrase naming the problem: the wrong number of words, or a word that
    is not in the list.
    """
    words = typed.lower().split()
    if len(words) != count:
        raise NotAPassphrase(
            f"a passphrase is {count} words; this has {len(words)}: check for a missing "
            "or extra word"
        )
    known = frozenset(word_list())
    for position, word in enumerate(words, 1):
        if word not in known:
            raise NotAPassphrase(f"word {position} is not one of the passphrase words: a typo?")
    return " ".join(words)


def shown(words: str) -> str:
    """The text that shows a new passphrase to a person (see :func:`read_shown`)."""
    return f"{INTRO}\n\n{INDENT}{words}\n"


def read_shown(output: str) -> str:
    """The passphrase :func:`shown` put in ``output``, for scripts that drive the CLI."""
    lines = output.splitlines()
    for number, line in enumerate(lines):
        if line == INTRO and number + 2 < len(lines):
            return lines[number + 2].removeprefix(INDENT)
    raise ValueError("the output shows no passphrase")
