"""Reading JSON from peers: one loader and one checker per JSON type, all raising
:class:`MalformedInput` and nothing else.

Every to/from-JSON pair in Quietline reads its fields through these, so "an integer"
means the same thing everywhere (a JSON number without a fraction, never ``true``, in
a stated range) and a document that is not JSON fails the same way wherever it arrives.
"""

from __future__ import annotations

import json
from typing import Any

from quietline.protocol.errors import MalformedInput

# Every integer on the wire fits in a signed 64-bit integer (ids, epochs, sequence numbers).
I64_MAX = 2**63 - 1


def load_json(raw: bytes | str) -> object:
    """Decode a UTF-8 JSON document; raises MalformedInput on anything else.

    Covers what ``json.loads`` raises beyond JSONDecodeError: nesting deep enough to
    exhaust the recursion limit, and integers longer than Python converts.
    """
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        return json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise MalformedInput("expected a UTF-8 JSON document") from error


def require_object(obj: object, what: str) -> dict[str, Any]:
    """``obj`` as a JSON object; raises MalformedInput otherwise."""
    if not isinstance(obj, dict):
        raise MalformedInput(f"expected {what} as a JSON object")
    return obj


def require_list(obj: object, what: str) -> list[Any]:
    """``obj`` as a JSON list; raises MalformedInput otherwise."""
    if not isinstance(obj, list):
        raise MalformedInput(f"expected {what} as a JSON list")
    return obj


def require_string(obj: object, what: str) -> str:
    """``obj`` as a JSON string; raises MalformedInput otherwise."""
    if not isinstance(obj, str):
        raise MalformedInput(f"{what} must be a string")
    return obj


def require_bool(obj: object, what: str) -> bool:
    """``obj`` as ``true`` or ``false``; raises MalformedInput otherwise."""
    if not isinstance(obj, bool):
        raise MalformedInput(f"{what} must be true or false")
    return obj


def require_int(obj: object, what: str, low: int = 0, high: int = I64_MAX) -> int:
    """``obj`` as an integer from ``low`` to ``high`` (a JSON ``true`` is not one);
    raises MalformedInput otherwise."""
    if not isinstance(obj, int) or isinstance(obj, bool) or not low <= obj <= high:
        raise MalformedInput(f"{what} must be an integer from {low} to {high}")
    return obj
