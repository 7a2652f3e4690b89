"""Who a message is for: recipient ids and the 4-byte tags the CoverNode routes by.

A :class:`RecipientId` is checked once, when it is made, by the one rule every part
shares (CoverDrop's ``JournalistIdentity`` rule, printable): 1 to 128 printable ASCII
characters without ``/`` or ``\\``. CoverNode ids in the published hierarchy follow
the same rule. A :class:`RecipientTag` is the first 4 bytes of SHA-256 of the id; the
all-zero tag marks cover.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from quietline.protocol.constants import RECIPIENT_TAG_LEN
from quietline.protocol.errors import MalformedInput

MAX_RECIPIENT_ID_LEN = 128


class RecipientId(str):
    """A recipient's (or a CoverNode's) id, valid by construction.

    Raises MalformedInput on anything that breaks the rule.
    """

    __slots__ = ()

    def __new__(cls, text: object) -> RecipientId:
        if (
            not isinstance(text, str)
            or not 0 < len(text) <= MAX_RECIPIENT_ID_LEN
            or not all(" " <= char <= "~" for char in text)
            or "/" in text
            or "\\" in text
        ):
            raise MalformedInput(
                f"a recipient id is 1 to {MAX_RECIPIENT_ID_LEN} printable ASCII characters "
                "without '/' or '\\'"
            )
        return super().__new__(cls, text)

    @property
    def tag(self) -> RecipientTag:
        return RecipientTag.of(self)


@dataclass(frozen=True, slots=True)
class RecipientTag:
    """First 4 bytes of SHA-256 of a recipient id; all zeros marks cover."""

    raw: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.raw, bytes) or len(self.raw) != RECIPIENT_TAG_LEN:
            raise MalformedInput(f"a recipient tag must be exactly {RECIPIENT_TAG_LEN} bytes")

    @classmethod
    def of(cls, recipient_id: str) -> RecipientTag:
        """The tag of ``recipient_id``: the one home of the tag rule."""
        return cls(hashlib.sha256(recipient_id.encode("utf-8")).digest()[:RECIPIENT_TAG_LEN])

    def names(self, recipient_id: str) -> bool:
        """Whether this is the tag of ``recipient_id``."""
        return self == RecipientTag.of(recipient_id)

    @property
    def is_cover(self) -> bool:
        return self.raw == COVER_TAG.raw

    def hex(self) -> str:
        return self.raw.hex()


COVER_TAG = RecipientTag(bytes(RECIPIENT_TAG_LEN))
