"""Tests for quietline.protocol.coverdrop_forms: CoverDrop's signed ``Form`` is read as its
journalist client writes it (``tests.support.coverdrop_clients.coverdrop_form``, built from
``common/src/form.rs`` independently of the module under test), with its validity rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quietline.protocol.coverdrop_forms import (
    FORM_TTL,
    CoverDropForm,
    Instant,
    is_coverdrop_form,
    open_coverdrop_form,
    sign_coverdrop_form,
)
from quietline.protocol.errors import BadSignature, KeyExpired, MalformedInput, UntrustedKey
from quietline.protocol.keys import SigningKeyPair
from tests.support.coverdrop_clients import coverdrop_form

KEY = SigningKeyPair.from_seed(bytes(range(32)))
CREATED = "2026-03-01T12:00:00.123456789Z"  # chrono keeps nanoseconds; a form carries them
EXPIRES = "2026-03-01T13:00:00.123456789Z"
DATA = b'"abc"'
CREATED_AT = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def _open(document: object, now: datetime = CREATED_AT) -> bytes:
    return open_coverdrop_form(CoverDropForm.from_json(document), [KEY.public], now)


# chrono's DateTime<Utc>: serde writes Z, to_rfc3339() writes +00:00, the fraction in the
# fewest of 0, 3, 6 or 9 digits that hold it.
CHRONO_TEXTS = [
    ("2026-03-01T12:00:00Z", "2026-03-01T12:00:00+00:00"),
    ("2026-03-01T12:00:00.5Z", "2026-03-01T12:00:00.500+00:00"),
    ("2026-03-01T12:00:00.000001Z", "2026-03-01T12:00:00.000001+00:00"),
    ("2026-03-01T12:00:00.1234567Z", "2026-03-01T12:00:00.123456700+00:00"),
    ("2026-03-01T13:00:00+01:00", "2026-03-01T12:00:00+00:00"),
    ("2026-03-01T12:00:00.000000000Z", "2026-03-01T12:00:00+00:00"),
]


@pytest.mark.parametrize(("sent", "signed"), CHRONO_TEXTS)
def test_a_time_is_signed_as_chrono_writes_it(sent: str, signed: str) -> None:
    assert Instant.parse(sent).signed_text() == signed


@given(st.datetimes(timezones=st.just(UTC)), st.integers(0, 10**9 - 1))
def test_an_instant_reads_back_to_the_nanosecond(moment: datetime, nanos: int) -> None:
    instant = Instant(moment.replace(microsecond=0), nanos)
    assert Instant.parse(instant.json_text()) == instant
    assert Instant.parse(instant.signed_text()) == instant


def test_the_journalist_clients_form_opens_to_its_data() -> None:
    document = coverdrop_form(DATA, KEY, CREATED, EXPIRES)
    assert is_coverdrop_form(document)
    assert _open(document) == DATA
    assert CoverDropForm.from_json(document).to_json() == document


def test_a_form_is_valid_until_its_not_valid_after_and_not_after() -> None:
    document = coverdrop_form(DATA, KEY, CREATED, EXPIRES)
    last = datetime(2026, 3, 1, 13, 0, 0, 123456, tzinfo=UTC)
    assert _open(document, last) == DATA
    with pytest.raises(KeyExpired):
        _open(document, last + timedelta(microseconds=1))


def test_a_form_valid_for_longer_than_an_hour_is_refused() -> None:
    document = coverdrop_form(DATA, KEY, CREATED, "2026-03-01T13:00:00.123457Z")
    with pytest.raises(KeyExpired):
        _open(document)


def test_a_form_by_another_key_is_refused() -> None:
    other = SigningKeyPair.from_seed(bytes(32))
    with pytest.raises(UntrustedKey):
        _open(coverdrop_form(DATA, other, CREATED, EXPIRES))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("body", "ImFiZCI="),  # '"abd"'
        ("created_at", "2026-03-01T12:00:00.123456788Z"),
        ("not_valid_after", "2026-03-01T12:59:00.123456789Z"),
    ],
)
def test_a_change_to_anything_signed_is_refused(field: str, value: str) -> None:
    document = {**coverdrop_form(DATA, KEY, CREATED, EXPIRES), field: value}
    with pytest.raises(BadSignature):
        _open(document)


def test_a_form_with_a_field_more_or_less_is_refused_as_coverdrop_does() -> None:
    document = coverdrop_form(DATA, KEY, CREATED, EXPIRES)
    with pytest.raises(MalformedInput):
        CoverDropForm.from_json({**document, "extra": 1})
    del document["created_at"]
    with pytest.raises(MalformedInput):
        CoverDropForm.from_json(document)


@given(st.binary(max_size=200), st.integers(0, 3600))
def test_a_signed_form_opens_for_an_hour(data: bytes, after: int) -> None:
    form = sign_coverdrop_form(data, KEY, CREATED_AT)
    assert form.not_valid_after.moment - form.created_at.moment == FORM_TTL
    read = CoverDropForm.from_json(form.to_json())
    assert read == form
    now = CREATED_AT + timedelta(seconds=after)
    assert open_coverdrop_form(read, [KEY.public], now) == data
