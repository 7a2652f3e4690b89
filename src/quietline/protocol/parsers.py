"""Every parser of public input, as ``bytes → value``, in one table: the attack surface.

Anything a peer can send reaches one of these. Each returns a protocol object or raises
:class:`ProtocolError`, and nothing else, whatever the bytes. The fuzz harness
(``tests/protocol/test_fuzz.py``) drives exactly this table.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from quietline.protocol.certificates import SignedKey
from quietline.protocol.deaddrops import DeadDropKind, parse_dead_drop_list
from quietline.protocol.errors import MalformedInput
from quietline.protocol.hierarchy import PublishedKeys
from quietline.protocol.keyfiles import encryption_key_pair_from_json
from quietline.protocol.messages import (
    J2CMessage,
    J2UMessage,
    U2CMessage,
    U2JMessage,
    parse_j2c,
    parse_u2c,
)
from quietline.protocol.pcs import PaddedCompressedString


def load_json(raw: bytes) -> object:
    """Decode a UTF-8 JSON document; raises MalformedInput on anything else.

    Covers what ``json.loads`` raises beyond JSONDecodeError: nesting deep enough to
    exhaust the recursion limit, and integers longer than Python converts.
    """
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise MalformedInput("expected a UTF-8 JSON document") from error


def _json(parse: Callable[[object], object]) -> Callable[[bytes], object]:
    return lambda raw: parse(load_json(raw))


PUBLIC_PARSERS: Mapping[str, Callable[[bytes], object]] = {
    "u2c": parse_u2c,
    "j2c": parse_j2c,
    "u2j_plaintext": U2JMessage.from_bytes,
    "u2c_plaintext": U2CMessage.from_bytes,
    "j2u_plaintext": J2UMessage.from_bytes,
    "j2c_plaintext": J2CMessage.from_bytes,
    "padded_compressed_string": lambda raw: PaddedCompressedString(raw).text(),
    "published_keys": _json(PublishedKeys.from_json),
    "signed_key": _json(SignedKey.from_json),
    "key_pair": _json(encryption_key_pair_from_json),
    "user_dead_drops": _json(lambda obj: parse_dead_drop_list(DeadDropKind.USER, obj)),
    "journalist_dead_drops": _json(lambda obj: parse_dead_drop_list(DeadDropKind.JOURNALIST, obj)),
}
