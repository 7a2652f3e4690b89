"""Tests for quietline.protocol.keyfiles: CoverDrop's JSON shape for X25519 key pairs.

A pair survives a round trip through JSON text; a file whose public half does not match
its secret half is refused; and any other garbage raises MalformedInput and nothing else.
"""

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quietline.protocol.errors import MalformedInput
from quietline.protocol.keyfiles import (
    encryption_key_pair_from_json,
    encryption_key_pair_to_json,
)
from quietline.protocol.keys import EncryptionKeyPair

PAIR = EncryptionKeyPair.from_secret(bytes(range(100, 132)))
OTHER = EncryptionKeyPair.from_secret(bytes(range(200, 232)))


def as_json(public: str, secret: str) -> dict[str, Any]:
    return {"public_key": {"key": public}, "secret_key": secret}


class TestRoundTrip:
    def test_shape_is_coverdrops(self) -> None:
        assert encryption_key_pair_to_json(PAIR) == {
            "public_key": {"key": PAIR.public.raw.hex()},
            "secret_key": PAIR.secret.hex(),
        }

    def test_through_json_text(self) -> None:
        text = json.dumps(encryption_key_pair_to_json(PAIR))
        assert encryption_key_pair_from_json(json.loads(text)) == PAIR

    def test_generated_pairs_round_trip(self) -> None:
        for _ in range(5):
            pair = EncryptionKeyPair.generate()
            assert encryption_key_pair_from_json(encryption_key_pair_to_json(pair)) == pair

    def test_uppercase_hex_is_read(self) -> None:
        obj = as_json(PAIR.public.raw.hex().upper(), PAIR.secret.hex().upper())
        assert encryption_key_pair_from_json(obj) == PAIR

    def test_extra_fields_are_ignored(self) -> None:
        obj = encryption_key_pair_to_json(PAIR) | {"comment": "made by a newer writer"}
        assert encryption_key_pair_from_json(obj) == PAIR

    @pytest.mark.vectors
    def test_reads_coverdrops_user_key_file(self, coverdrop_vectors: Path) -> None:
        path = coverdrop_vectors / "integration" / "keys" / "user-4511b55a.keypair.json"
        pair = encryption_key_pair_from_json(json.loads(path.read_text()))
        assert pair.public.raw.hex().startswith("4511b55a")
        assert json.loads(path.read_text()) == encryption_key_pair_to_json(pair)


class TestRefused:
    def test_mismatched_public_key(self) -> None:
        with pytest.raises(MalformedInput, match="does not match"):
            encryption_key_pair_from_json(as_json(OTHER.public.raw.hex(), PAIR.secret.hex()))

    def test_public_key_off_by_one_bit(self) -> None:
        public = bytearray(PAIR.public.raw)
        public[0] ^= 1
        with pytest.raises(MalformedInput):
            encryption_key_pair_from_json(as_json(public.hex(), PAIR.secret.hex()))

    @pytest.mark.parametrize(
        "obj",
        [
            None,
            [],
            "secret",
            42,
            {},
            {"secret_key": PAIR.secret.hex()},
            {"public_key": PAIR.public.raw.hex(), "secret_key": PAIR.secret.hex()},
            {"public_key": {}, "secret_key": PAIR.secret.hex()},
            {"public_key": {"key": None}, "secret_key": PAIR.secret.hex()},
            as_json(PAIR.public.raw.hex(), ""),
            as_json(PAIR.public.raw.hex(), PAIR.secret.hex()[:-2]),
            as_json(PAIR.public.raw.hex(), PAIR.secret.hex() + "00"),
            as_json(PAIR.public.raw.hex(), PAIR.secret.hex()[:-1]),
            as_json(PAIR.public.raw.hex(), "zz" * 32),
            as_json(PAIR.public.raw.hex(), " " + PAIR.secret.hex()[1:]),
            as_json(PAIR.public.raw.hex()[:-2], PAIR.secret.hex()),
            as_json(PAIR.public.raw.hex(), "\u0660" * 64),  # Arabic-Indic digits are not hex
        ],
    )
    def test_garbage(self, obj: object) -> None:
        with pytest.raises(MalformedInput):
            encryption_key_pair_from_json(obj)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=80),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
hexish = (
    st.binary(min_size=31, max_size=33).map(bytes.hex)
    | st.text(alphabet="0123456789abcdefABCDEF xg", max_size=70)
    | json_values
)


@given(json_values)
def test_any_json_value_raises_only_malformed_input(obj: object) -> None:
    with pytest.raises(MalformedInput):
        encryption_key_pair_from_json(obj)


@given(public=hexish, secret=hexish, extra=st.dictionaries(st.text(max_size=8), json_values))
def test_any_near_miss_raises_only_malformed_input(
    public: object, secret: object, extra: dict[str, object]
) -> None:
    obj = {**extra, "public_key": {"key": public}, "secret_key": secret}
    with pytest.raises(MalformedInput):
        encryption_key_pair_from_json(obj)
