"""A structure-aware mutator for the JSON targets, over libFuzzer's own byte mutator.

Byte-level mutations of a JSON document mostly break its syntax, so a JSON parser would
spend its budget refusing broken JSON. Half the time this mutator instead parses the
document, changes one node (drops or duplicates it, swaps its type, puts a boundary
number in it, or mutates the bytes inside a string, decoding base64 and hex first so the
parser sees well-formed encodings of edited bytes) and writes it back. The other half,
and whenever the input is not JSON, it is libFuzzer's byte mutator.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import string
from collections.abc import Callable
from typing import Any

ByteMutator = Callable[[bytes, int], bytes]

BOUNDARY_VALUES: list[object] = [
    None,
    True,
    False,
    0,
    -1,
    1,
    2**31,
    2**63 - 1,
    2**63,
    -(2**63) - 1,
    2**64,
    10**400,
    0.5,
    1e308,
    -0.0,
    "",
    "0",
    "null",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "2024-02-30T25:61:61Z",
    [],
    {},
    [[]],
]


def _nodes(value: object) -> list[tuple[Any, Any]]:
    """Every (container, key or index) in ``value``, parents before children."""
    found: list[tuple[Any, Any]] = []
    pending: list[Any] = [value]
    while pending:
        node = pending.pop()
        slots: list[Any] = []
        if isinstance(node, dict):
            slots = list(node)
        elif isinstance(node, list):
            slots = list(range(len(node)))
        for slot in slots:
            found.append((node, slot))
            pending.append(node[slot])
    return found


def _mutate_text(text: str, rng: random.Random, mutate_bytes: ByteMutator) -> str:
    """``text`` with its bytes mutated, in the encoding it was in (hex, base64 or text)."""
    is_hex = len(text) % 2 == 0 and all(c in string.hexdigits for c in text)
    if is_hex and text:
        unhexed = bytes.fromhex(text)
        return mutate_bytes(unhexed, len(unhexed) + 8).hex()
    raw: bytes | None
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raw = None
    if raw and rng.random() < 0.8:
        encoded = base64.b64encode(mutate_bytes(raw, len(raw) + 8)).decode()
        return encoded.rstrip("=") if not text.endswith("=") else encoded
    mutated = mutate_bytes(text.encode(errors="surrogatepass"), len(text) + 8)
    return mutated.decode("utf-8", errors="surrogateescape" if rng.random() < 0.1 else "replace")


def _mutate_node(container: Any, slot: Any, rng: random.Random, mutate_bytes: ByteMutator) -> None:
    value = container[slot]
    how = rng.randrange(6)
    if how == 0:
        del container[slot]
    elif how == 1 and isinstance(container, list):
        container.insert(slot, value)
    elif how == 1 and isinstance(container, dict):
        container[slot + rng.choice(["", "_", "x"])] = value
    elif how == 2 and isinstance(value, str):
        container[slot] = _mutate_text(value, rng, mutate_bytes)
    elif how == 3 and isinstance(value, int) and not isinstance(value, bool):
        container[slot] = value + rng.choice([-1, 1, 2**32, -(2**32)])
    elif how == 4:
        container[slot] = [value] if rng.random() < 0.5 else {"": value}
    else:
        container[slot] = rng.choice(BOUNDARY_VALUES)


def mutate_json(data: bytes, max_size: int, seed: int, mutate_bytes: ByteMutator) -> bytes:
    """One mutation of ``data``: structural when it is a JSON document and the coin says so,
    libFuzzer's byte mutation (``mutate_bytes``) otherwise."""
    rng = random.Random(seed)  # noqa: S311 - chooses mutations, guards nothing
    if rng.random() < 0.5:
        return mutate_bytes(data, max_size)
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return mutate_bytes(data, max_size)
    nodes = _nodes(document)
    if not nodes:
        return mutate_bytes(data, max_size)
    for _ in range(1 + int(rng.expovariate(1.0))):
        container, slot = rng.choice(nodes)
        if slot in container if isinstance(container, dict) else slot < len(container):
            _mutate_node(container, slot, rng, mutate_bytes)
    try:
        written = json.dumps(document).encode()
    except (ValueError, RecursionError):
        return mutate_bytes(data, max_size)
    return written if len(written) <= max_size else mutate_bytes(data, max_size)
