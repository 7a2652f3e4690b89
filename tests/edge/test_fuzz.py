"""Arbitrary bodies, headers and queries at every route: never a 5xx, never a lost row.

The TestClient re-raises any exception the app did not turn into a response, so an
unexpected exception fails these tests as loudly as a 500 would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from tempfile import TemporaryDirectory

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from quietline.clock import FixedClock
from quietline.edge import EdgeStore, create_app
from quietline.protocol.forms import sign_form
from tests.edge.checks import stored_rows
from tests.edge.submissions import (
    JSON,
    NOW,
    alice,
    build_organization,
    publish_keys,
    u2c_body,
    user_dead_drop,
)
from tests.support.queues import queues_beside

POST_ROUTES = [
    "/user/messages",
    "/v1/journalist-messages",
    "/v1/keys",
    "/v1/revocations",
    "/v1/journalist-profiles",
    "/v1/user/dead-drops",
    "/v1/journalist/dead-drops",
    "/v1/covernode/queue",
]
GET_ROUTES = [
    "/v1/public-keys",
    "/v1/user/dead-drops",
    "/v1/journalist/dead-drops",
    "/v1/status",
    "/openapi.json",
]
ORGANIZATION = build_organization(NOW)

_BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_header_value = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40
).map(str.strip)
_headers = st.dictionaries(
    st.sampled_from(
        [
            "Content-Type",
            "User-Agent",
            "X-Forwarded-For",
            "X-Real-IP",
            "Forwarded",
            "Accept",
            "Content-Encoding",
            "Transfer-Encoding-Hint",
            "Authorization",
        ]
    ),
    _header_value,
    max_size=4,
)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "body",
                    "signing_pk",
                    "signature",
                    "role",
                    "owner",
                    "parent_key",
                    "key",
                    "role_signature",
                    "revoked_at",
                    "created_at",
                    "data",
                    "epoch",
                    "message",
                    "profile",
                ]
            )
            | st.text(max_size=8),
            children,
            max_size=5,
        )
    ),
    max_leaves=12,
)
_bodies = st.one_of(
    st.binary(max_size=1500),
    _json.map(lambda document: json.dumps(document).encode()),
    st.binary(min_size=1033, max_size=1033),
    st.text(alphabet=_BASE64, min_size=1031, max_size=1031).map(lambda t: f'"{t}"'.encode()),
)


@pytest.fixture(scope="module")
def edge() -> Iterator[tuple[TestClient, Path]]:
    """One edge for every example, with keys, a profile, a queued U2C and a dead drop."""
    with TemporaryDirectory() as folder:
        store = EdgeStore(Path(folder) / "edge.sqlite3")
        try:
            with queues_beside(store) as queues:
                app = create_app(
                    store, [ORGANIZATION.anchor], FixedClock(NOW), queues=queues.engine
                )
                with TestClient(app) as client:
                    publish_keys(client, ORGANIZATION)
                    client.post("/user/messages", content=u2c_body(ORGANIZATION), headers=JSON)
                    drop = user_dead_drop(ORGANIZATION, NOW)
                    client.post("/v1/user/dead-drops", json=drop.to_json())
                    yield client, store.path
        finally:
            store.close()


# Four times the profile's count: 400 by default, fewer under make check's light profile.
FUZZ_SETTINGS = settings(
    max_examples=4 * settings().max_examples,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ_SETTINGS
@given(route=st.sampled_from(POST_ROUTES), body=_bodies, headers=_headers)
def test_no_post_answers_5xx_and_a_refusal_changes_nothing(
    edge: tuple[TestClient, Path], route: str, body: bytes, headers: dict[str, str]
) -> None:
    client, database = edge
    before = stored_rows(database)
    # JSON unless the example sets its own Content-Type, so bodies reach the parsers.
    response = client.post(route, content=body, headers={**JSON, **headers})
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert isinstance(response.json()["error"], str)
        assert stored_rows(database) == before


@FUZZ_SETTINGS
@given(
    route=st.sampled_from(GET_ROUTES),
    query=st.text(max_size=40),
    headers=_headers,
)
def test_no_get_answers_5xx(
    edge: tuple[TestClient, Path], route: str, query: str, headers: dict[str, str]
) -> None:
    client, _ = edge
    params = {"ids_greater_than": query, "quietline": query}
    response = client.get(route, params=params, headers=headers)
    assert response.status_code < 500, response.text
    assert response.status_code in (200, 400)


FORM_SIGNERS = {
    "/v1/journalist-messages": alice(ORGANIZATION).identity.pair,
    "/v1/journalist-profiles": ORGANIZATION.journalist_provisioning.pair,
    "/v1/covernode/queue": ORGANIZATION.covernode_identity.pair,
}
_payload_value = (
    _json
    | st.sampled_from(["user", "journalist", "", "AAAA"])
    | st.integers(min_value=-2, max_value=2**64)
)
_payloads = st.dictionaries(
    st.sampled_from(
        ["message", "profile", "default", "direction", "after", "limit", "ack_through"]
    ),
    _payload_value,
    max_size=5,
)


@FUZZ_SETTINGS
@given(route=st.sampled_from(sorted(FORM_SIGNERS)), payload=_payloads)
def test_correctly_signed_forms_with_arbitrary_payloads_never_answer_5xx(
    edge: tuple[TestClient, Path], route: str, payload: dict[str, object]
) -> None:
    client, database = edge
    before = stored_rows(database)
    form = sign_form(payload, FORM_SIGNERS[route], NOW).to_json()
    response = client.post(route, json=form)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert stored_rows(database) == before
