"""Tests for quietline.protocol.certificates: certificate data, certify, SignedKey JSON.

CoverDrop's vectors pin the signed bytes; the rest checks that a certificate never
outlives its parent, that an expired parent signs nothing, that tampering breaks
verification, and that SignedKey.from_json answers bad JSON with MalformedInput only.
"""

import calendar
import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quietline.protocol.certificates import (
    KeyRole,
    SignedKey,
    certificate_data,
    certify,
    check_not_expired,
    self_certify,
)
from quietline.protocol.encoding import parse_rfc3339
from quietline.protocol.errors import BadSignature, KeyExpired, KeyUnavailable, MalformedInput
from quietline.protocol.jsonvalues import require_object
from quietline.protocol.keys import EncryptionKeyPair, SigningKeyPair
from tests.protocol.crypto_vectors import GENERATIONS, flip

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
ORGANIZATION = SigningKeyPair.from_seed(bytes(range(32)))
ORGANIZATION_EXPIRY = NOW + timedelta(weeks=52)
CHILD = SigningKeyPair.from_seed(bytes(range(32, 64)))
MESSAGING = EncryptionKeyPair.from_secret(bytes(range(64, 96)))

aware_datetimes = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(9998, 1, 1), timezones=st.just(UTC)
)


def valid_json() -> dict[str, Any]:
    return certify(ORGANIZATION, ORGANIZATION_EXPIRY, CHILD.public.raw, NOW, NOW).to_json()


# --- CoverDrop vectors --------------------------------------------------------------------


@pytest.mark.vectors
@pytest.mark.parametrize("generation", GENERATIONS)
def test_certificate_data_vector(coverdrop_vectors: Path, generation: str) -> None:
    folder = coverdrop_vectors / "crypto" / generation / "certificate_data"
    key = (folder / "01_pk").read_bytes()
    not_valid_after = parse_rfc3339((folder / "02_not_valid_after").read_text("ascii").strip())
    data = certificate_data(key, not_valid_after)
    assert data == (folder / "04_certificate_data").read_bytes()
    assert data[-8:] == (folder / "03_timestamp_bytes").read_bytes()
    assert data[:32] == key


@given(st.binary(min_size=32, max_size=32), aware_datetimes)
def test_certificate_data_is_key_then_whole_seconds(key: bytes, moment: datetime) -> None:
    data = certificate_data(key, moment)
    assert len(data) == 40
    assert data[:32] == key
    seconds = calendar.timegm(moment.utctimetuple())  # drops the microseconds
    assert data[32:] == seconds.to_bytes(8, "big", signed=True)
    assert certificate_data(key, moment.replace(microsecond=0)) == data


# --- certify and self_certify -------------------------------------------------------------


def test_certify_keeps_an_expiry_inside_the_parents() -> None:
    expiry = NOW + timedelta(weeks=2)
    signed = certify(ORGANIZATION, ORGANIZATION_EXPIRY, MESSAGING.public.raw, expiry, NOW)
    assert signed.not_valid_after == expiry
    assert signed.key == MESSAGING.public.raw
    signed.verify_certificate(ORGANIZATION.public)
    assert signed.encryption_key() == MESSAGING.public


def test_certify_clamps_the_expiry_to_the_parents() -> None:
    signed = certify(
        ORGANIZATION, ORGANIZATION_EXPIRY, CHILD.public.raw, ORGANIZATION_EXPIRY + timedelta(1), NOW
    )
    assert signed.not_valid_after == ORGANIZATION_EXPIRY
    signed.verify_certificate(ORGANIZATION.public)
    assert signed.signing_key() == CHILD.public


def test_certify_at_the_parents_last_moment_still_signs() -> None:
    signed = certify(
        ORGANIZATION,
        ORGANIZATION_EXPIRY,
        CHILD.public.raw,
        ORGANIZATION_EXPIRY,
        ORGANIZATION_EXPIRY,
    )
    signed.verify_certificate(ORGANIZATION.public)


def test_an_expired_parent_refuses_to_sign() -> None:
    with pytest.raises(KeyUnavailable):
        certify(
            ORGANIZATION,
            ORGANIZATION_EXPIRY,
            CHILD.public.raw,
            ORGANIZATION_EXPIRY,
            ORGANIZATION_EXPIRY + timedelta(microseconds=1),
        )


@settings(max_examples=50, deadline=None)
@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(weeks=200)))
def test_certificates_never_outlive_their_parent(lifetime: timedelta) -> None:
    signed = certify(ORGANIZATION, ORGANIZATION_EXPIRY, CHILD.public.raw, NOW + lifetime, NOW)
    assert signed.not_valid_after == min(NOW + lifetime, ORGANIZATION_EXPIRY)
    signed.verify_certificate(ORGANIZATION.public)


def test_self_certify_verifies_under_its_own_key() -> None:
    signed = self_certify(ORGANIZATION, ORGANIZATION_EXPIRY)
    assert signed.key == ORGANIZATION.public.raw
    assert signed.not_valid_after == ORGANIZATION_EXPIRY
    signed.verify_certificate(ORGANIZATION.public)
    with pytest.raises(BadSignature):
        signed.verify_certificate(CHILD.public)


def test_certificate_from_another_parent_does_not_verify() -> None:
    signed = certify(ORGANIZATION, ORGANIZATION_EXPIRY, CHILD.public.raw, NOW, NOW)
    with pytest.raises(BadSignature):
        signed.verify_certificate(CHILD.public)


@pytest.mark.parametrize("index", [0, 31, 32, 63])
def test_tampered_certificate_does_not_verify(index: int) -> None:
    signed = self_certify(ORGANIZATION, ORGANIZATION_EXPIRY)
    tampered = SignedKey(signed.key, flip(signed.certificate, index), signed.not_valid_after)
    with pytest.raises(BadSignature):
        tampered.verify_certificate(ORGANIZATION.public)


def test_tampered_key_does_not_verify() -> None:
    signed = certify(ORGANIZATION, ORGANIZATION_EXPIRY, MESSAGING.public.raw, NOW, NOW)
    tampered = SignedKey(flip(signed.key, 5), signed.certificate, signed.not_valid_after)
    with pytest.raises(BadSignature):
        tampered.verify_certificate(ORGANIZATION.public)


@pytest.mark.parametrize("shift", [timedelta(seconds=1), timedelta(seconds=-1), timedelta(days=7)])
def test_tampered_expiry_does_not_verify(shift: timedelta) -> None:
    signed = self_certify(ORGANIZATION, ORGANIZATION_EXPIRY)
    tampered = SignedKey(signed.key, signed.certificate, signed.not_valid_after + shift)
    with pytest.raises(BadSignature):
        tampered.verify_certificate(ORGANIZATION.public)


def test_expiry_is_signed_in_whole_seconds() -> None:
    signed = self_certify(ORGANIZATION, ORGANIZATION_EXPIRY)
    same_second = SignedKey(
        signed.key, signed.certificate, signed.not_valid_after + timedelta(milliseconds=999)
    )
    same_second.verify_certificate(ORGANIZATION.public)


# --- expiry and roles ---------------------------------------------------------------------


def test_check_not_expired() -> None:
    signed = self_certify(ORGANIZATION, ORGANIZATION_EXPIRY)
    check_not_expired(signed, ORGANIZATION_EXPIRY, "the organisation key")
    with pytest.raises(KeyExpired, match="the organisation key expired"):
        check_not_expired(
            signed, ORGANIZATION_EXPIRY + timedelta(microseconds=1), "the organisation key"
        )


def test_only_messaging_roles_are_encryption_keys() -> None:
    encryption = {role for role in KeyRole if role.is_encryption_key}
    assert encryption == {KeyRole.COVERNODE_MSG, KeyRole.JOURNALIST_MSG}


# --- SignedKey construction and JSON ------------------------------------------------------


@pytest.mark.parametrize(("key_len", "certificate_len"), [(31, 64), (33, 64), (32, 63), (32, 65)])
def test_signed_key_checks_sizes(key_len: int, certificate_len: int) -> None:
    with pytest.raises(MalformedInput):
        SignedKey(bytes(key_len), bytes(certificate_len), NOW)


@given(st.binary(min_size=32, max_size=32), st.binary(min_size=64, max_size=64), aware_datetimes)
def test_signed_key_json_round_trip(key: bytes, certificate: bytes, moment: datetime) -> None:
    signed = SignedKey(key, certificate, moment)
    as_json = signed.to_json()
    assert as_json["key"] == key.hex()
    assert as_json["certificate"] == certificate.hex()
    assert SignedKey.from_json(as_json) == signed


def test_signed_key_from_json_accepts_coverdrop_nanoseconds_and_offsets() -> None:
    obj = valid_json() | {"not_valid_after": "2024-03-01T14:00:00.123456789+02:00"}
    assert SignedKey.from_json(obj).not_valid_after == datetime(
        2024, 3, 1, 12, 0, 0, 123456, tzinfo=UTC
    )


def test_signed_key_from_json_then_verifies() -> None:
    SignedKey.from_json(valid_json()).verify_certificate(ORGANIZATION.public)


def test_signed_key_repr_names_the_key_and_expiry_only() -> None:
    signed = certify(ORGANIZATION, ORGANIZATION_EXPIRY, CHILD.public.raw, NOW, NOW)
    assert repr(signed) == f"SignedKey({CHILD.public.raw[:4].hex()}…, until 2024-03-01T12:00:00Z)"


@pytest.mark.parametrize("obj", [None, [], "key", 42, [valid_json()]])
def test_signed_key_from_json_rejects_non_objects(obj: object) -> None:
    with pytest.raises(MalformedInput, match="JSON object"):
        SignedKey.from_json(obj)
    with pytest.raises(MalformedInput):
        require_object(obj, "a thing")


@pytest.mark.parametrize("missing", ["key", "certificate", "not_valid_after"])
def test_signed_key_from_json_rejects_missing_fields(missing: str) -> None:
    obj = valid_json()
    del obj[missing]
    with pytest.raises(MalformedInput):
        SignedKey.from_json(obj)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("key", "00" * 31),
        ("key", "00" * 33),
        ("key", "0" * 63),
        ("key", "zz" * 32),
        ("key", "0x" + "00" * 31),
        ("key", ""),
        ("key", None),
        ("key", 0),
        ("key", ["00"] * 32),
        ("certificate", "00" * 63),
        ("certificate", "00" * 65),
        ("certificate", "gg" * 64),
        ("certificate", None),
        ("not_valid_after", "2024-03-01"),
        ("not_valid_after", "2024-03-01T12:00:00"),
        ("not_valid_after", "2024-03-01 12:00:00Z"),
        ("not_valid_after", "next tuesday"),
        ("not_valid_after", "2024-02-30T12:00:00Z"),
        ("not_valid_after", 1709294400),
        ("not_valid_after", None),
    ],
)
def test_signed_key_from_json_rejects_bad_fields(field: str, value: object) -> None:
    obj = valid_json() | {field: value}
    with pytest.raises(MalformedInput):
        SignedKey.from_json(obj)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=140),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=5,
)


@settings(max_examples=300)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "key": json_values | st.binary(min_size=30, max_size=34).map(bytes.hex),
            "certificate": json_values | st.binary(min_size=62, max_size=66).map(bytes.hex),
            "not_valid_after": json_values,
        },
    )
)
def test_signed_key_from_json_raises_only_malformed_input(obj: dict[str, Any]) -> None:
    with contextlib.suppress(MalformedInput):
        SignedKey.from_json(obj)


def test_signed_key_from_json_out_of_range_instant_is_malformed() -> None:
    obj = valid_json() | {"not_valid_after": "9999-12-31T23:59:59-01:00"}
    with pytest.raises(MalformedInput):
        SignedKey.from_json(obj)
