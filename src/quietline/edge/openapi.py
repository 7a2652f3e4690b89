"""The edge's OpenAPI document (``GET /openapi.json``), written by hand from docs/api.md."""

from __future__ import annotations

from typing import Any

from quietline.protocol.api import DEAD_DROP_BACK_MAX, DEAD_DROP_LIMIT, DEAD_DROP_PAGE, SystemStatus
from quietline.protocol.certificates import KeyRole
from quietline.protocol.deaddrops import DeadDropKind
from quietline.protocol.jsonvalues import I64_MAX


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "required": True,
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }


def _answer(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    if schema is None:
        return {"description": description}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before trying again",
        "schema": {"type": "integer", "minimum": 1},
    }
}
_BUSY = {
    **_answer(
        "the edge is busy (too many requests in progress, or its store could not take the"
        " write in time); try again",
        _ref("Error"),
    ),
    "headers": _RETRY_AFTER,
}
_NOT_JSON = _answer("the body is not declared Content-Type: application/json", _ref("Error"))
_QUEUE_FULL = {
    **_answer(
        "the submission queue holds its maximum of unacknowledged messages (or the edge is"
        " busy); keep the message and try again",
        _ref("Error"),
    ),
    "headers": _RETRY_AFTER,
}
_REFUSALS = {
    "400": _answer("malformed, wrong-size, stale or expired input", _ref("Error")),
    "403": _answer("a signature, certificate or signer that is not trusted", _ref("Error")),
    "413": _answer("the body is larger than the route allows", _ref("Error")),
    "415": _NOT_JSON,
    "503": _BUSY,
}
_ID_QUERY = {
    "name": "ids_greater_than",
    "in": "query",
    "required": False,
    "schema": {"type": "integer", "minimum": 0, "maximum": I64_MAX, "default": 0},
    "description": "Return dead drops with larger ids, in id order: at most the limit per"
    " call, and no more than fit in the edge's page size (a few MiB; at least one). Ask"
    " again after the last id returned until the list is empty.",
}


def _limit_query(most: int) -> dict[str, Any]:
    return {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": 2**32 - 1, "default": most},
        "description": f"At most this many dead drops; more than {most} is lowered to"
        f" {most}, as CoverDrop does. Not read when window is given.",
    }


_WINDOW_QUERY = {
    "name": "window",
    "in": "query",
    "required": False,
    "schema": {"type": "integer", "minimum": 1, "maximum": DEAD_DROP_PAGE},
    "description": "Return this many dead drops, those just before the newest `back`"
    " (fewer only when the edge holds fewer). ids_greater_than and limit are not read: the"
    " question names nothing the reader has seen, and the answer's size does not say how"
    " far behind it is.",
}

_BACK_QUERY = {
    "name": "back",
    "in": "query",
    "required": False,
    "schema": {"type": "integer", "minimum": 0, "maximum": DEAD_DROP_BACK_MAX, "default": 0},
    "description": "With window: how many of the newest dead drops to leave out before"
    " the window. Not read without window.",
}


def _dead_drop_path(kind: DeadDropKind, item: str, posted: str) -> dict[str, Any]:
    return {
        "get": {
            "summary": f"{kind.value.capitalize()}-facing dead drops after an id",
            "parameters": [
                _ID_QUERY,
                _limit_query(DEAD_DROP_LIMIT[kind]),
                _WINDOW_QUERY,
                _BACK_QUERY,
            ],
            "responses": {
                "200": _answer(
                    "dead drops",
                    {
                        "type": "object",
                        "properties": {"dead_drops": {"type": "array", "items": _ref(item)}},
                    },
                ),
                "400": _REFUSALS["400"],
                "503": _BUSY,
            },
        },
        "post": {
            "summary": f"Publish a signed {kind.value} dead drop (stored once per signature)",
            "requestBody": _json_body(_ref(posted), "signed by a CoverNode identity key"),
            "responses": {
                "200": _answer("its id", _ref("Id")),
                "409": _answer("the signature is stored on the other kind", _ref("Error")),
                **_REFUSALS,
            },
        },
    }


def _form_path(
    summary: str,
    payload: str,
    busy: dict[str, Any] = _BUSY,
    form: dict[str, Any] | None = None,
    method: str = "post",
) -> dict[str, Any]:
    return {
        method: {
            "summary": summary,
            "requestBody": _json_body(form or _ref("SignedForm"), f"payload: {payload}"),
            "responses": {"204": _answer("accepted"), **_REFUSALS, "503": busy},
        }
    }


def _profile_path(summary: str, payload: str, method: str = "post") -> dict[str, Any]:
    """One of CoverDrop's profile-management routes (quietline.protocol.profile_forms)."""
    path = _form_path(summary, payload, form=_ref("CoverDropForm"), method=method)
    path[method]["responses"]["404"] = _answer("no such journalist is published", _ref("Error"))
    return path


def _get(summary: str, answer: dict[str, Any]) -> dict[str, Any]:
    return {"get": {"summary": summary, "responses": {"200": answer, "503": _BUSY}}}


_INTEGER = {"type": "integer", "minimum": 0}
_INSTANT = {"type": "string", "format": "date-time"}
_BASE64 = {"type": "string", "pattern": "^[A-Za-z0-9+/]*={0,2}$"}
_ROLE = {"enum": [role.value for role in KeyRole]}


def _hex(size: int) -> dict[str, Any]:
    """A string of ``size`` bytes in lowercase hex."""
    return {"type": "string", "pattern": f"^[0-9a-f]{{{2 * size}}}$"}


def _object(optional: dict[str, Any] | None = None, **required: Any) -> dict[str, Any]:
    """A JSON object with the ``required`` members and, if present, the ``optional`` ones."""
    return {
        "type": "object",
        "required": list(required),
        "properties": {**required, **(optional or {})},
    }


def _provisioning_family(realm: str) -> dict[str, Any]:
    """A provisioning key and, per CoverNode or journalist id, its identity families."""
    members = {"type": "array", "items": _ref("IdentityFamily")}
    return _object(
        provisioning_pk=_ref("SignedKey"),
        **{realm: {"type": "object", "additionalProperties": members}},
    )


_DEAD_DROP_FIELDS: dict[str, Any] = {
    "created_at": _INSTANT,
    "data": {**_BASE64, "description": "base64 of the concatenated entries"},
    "signature": {**_hex(64), "description": "Ed25519 signature"},
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Quietline edge",
        "version": "1",
        "description": "The public edge: CoverDrop-compatible routes. Nothing about callers "
        "is stored or logged.",
    },
    "paths": {
        "/v1/public-keys": {
            "get": {
                "summary": "The published key hierarchy and journalist profiles",
                "parameters": [
                    {
                        "name": "quietline",
                        "in": "query",
                        "required": False,
                        "schema": {"enum": ["1"]},
                        "description": "Add the organisation's role statements and "
                        "revocations in a quietline member (without it: CoverDrop's document).",
                    }
                ],
                "responses": {
                    "200": _answer("published keys", _ref("PublishedKeys")),
                    "503": _BUSY,
                },
            }
        },
        "/v1/user/dead-drops": _dead_drop_path(
            DeadDropKind.USER, "UserDeadDrop", "UnpublishedUserDeadDrop"
        ),
        "/v1/journalist/dead-drops": _dead_drop_path(
            DeadDropKind.JOURNALIST, "JournalistDeadDrop", "UnpublishedJournalistDeadDrop"
        ),
        "/v1/status": {
            **_get("Whether messages can be sent now", _answer("status", _ref("Status"))),
            **_form_path(
                "Set the status the apps show, in a CoverDropForm signed by the organisation key",
                '{"status": {"status", "description", "timestamp"}}',
                form=_ref("CoverDropForm"),
            ),
        },
        "/v1/healthcheck": _get(
            "Whether the edge answers (CoverDrop's HealthCheck)",
            _answer(
                "ok",
                _object(
                    name={"type": "string"},
                    status={"type": "string"},
                    commit={"type": "null"},
                    branch={"type": "null"},
                ),
            ),
        ),
        "/v1/user/dead-drops/recent-summary": _get(
            "The newest ten user dead drops' ids and times", _answer("summary", _ref("Summary"))
        ),
        "/v1/journalist/dead-drops/recent-summary": _get(
            "The newest ten journalist dead drops' ids and times",
            _answer("summary", _ref("Summary")),
        ),
        "/user/messages": {
            "post": {
                "summary": "Submit one 773-byte U2C message (real or cover)",
                "requestBody": _json_body(
                    {"type": "string", "minLength": 1031, "maxLength": 1032},
                    "standard base64 of 773 bytes, padded or not, with any JSON escapes"
                    " (iOS writes / as \\/); the body is at most 2066 bytes",
                ),
                "responses": {
                    "204": _answer("queued"),
                    "400": _REFUSALS["400"],
                    "413": _REFUSALS["413"],
                    "415": _NOT_JSON,
                    "503": _QUEUE_FULL,
                },
            }
        },
        "/v1/journalist-messages": _form_path(
            "Submit one J2C message, signed by a journalist identity key",
            '{"message": base64 of 730 bytes} in a SignedForm; in a CoverDropForm, a JSON'
            " string of the 730 bytes in base64",
            _QUEUE_FULL,
            {"oneOf": [_ref("SignedForm"), _ref("CoverDropForm")]},
        ),
        "/v1/keys": {
            "post": {
                "summary": "Publish a certified key under its parent",
                "requestBody": _json_body(_ref("KeySubmission"), "the certified key"),
                "responses": {
                    "200": _answer("the epoch it was given", _ref("Epoch")),
                    "409": _answer("the key is published in another place", _ref("Error")),
                    **_REFUSALS,
                },
            }
        },
        "/v1/revocations": {
            "post": {
                "summary": "Publish a revocation signed by the organisation key",
                "requestBody": _json_body(_ref("Revocation"), "the signed revocation"),
                "responses": {"204": _answer("stored"), **_REFUSALS},
            }
        },
        "/v1/journalist-profiles": _form_path(
            "Publish a recipient profile, signed by a journalist provisioning key",
            '{"profile": JournalistProfile, "default": bool}',
        ),
        "/v1/public-keys/journalists": _profile_path(
            "Publish or replace a profile, in CoverDrop's form by a journalist provisioning key",
            "{id, display_name, sort_name, description, is_desk, status}",
        ),
        "/v1/public-keys/journalists/update-profile": _profile_path(
            "Change a profile, in CoverDrop's form by a journalist provisioning key",
            "{journalist_id, display_name?, sort_name?, is_desk?, description?}",
            "patch",
        ),
        "/v1/public-keys/journalists/update-status": _profile_path(
            "Show or hide a journalist, in CoverDrop's form by their own identity key",
            "{journalist_id, status: VISIBLE|HIDDEN_FROM_UI|HIDDEN_FROM_RESPONSE}",
            "patch",
        ),
        "/v1/public-keys/journalists/delete": _profile_path(
            "Stop publishing a profile, in CoverDrop's form by a journalist provisioning key",
            "the journalist's id, a JSON string",
            "delete",
        ),
        "/v1/covernode/queue": {
            "post": {
                "summary": "Pull and acknowledge queued submissions (the mixer)",
                "requestBody": _json_body(
                    _ref("SignedForm"),
                    'signed by a CoverNode identity key; payload {"direction": "user"|'
                    '"journalist", "after": seq, "limit": 1..1000, "ack_through": seq}',
                ),
                "responses": {
                    "200": _answer("queued messages", _ref("Queue")),
                    "409": _answer(
                        "after or ack_through is past the last number the queue gave",
                        _ref("Error"),
                    ),
                    **_REFUSALS,
                },
            }
        },
        "/openapi.json": _get("This document", _answer("OpenAPI 3.1")),
    },
    "components": {
        "schemas": {
            "Error": _object(error={"type": "string"}),
            "Id": _object(id=_INTEGER),
            "Epoch": _object(epoch=_INTEGER),
            "SignedKey": _object(key=_hex(32), certificate=_hex(64), not_valid_after=_INSTANT),
            "KeySubmission": _object(
                role=_ROLE,
                owner={"type": ["string", "null"]},
                parent_key=_hex(32),
                key=_ref("SignedKey"),
                optional={
                    "role_signature": {
                        **_hex(64),
                        "description": "the organisation's role statement, for (and only "
                        "for) a provisioning key",
                    }
                },
            ),
            "Revocation": _object(key=_hex(32), revoked_at=_INSTANT, signature=_hex(64)),
            "RoleStatement": _object(key=_hex(32), role=_ROLE, signature=_hex(64)),
            "JournalistProfile": _object(
                id={"type": "string"},
                display_name={"type": "string"},
                sort_name={"type": "string"},
                description={"type": "string"},
                is_desk={"type": "boolean"},
                tag=_hex(4),
                status={"type": "string"},
            ),
            "IdentityFamily": _object(
                id_pk=_ref("SignedKey"), msg_pks={"type": "array", "items": _ref("SignedKey")}
            ),
            "CoverNodeFamily": _provisioning_family("covernodes"),
            "JournalistFamily": _provisioning_family("journalists"),
            "OrganizationFamily": _object(
                org_pk=_ref("SignedKey"),
                covernodes={"type": "array", "items": _ref("CoverNodeFamily")},
                journalists={"type": "array", "items": _ref("JournalistFamily")},
            ),
            "PublishedKeys": _object(
                journalist_profiles={"type": "array", "items": _ref("JournalistProfile")},
                default_journalist_id={"type": ["string", "null"]},
                keys={"type": "array", "items": _ref("OrganizationFamily")},
                max_epoch=_INTEGER,
                optional={
                    "quietline": _object(
                        roles={"type": "array", "items": _ref("RoleStatement")},
                        revocations={"type": "array", "items": _ref("Revocation")},
                    )
                },
            ),
            "UnpublishedUserDeadDrop": _object(**_DEAD_DROP_FIELDS),
            "UnpublishedJournalistDeadDrop": _object(**_DEAD_DROP_FIELDS, epoch=_INTEGER),
            "UserDeadDrop": _object(id=_INTEGER, **_DEAD_DROP_FIELDS),
            "JournalistDeadDrop": _object(id=_INTEGER, **_DEAD_DROP_FIELDS, epoch=_INTEGER),
            "Status": _object(
                status={"enum": [status.value for status in SystemStatus]},
                is_available={"type": "boolean"},
                description={"type": "string"},
                timestamp=_INSTANT,
            ),
            "SignedForm": _object(
                body={**_BASE64, "description": "base64 of the JSON payload"},
                signing_pk=_hex(32),
                signature=_hex(64),
            ),
            "CoverDropForm": {
                **_object(
                    body={**_BASE64, "description": "base64 of the form data's JSON"},
                    signature=_hex(64),
                    created_at=_INSTANT,
                    not_valid_after=_INSTANT,
                    signing_pk=_hex(32),
                ),
                "additionalProperties": False,
            },
            "Summary": {
                "type": "array",
                "items": _object(id=_INTEGER, createdAt=_INSTANT),
            },
            "Queue": _object(
                messages={
                    "type": "array",
                    "items": _object(seq=_INTEGER, data=_BASE64),
                }
            ),
        }
    },
}
