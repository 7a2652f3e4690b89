"""A stable, human-friendly name for each source, never its key.

Three words from the EFF large list (about 39 bits) chosen by a BLAKE2b hash of the
source's reply key, keyed with the desk's own pseudonym key (kept in the vault). The
same source has the same name on this desk every day; the name says nothing to anyone
without the desk's key, so it can be spoken, written down or put in a URL. The page
address uses ``ref``: 16 hex characters of the same keyed hash (not of any key).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from quietline.client.passphrase import word_list
from quietline.protocol.keys import ReplyKey

WORDS = 3
REF_LEN = 16
_PERSON = b"quietline-pseud"


@dataclass(frozen=True, slots=True)
class Pseudonym:
    name: str  # "three plain words"
    ref: str  # what a page address carries: 16 hex characters

    def __str__(self) -> str:
        return self.name


def pseudonym(desk_key: bytes, reply_key: ReplyKey) -> Pseudonym:
    """The name this desk shows for the source whose reply key is ``reply_key``."""
    digest = hashlib.blake2b(reply_key.raw, key=desk_key, digest_size=32, person=_PERSON).digest()
    words = word_list()
    number = int.from_bytes(digest[:16], "big")
    chosen = []
    for _ in range(WORDS):
        number, index = divmod(number, len(words))
        chosen.append(words[index])
    return Pseudonym(" ".join(chosen), digest[16:].hex()[:REF_LEN])
