"""Tests for quietline.protocol.forms: signed forms services post to the edge.

sign_form and open_form round trip, and the signed body is pinned byte for byte;
open_form refuses a key not allowed, a tampered body or signature, a form outside
its age window (both bounds pinned to the microsecond) and a body that is not a JSON
object with ``signed_at``; SignedForm's JSON round trips under Hypothesis and its
parser refuses oversized bodies and bad hex. Whatever an allowed key signs, open_form
returns a payload or raises a ProtocolError, nothing else.
"""

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quietline.protocol.encoding import b64_encode, format_rfc3339
from quietline.protocol.errors import (
    BadSignature,
    KeyExpired,
    MalformedInput,
    ProtocolError,
    UntrustedKey,
)
from quietline.protocol.forms import (
    FORM_MAX_AGE,
    FORM_MAX_BODY,
    FORM_MAX_SKEW,
    SignedForm,
    open_form,
    sign_form,
)
from quietline.protocol.keys import PublicSigningKey, SigningKeyPair
from tests.protocol.crypto_vectors import flip

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
SERVICE = SigningKeyPair.from_seed(bytes(range(1, 33)))
STRANGER = SigningKeyPair.from_seed(bytes(range(101, 133)))

json_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _signed_body(body: bytes, key: SigningKeyPair = SERVICE) -> SignedForm:
    """A form whose body is exactly ``body``, correctly signed by ``key``."""
    return SignedForm(body, key.public, key.sign(body))


def _form_json(**fields: object) -> dict[str, object]:
    """A valid form's JSON with ``fields`` replaced."""
    return {**sign_form({"a": 1}, SERVICE, NOW).to_json(), **fields}


# --- signing and opening ----------------------------------------------------------------


def test_a_signed_form_opens_to_its_payload_without_signed_at() -> None:
    form = sign_form({"message": "hello", "count": 3}, SERVICE, NOW)
    assert open_form(form, [SERVICE.public], NOW) == {"message": "hello", "count": 3}


def test_the_body_is_sorted_json_carrying_the_signing_time() -> None:
    form = sign_form({"zeta": [1, 2], "alpha": {"y": 1, "x": None}}, SERVICE, NOW)
    assert form.body == (
        b'{"alpha": {"x": null, "y": 1}, "signed_at": "2026-03-01T12:00:00Z", "zeta": [1, 2]}'
    )
    assert form.signing_key == SERVICE.public
    SERVICE.public.verify(form.body, form.signature)


def test_signing_is_deterministic_and_keeps_microseconds() -> None:
    moment = NOW + timedelta(microseconds=250)
    assert sign_form({}, SERVICE, moment) == sign_form({}, SERVICE, moment)
    assert json.loads(sign_form({}, SERVICE, moment).body) == {
        "signed_at": "2026-03-01T12:00:00.000250Z"
    }


def test_a_payload_signed_at_is_replaced_by_the_signing_time() -> None:
    form = sign_form({"signed_at": "1970-01-01T00:00:00Z"}, SERVICE, NOW)
    assert json.loads(form.body) == {"signed_at": "2026-03-01T12:00:00Z"}
    assert open_form(form, [SERVICE.public], NOW) == {}


def test_any_allowed_key_opens_and_allowed_may_be_any_iterable() -> None:
    form = sign_form({"a": 1}, SERVICE, NOW)
    allowed = (key for key in (STRANGER.public, SERVICE.public))
    assert open_form(form, allowed, NOW) == {"a": 1}


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "allowed", [[], [STRANGER.public]], ids=["nobody-allowed", "another-key-allowed"]
)
def test_a_key_not_allowed_is_untrusted(allowed: list[PublicSigningKey]) -> None:
    with pytest.raises(UntrustedKey):
        open_form(sign_form({"a": 1}, SERVICE, NOW), allowed, NOW)


def test_the_key_is_checked_before_the_signature() -> None:
    form = SignedForm(b"{}", STRANGER.public, bytes(64))
    with pytest.raises(UntrustedKey):
        open_form(form, [SERVICE.public], NOW)


@pytest.mark.parametrize("index", [0, 10, -1])
def test_a_tampered_body_does_not_verify(index: int) -> None:
    form = sign_form({"a": 1}, SERVICE, NOW)
    tampered = SignedForm(flip(form.body, index), form.signing_key, form.signature)
    with pytest.raises(BadSignature):
        open_form(tampered, [SERVICE.public], NOW)


@pytest.mark.parametrize("index", [0, 31, 32, 63])
def test_a_tampered_signature_does_not_verify(index: int) -> None:
    form = sign_form({"a": 1}, SERVICE, NOW)
    tampered = SignedForm(form.body, form.signing_key, flip(form.signature, index))
    with pytest.raises(BadSignature):
        open_form(tampered, [SERVICE.public], NOW)


def test_a_signature_by_another_key_under_an_allowed_key_does_not_verify() -> None:
    body = sign_form({"a": 1}, SERVICE, NOW).body
    with pytest.raises(BadSignature):
        open_form(SignedForm(body, SERVICE.public, STRANGER.sign(body)), [SERVICE.public], NOW)


@pytest.mark.parametrize("signature_len", [0, 63, 65])
def test_a_signature_of_the_wrong_length_does_not_verify(signature_len: int) -> None:
    form = SignedForm(b"{}", SERVICE.public, bytes(signature_len))
    with pytest.raises(BadSignature):
        open_form(form, [SERVICE.public], NOW)


# --- the age window -------------------------------------------------------------------------


def test_a_form_exactly_max_age_old_is_accepted_and_a_microsecond_more_is_stale() -> None:
    form = sign_form({"a": 1}, SERVICE, NOW)
    assert open_form(form, [SERVICE.public], NOW + FORM_MAX_AGE) == {"a": 1}
    with pytest.raises(KeyExpired):
        open_form(form, [SERVICE.public], NOW + FORM_MAX_AGE + MICROSECOND)


def test_a_form_exactly_max_skew_ahead_is_accepted_and_a_microsecond_more_is_refused() -> None:
    form = sign_form({"a": 1}, SERVICE, NOW)
    assert open_form(form, [SERVICE.public], NOW - FORM_MAX_SKEW) == {"a": 1}
    with pytest.raises(KeyExpired):
        open_form(form, [SERVICE.public], NOW - FORM_MAX_SKEW - MICROSECOND)


def test_max_age_is_the_callers_to_choose() -> None:
    form = sign_form({"a": 1}, SERVICE, NOW)
    one_hour = timedelta(hours=1)
    assert open_form(form, [SERVICE.public], NOW + one_hour, max_age=one_hour) == {"a": 1}
    with pytest.raises(KeyExpired):
        open_form(form, [SERVICE.public], NOW + one_hour + MICROSECOND, max_age=one_hour)
    assert open_form(form, [SERVICE.public], NOW, max_age=timedelta(0)) == {"a": 1}
    with pytest.raises(KeyExpired):
        open_form(form, [SERVICE.public], NOW + MICROSECOND, max_age=timedelta(0))


def test_the_window_holds_for_a_time_zone_other_than_utc() -> None:
    body = json.dumps({"signed_at": "2026-03-01T13:01:00+01:00"}).encode()
    assert open_form(_signed_body(body), [SERVICE.public], NOW) == {}  # 12:01 UTC: the skew
    body = json.dumps({"signed_at": "2026-03-01T13:01:00.000001+01:00"}).encode()
    with pytest.raises(KeyExpired):
        open_form(_signed_body(body), [SERVICE.public], NOW)


# --- malformed bodies, correctly signed -------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe{}",
        b"[]",
        b'"2026-03-01T12:00:00Z"',
        b"null",
        b"{}",
        b'{"a": 1}',
        b'{"signed_at": null}',
        b'{"signed_at": 1772366400}',
        b'{"signed_at": "2026-03-01 12:00:00"}',
        b'{"signed_at": "2026-03-01T12:00:00"}',
        b'{"signed_at": "2026-02-30T12:00:00Z"}',
        b'{"signed_at": "0001-01-01T00:00:00+01:00"}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=[
        "empty",
        "not-json",
        "not-utf8",
        "list",
        "string",
        "null",
        "no-signed-at",
        "payload-without-signed-at",
        "signed-at-null",
        "signed-at-number",
        "signed-at-without-t",
        "signed-at-without-zone",
        "signed-at-impossible-date",
        "signed-at-before-year-one-in-utc",
        "nested-past-the-recursion-limit",
    ],
)
def test_a_signed_body_that_is_not_an_object_with_signed_at_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedInput):
        open_form(_signed_body(body), [SERVICE.public], NOW)


@settings(max_examples=300)
@given(body=st.binary(max_size=200))
def test_any_signed_bytes_open_or_raise_a_protocol_error(body: bytes) -> None:
    try:
        payload = open_form(_signed_body(body), [SERVICE.public], NOW)
    except ProtocolError:
        return
    assert isinstance(payload, dict)


@settings(max_examples=300)
@given(
    payload=st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    signed_at=(
        st.sampled_from([format_rfc3339(NOW), format_rfc3339(NOW - FORM_MAX_AGE)])
        | st.datetimes().map(lambda moment: moment.isoformat() + "Z")
        | json_values
    ),
)
def test_any_signed_json_object_opens_or_raises_a_protocol_error(
    payload: dict[str, Any], signed_at: object
) -> None:
    body = json.dumps({**payload, "signed_at": signed_at}).encode()
    try:
        opened = open_form(_signed_body(body), [SERVICE.public], NOW)
    except ProtocolError:
        return
    assert opened == {key: value for key, value in payload.items() if key != "signed_at"}


# --- the form's JSON ------------------------------------------------------------------------


def test_the_json_form_has_base64_body_and_hex_key_and_signature() -> None:
    form = sign_form({"a": 1}, SERVICE, NOW)
    assert form.to_json() == {
        "body": base64.b64encode(form.body).decode().rstrip("="),
        "signing_pk": SERVICE.public.raw.hex(),
        "signature": form.signature.hex(),
    }
    assert SignedForm.from_json(form.to_json()) == form


@settings(max_examples=200)
@given(
    body=st.binary(max_size=300),
    key=st.binary(min_size=32, max_size=32),
    signature=st.binary(min_size=64, max_size=64),
)
def test_any_form_round_trips_through_json(body: bytes, key: bytes, signature: bytes) -> None:
    form = SignedForm(body, PublicSigningKey(key), signature)
    assert SignedForm.from_json(json.loads(json.dumps(form.to_json()))) == form


def test_a_body_of_exactly_64_kib_is_accepted_and_one_byte_more_is_refused() -> None:
    assert FORM_MAX_BODY == 64 * 1024
    fits = SignedForm.from_json(_form_json(body=b64_encode(bytes(FORM_MAX_BODY))))
    assert len(fits.body) == FORM_MAX_BODY
    with pytest.raises(MalformedInput, match="64 KiB"):
        SignedForm.from_json(_form_json(body=b64_encode(bytes(FORM_MAX_BODY + 1))))


def test_a_padded_base64_body_is_tolerated() -> None:
    form = SignedForm.from_json(_form_json(body="YQ=="))
    assert form.body == b"a"


@pytest.mark.parametrize(
    "fields",
    [
        {"body": "not base64!"},
        {"body": "YQ==="},
        {"body": 3},
        {"body": None},
        {"signing_pk": "zz" * 32},
        {"signing_pk": "ab" * 31},
        {"signing_pk": "ab" * 33},
        {"signing_pk": "abc"},
        {"signing_pk": 7},
        {"signature": "zz" * 64},
        {"signature": "ab" * 63},
        {"signature": "ab" * 65},
        {"signature": ["ab"]},
    ],
    ids=[
        "body-not-base64",
        "body-over-padded",
        "body-number",
        "body-null",
        "key-bad-hex",
        "key-31-bytes",
        "key-33-bytes",
        "key-odd-hex",
        "key-number",
        "signature-bad-hex",
        "signature-63-bytes",
        "signature-65-bytes",
        "signature-list",
    ],
)
def test_a_form_with_a_bad_field_is_malformed(fields: dict[str, object]) -> None:
    with pytest.raises(MalformedInput):
        SignedForm.from_json(_form_json(**fields))


@pytest.mark.parametrize("missing", ["body", "signing_pk", "signature"])
def test_a_form_missing_a_field_is_malformed(missing: str) -> None:
    fields = _form_json()
    del fields[missing]
    with pytest.raises(MalformedInput):
        SignedForm.from_json(fields)


@pytest.mark.parametrize("obj", [None, [], "form", 3, True])
def test_a_form_that_is_not_an_object_is_malformed(obj: object) -> None:
    with pytest.raises(MalformedInput):
        SignedForm.from_json(obj)


@settings(max_examples=300)
@given(
    obj=json_values
    | st.fixed_dictionaries(
        {},
        optional={"body": json_values, "signing_pk": json_values, "signature": json_values},
    )
)
def test_any_json_value_parses_as_a_form_or_is_malformed(obj: object) -> None:
    try:
        form = SignedForm.from_json(obj)
    except MalformedInput:
        return
    assert isinstance(form, SignedForm)
