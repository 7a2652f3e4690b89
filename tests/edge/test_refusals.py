"""Submissions, signed forms, oversized bodies and bad queries get a 4xx ``{"error": ...}``
and leave stored data as it was."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from quietline.clock import FixedClock
from quietline.edge.bodies import DEAD_DROP_BODY_CAP, FORM_BODY_CAP
from quietline.protocol.encoding import b64_encode
from quietline.protocol.forms import sign_form
from quietline.protocol.hierarchy import JournalistProfile
from quietline.protocol.keys import SigningKeyPair
from quietline.protocol.recipients import RecipientTag
from tests.edge.checks import Refusal, assert_post_refused, assert_refused, flip_last_hex
from tests.edge.submissions import JOURNALIST_ID, JSON, NOW, alice, j2c_form, queue_form, u2c_body
from tests.support.organisation import Organisation

# --- POST /user/messages ------------------------------------------------------------------

U2C_BAD_BODIES: dict[str, Callable[[bytes], bytes]] = {
    "one byte short": lambda body: body[:-2] + b'"',
    "one byte long": lambda body: body[:-1] + b'A"',
    "not json": lambda body: b"x" * len(body),
    "a json number": lambda body: b"1" + b" " * (len(body) - 1),
    "bad base64 alphabet": lambda body: b'"' + b"!" * (len(body) - 2) + b'"',
    "decodes to 772 bytes": lambda body: body[:-4] + b'=="',
    "not utf-8": lambda body: b'"' + b"\xff" * (len(body) - 2) + b'"',
    "empty": lambda body: b"",
    "padded and then some": lambda body: body[:-1] + b'===="',
    "a json list": lambda body: b"[" + body + b"]",
    "padded in the middle": lambda body: body[:5] + b"=" + body[6:],
}


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize("name", sorted(U2C_BAD_BODIES))
def test_a_u2c_of_any_other_shape_is_refused(
    edge: TestClient, organization: Organisation, name: str
) -> None:
    body = U2C_BAD_BODIES[name](u2c_body(organization))
    assert_refused(edge.post("/user/messages", content=body, headers=JSON), 400)


@pytest.mark.usefixtures("untouched")
def test_a_u2c_body_longer_than_any_u2c_can_be_written_is_refused_unread(
    edge: TestClient, organization: Organisation
) -> None:
    body = u2c_body(organization)
    assert_refused(edge.post("/user/messages", content=body * 100, headers=JSON), 413)
    chunked = iter([body, body, body])
    assert_refused(edge.post("/user/messages", content=chunked, headers=JSON), 413)


# --- signed forms (J2C, profiles, queue) ---------------------------------------------------


def _stale(organization: Organisation) -> dict[str, str]:
    return j2c_form(organization, NOW - timedelta(minutes=6))


def _future(organization: Organisation) -> dict[str, str]:
    return j2c_form(organization, NOW + timedelta(minutes=2))


def _unknown_signer(organization: Organisation) -> dict[str, str]:
    message = b64_encode(bytes(730))
    return sign_form({"message": message}, SigningKeyPair.generate(), NOW).to_json()


def _wrong_role(organization: Organisation) -> dict[str, str]:
    message = b64_encode(bytes(730))
    return sign_form({"message": message}, organization.covernode_identity.pair, NOW).to_json()


def _tampered(organization: Organisation) -> dict[str, str]:
    form = j2c_form(organization, NOW)
    return {**form, "signature": flip_last_hex(form["signature"])}


def _j2c_payload(message: object) -> Callable[[Organisation], dict[str, str]]:
    return lambda organization: sign_form(
        {"message": message}, alice(organization).identity.pair, NOW
    ).to_json()


J2C_REFUSALS: dict[str, Refusal] = {
    "stale form": (_stale, 400),
    "form from the future": (_future, 400),
    "unknown signer": (_unknown_signer, 403),
    "signer of the wrong role": (_wrong_role, 403),
    "tampered signature": (_tampered, 403),
    "message of 729 bytes": (_j2c_payload(b64_encode(bytes(729))), 400),
    "message in bad base64": (_j2c_payload("!!!!"), 400),
    "message missing": (_j2c_payload(None), 400),
    "not a form": (lambda organization: {"body": 1}, 400),
    "a json list": (lambda organization: [], 400),
}


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize("name", sorted(J2C_REFUSALS))
def test_bad_j2c_forms_are_refused(edge: TestClient, organization: Organisation, name: str) -> None:
    assert_post_refused(edge, "/v1/journalist-messages", J2C_REFUSALS[name], organization)


@pytest.mark.usefixtures("untouched")
def test_a_form_by_an_expired_identity_key_is_refused(
    edge: TestClient, organization: Organisation, clock: FixedClock
) -> None:
    clock.advance(timedelta(weeks=8, seconds=1))
    response = edge.post("/v1/journalist-messages", json=j2c_form(organization, clock.now()))
    assert_refused(response, 403)


def _profile(organization: Organisation, **changes: Any) -> dict[str, str]:
    profile = JournalistProfile.create(JOURNALIST_ID, "Alice Example", "Desk", is_desk=False)
    payload: dict[str, Any] = {"profile": profile.to_json(), "default": True}
    signer = changes.pop("signer", organization.journalist_provisioning.pair)
    payload["profile"].update(changes.pop("profile", {}))
    payload.update(changes)
    return sign_form(payload, signer, NOW).to_json()


def _tag(recipient_id: str) -> str:
    return RecipientTag.of(recipient_id).hex()


def _no_profile(organization: Organisation) -> dict[str, str]:
    return sign_form({"default": True}, organization.journalist_provisioning.pair, NOW).to_json()


PROFILE_REFUSALS: dict[str, Refusal] = {
    "tag of another id": (lambda o: _profile(o, profile={"tag": "00000000"}), 400),
    "default not a boolean": (lambda o: _profile(o, default="yes"), 400),
    "profile missing": (_no_profile, 400),
    "empty id": (lambda o: _profile(o, profile={"id": "", "tag": _tag("")}), 400),
    "signed by an identity key": (
        lambda o: _profile(o, signer=alice(o).identity.pair),
        403,
    ),
    "stale": (
        lambda o: sign_form({}, o.journalist_provisioning.pair, NOW - timedelta(hours=1)).to_json(),
        400,
    ),
}


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize("name", sorted(PROFILE_REFUSALS))
def test_bad_profiles_are_refused(edge: TestClient, organization: Organisation, name: str) -> None:
    assert_post_refused(edge, "/v1/journalist-profiles", PROFILE_REFUSALS[name], organization)


QUEUE_REFUSALS: dict[str, Refusal] = {
    "unknown direction": (lambda o: queue_form(o, NOW, "sideways"), 400),
    "limit 0": (lambda o: queue_form(o, NOW, limit=0), 400),
    "limit 1001": (lambda o: queue_form(o, NOW, limit=1001), 400),
    "negative after": (lambda o: queue_form(o, NOW, after=-1), 400),
    "after beyond 64 bits": (lambda o: queue_form(o, NOW, after=2**70), 400),
    "ack_through beyond 64 bits": (lambda o: queue_form(o, NOW, ack_through=2**64), 400),
    "stale": (lambda o: queue_form(o, NOW - timedelta(minutes=10), ack_through=5), 400),
    "signed by a journalist": (
        lambda o: sign_form(
            {"direction": "user", "after": 0, "limit": 1, "ack_through": 5},
            alice(o).identity.pair,
            NOW,
        ).to_json(),
        403,
    ),
    "direction as a list": (
        lambda o: sign_form(
            {"direction": ["user"], "after": 0, "limit": 1, "ack_through": 5},
            o.covernode_identity.pair,
            NOW,
        ).to_json(),
        400,
    ),
    "after as a boolean": (
        lambda o: sign_form(
            {"direction": "user", "after": True, "limit": 1, "ack_through": 5},
            o.covernode_identity.pair,
            NOW,
        ).to_json(),
        400,
    ),
}


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize("name", sorted(QUEUE_REFUSALS))
def test_bad_queue_pulls_are_refused_and_acknowledge_nothing(
    edge: TestClient, organization: Organisation, name: str
) -> None:
    assert_post_refused(edge, "/v1/covernode/queue", QUEUE_REFUSALS[name], organization)


# --- oversized bodies ---------------------------------------------------------------------

CAPS = {
    "/v1/journalist-messages": FORM_BODY_CAP,
    "/v1/keys": FORM_BODY_CAP,
    "/v1/revocations": FORM_BODY_CAP,
    "/v1/journalist-profiles": FORM_BODY_CAP,
    "/v1/covernode/queue": FORM_BODY_CAP,
    "/v1/user/dead-drops": DEAD_DROP_BODY_CAP,
    "/v1/journalist/dead-drops": DEAD_DROP_BODY_CAP,
}


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize("path", sorted(CAPS))
def test_bodies_over_the_cap_are_refused_with_413(edge: TestClient, path: str) -> None:
    oversized = json.dumps({"padding": "x" * CAPS[path]}).encode()
    assert_refused(edge.post(path, content=oversized, headers=JSON), 413)
    chunked = iter([oversized[: CAPS[path]], oversized[CAPS[path] :]])
    assert_refused(edge.post(path, content=chunked, headers=JSON), 413)


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize("path", sorted(CAPS))
def test_garbage_bodies_are_refused_with_400(edge: TestClient, path: str) -> None:
    for body in (b"", b"{", b"\xff\xfe", b"[]", b"null", b'{"a": 1}', b"[" * 100_000):
        if len(body) <= CAPS[path]:
            assert_refused(edge.post(path, content=body, headers=JSON), 400)


@pytest.mark.usefixtures("untouched")
def test_a_garbled_content_length_is_refused(edge: TestClient, organization: Organisation) -> None:
    response = edge.post("/v1/keys", content=b"{}", headers={**JSON, "Content-Length": "two"})
    assert_refused(response, 400)


# --- GET dead drops -----------------------------------------------------------------------


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize("kind", ["user", "journalist"])
@pytest.mark.parametrize(
    "value",
    ["-1", "abc", "1.5", "", "99999999999999999999", "9223372036854775808", "\u0661\u0662", " 1"],
)
def test_a_bad_ids_greater_than_is_refused(edge: TestClient, kind: str, value: str) -> None:
    response = edge.get(f"/v1/{kind}/dead-drops", params={"ids_greater_than": value})
    assert_refused(response, 400)
