"""CoverDrop's profile management against the edge: forms as its admin tool and its
journalist client sign them (``common/src/api/forms/``), and what sources are shown after.

The admin tool publishes, changes and removes profiles with forms signed by a journalist
provisioning key; a journalist hides themself (or shows themself again) with a form signed
by their own identity key. Every refusal leaves the stored data as it was.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from quietline.protocol.coverdrop_forms import sign_coverdrop_form
from quietline.protocol.hierarchy import JournalistProfile, JournalistStatus
from quietline.protocol.keys import SigningKeyPair
from quietline.protocol.profile_forms import ProfilePatch, new_profile_json, status_change_json
from quietline.protocol.recipients import RecipientId
from tests.edge.submissions import JOURNALIST_ID, NOW, alice
from tests.support.organisation import Organisation

UPDATE_PROFILE = "/v1/public-keys/journalists/update-profile"
UPDATE_STATUS = "/v1/public-keys/journalists/update-status"
DELETE = "/v1/public-keys/journalists/delete"
NEW = "/v1/public-keys/journalists"


def form(data: object, key: SigningKeyPair) -> dict[str, Any]:
    """A CoverDrop ``Form`` over ``data``'s JSON, made now."""
    return sign_coverdrop_form(json.dumps(data).encode(), key, NOW).to_json()


def provisioning(organization: Organisation) -> SigningKeyPair:
    return organization.journalist_provisioning.pair


def listed(edge: TestClient) -> dict[str, dict[str, Any]]:
    """The profiles the apps are shown, by id."""
    document = edge.get("/v1/public-keys").json()
    return {profile["id"]: profile for profile in document["journalist_profiles"]}


def send(edge: TestClient, method: str, path: str, body: dict[str, Any]) -> int:
    return int(edge.request(method, path, json=body).status_code)


def test_the_admin_tool_changes_only_the_fields_it_names(
    edge: TestClient, organization: Organisation
) -> None:
    before = listed(edge)[JOURNALIST_ID]
    patch = ProfilePatch(JOURNALIST_ID, display_name="Alice Barton", is_desk=True)

    assert (
        send(edge, "PATCH", UPDATE_PROFILE, form(patch.to_json(), provisioning(organization)))
        == 204
    )

    after = listed(edge)[JOURNALIST_ID]
    assert after == {**before, "display_name": "Alice Barton", "is_desk": True}


def test_a_long_description_is_refused_for_someone_who_is_not_a_desk(
    edge: TestClient, organization: Organisation, untouched: None
) -> None:
    patch = ProfilePatch(JOURNALIST_ID, is_desk=False, description="é" * 21)  # 42 bytes

    assert (
        send(edge, "PATCH", UPDATE_PROFILE, form(patch.to_json(), provisioning(organization)))
        == 400
    )


MALLORY = {"id": "mallory", "display_name": "M", "sort_name": "m", "description": "d",
           "is_desk": True, "status": "VISIBLE"}  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "data", "signer", "status"),
    [
        # An unknown journalist is not found...
        ("PATCH", UPDATE_PROFILE, ProfilePatch(RecipientId("nobody"), sort_name="x").to_json(),
         "provisioning", 404),
        ("DELETE", DELETE, "nobody", "provisioning", 404),
        # ... and only a provisioning key may sign these forms.
        ("PATCH", UPDATE_PROFILE, ProfilePatch(JOURNALIST_ID, display_name="M").to_json(),
         "identity", 403),
        ("PATCH", UPDATE_PROFILE, ProfilePatch(JOURNALIST_ID, display_name="M").to_json(),
         "stranger", 403),
        ("DELETE", DELETE, JOURNALIST_ID, "identity", 403),
        ("DELETE", DELETE, JOURNALIST_ID, "stranger", 403),
        ("POST", NEW, MALLORY, "identity", 403),
        ("POST", NEW, MALLORY, "stranger", 403),
    ],
)  # fmt: skip
def test_profile_forms_are_refused_with_nothing_changed(
    edge: TestClient,
    organization: Organisation,
    untouched: None,
    method: str,
    path: str,
    data: object,
    signer: str,
    status: int,
) -> None:
    key = {
        "provisioning": provisioning(organization),
        "identity": alice(organization).identity.pair,
        "stranger": SigningKeyPair.generate(),
    }[signer]
    assert send(edge, method, path, form(data, key)) == status


def test_a_journalist_hides_and_shows_themself(
    edge: TestClient, organization: Organisation
) -> None:
    identity = alice(organization).identity.pair

    def status(value: JournalistStatus) -> int:
        return send(
            edge, "PATCH", UPDATE_STATUS, form(status_change_json((JOURNALIST_ID, value)), identity)
        )

    assert status(JournalistStatus.HIDDEN_FROM_UI) == 204
    assert listed(edge)[JOURNALIST_ID]["status"] == "HIDDEN_FROM_UI"  # still reachable
    assert status(JournalistStatus.HIDDEN_FROM_RESPONSE) == 204
    assert JOURNALIST_ID not in listed(edge)
    assert edge.get("/v1/public-keys").json()["default_journalist_id"] is None
    assert status(JournalistStatus.VISIBLE) == 204
    assert listed(edge)[JOURNALIST_ID]["status"] == "VISIBLE"


def test_only_the_journalist_named_may_change_their_status(
    edge: TestClient, organization: Organisation, untouched: None
) -> None:
    change = status_change_json((JOURNALIST_ID, JournalistStatus.HIDDEN_FROM_RESPONSE))
    for key in (provisioning(organization), SigningKeyPair.generate()):
        assert send(edge, "PATCH", UPDATE_STATUS, form(change, key)) == 403
    other = status_change_json((RecipientId("bob"), JournalistStatus.HIDDEN_FROM_UI))
    assert send(edge, "PATCH", UPDATE_STATUS, form(other, alice(organization).identity.pair)) == 403


def test_the_admin_tool_publishes_and_removes_a_profile(
    edge: TestClient, organization: Organisation
) -> None:
    profile = JournalistProfile.create("bob", "Bob Smith", "Courts", is_desk=False)

    assert (
        send(edge, "POST", NEW, form(new_profile_json(profile), provisioning(organization))) == 204
    )
    assert listed(edge)["bob"] == profile.to_json()
    assert edge.get("/v1/public-keys").json()["default_journalist_id"] == JOURNALIST_ID

    assert send(edge, "DELETE", DELETE, form("bob", provisioning(organization))) == 204
    assert "bob" not in listed(edge)
    assert send(edge, "DELETE", DELETE, form("bob", provisioning(organization))) == 404


@pytest.mark.parametrize(
    ("path", "data"),
    [
        (UPDATE_PROFILE, {"journalist_id": "alice", "display_name": "A", "extra": 1}),
        (UPDATE_PROFILE, {"journalist_id": "alice", "is_desk": "yes"}),
        (UPDATE_STATUS, {"journalist_id": "alice", "status": "GONE"}),
        (NEW, {"id": "bob", "display_name": "B", "sort_name": "b", "description": "d",
               "is_desk": True, "status": "VISIBLE", "tag": "00000000"}),
    ],
)  # fmt: skip
def test_bodies_coverdrop_would_refuse_are_refused(
    edge: TestClient, organization: Organisation, untouched: None, path: str, data: object
) -> None:
    key = alice(organization).identity.pair if path == UPDATE_STATUS else provisioning(organization)
    method = "POST" if path == NEW else "PATCH"
    assert send(edge, method, path, form(data, key)) == 400
