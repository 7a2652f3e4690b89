"""The edge's OpenAPI document (``GET /openapi.json``), written by hand from docs/api.md."""

from __future__ import annotations

from typing import Any


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
    "schema": {"type": "integer", "minimum": 0, "default": 0},
    "description": "Return dead drops with larger ids, in id order: at most 100 per call,"
    " and no more than fit in the edge's page size (a few MiB; at least one). Ask again"
    " after the last id returned until the list is empty.",
}


def _dead_drop_path(kind: str, item: str, posted: str) -> dict[str, Any]:
    return {
        "get": {
            "summary": f"{kind.capitalize()}-facing dead drops after an id",
            "parameters": [_ID_QUERY],
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
            "summary": f"Publish a signed {kind} dead drop (stored once per signature)",
            "requestBody": _json_body(_ref(posted), "signed by a CoverNode identity key"),
            "responses": {"200": _answer("its id", _ref("Id")), **_REFUSALS},
        },
    }


def _form_path(summary: str, payload: str, busy: dict[str, Any] = _BUSY) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "requestBody": _json_body(_ref("SignedForm"), f"payload: {payload}"),
            "responses": {"204": _answer("accepted"), **_REFUSALS, "503": busy},
        }
    }


def _get(summary: str, answer: dict[str, Any]) -> dict[str, Any]:
    return {"get": {"summary": summary, "responses": {"200": answer, "503": _BUSY}}}


_DEAD_DROP_FIELDS = {
    "created_at": {"type": "string", "format": "date-time"},
    "data": {"type": "string", "description": "base64 of the concatenated entries"},
    "signature": {"type": "string", "description": "hex Ed25519 signature"},
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
        "/v1/user/dead-drops": _dead_drop_path("user", "UserDeadDrop", "UnpublishedUserDeadDrop"),
        "/v1/journalist/dead-drops": _dead_drop_path(
            "journalist", "JournalistDeadDrop", "UnpublishedJournalistDeadDrop"
        ),
        "/v1/status": _get("Whether messages can be sent now", _answer("status", _ref("Status"))),
        "/user/messages": {
            "post": {
                "summary": "Submit one 773-byte U2C message (real or cover)",
                "requestBody": _json_body(
                    {"type": "string", "minLength": 1031, "maxLength": 1031},
                    "standard base64 without padding; the body is exactly 1033 bytes",
                ),
                "responses": {
                    "204": _answer("queued"),
                    "400": _REFUSALS["400"],
                    "415": _NOT_JSON,
                    "503": _QUEUE_FULL,
                },
            }
        },
        "/v1/journalist-messages": _form_path(
            "Submit one J2C message, signed by a journalist identity key",
            '{"message": base64 of 730 bytes}',
            _QUEUE_FULL,
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
        "/v1/covernode/queue": {
            "post": {
                "summary": "Pull and acknowledge queued submissions (the mixer)",
                "requestBody": _json_body(
                    _ref("SignedForm"),
                    'signed by a CoverNode identity key; payload {"direction": "user"|'
                    '"journalist", "after": seq, "limit": 1..1000, "ack_through": seq}',
                ),
                "responses": {"200": _answer("queued messages", _ref("Queue")), **_REFUSALS},
            }
        },
        "/openapi.json": _get("This document", _answer("OpenAPI 3.1")),
    },
    "components": {
        "schemas": {
            "Error": {"type": "object", "properties": {"error": {"type": "string"}}},
            "Id": {"type": "object", "properties": {"id": {"type": "integer"}}},
            "Epoch": {"type": "object", "properties": {"epoch": {"type": "integer"}}},
            "SignedKey": {
                "type": "object",
                "properties": {
                    "key": {"type": "string"},
                    "certificate": {"type": "string"},
                    "not_valid_after": {"type": "string", "format": "date-time"},
                },
            },
            "KeySubmission": {
                "type": "object",
                "properties": {
                    "role": {"type": "string"},
                    "owner": {"type": ["string", "null"]},
                    "parent_key": {"type": "string"},
                    "key": _ref("SignedKey"),
                    "role_signature": {
                        "type": "string",
                        "description": "hex; the organisation's role statement, for (and "
                        "only for) a provisioning key",
                    },
                },
            },
            "Revocation": {
                "type": "object",
                "properties": {
                    "key": {"type": "string"},
                    "revoked_at": {"type": "string", "format": "date-time"},
                    "signature": {"type": "string"},
                },
            },
            "PublishedKeys": {
                "type": "object",
                "properties": {
                    "journalist_profiles": {"type": "array", "items": {"type": "object"}},
                    "default_journalist_id": {"type": ["string", "null"]},
                    "keys": {"type": "array", "items": {"type": "object"}},
                    "max_epoch": {"type": "integer"},
                    "quietline": {
                        "type": "object",
                        "properties": {
                            "roles": {"type": "array", "items": {"type": "object"}},
                            "revocations": {"type": "array", "items": _ref("Revocation")},
                        },
                    },
                },
            },
            "UnpublishedUserDeadDrop": {"type": "object", "properties": _DEAD_DROP_FIELDS},
            "UnpublishedJournalistDeadDrop": {
                "type": "object",
                "properties": {**_DEAD_DROP_FIELDS, "epoch": {"type": "integer"}},
            },
            "UserDeadDrop": {
                "type": "object",
                "properties": {"id": {"type": "integer"}, **_DEAD_DROP_FIELDS},
            },
            "JournalistDeadDrop": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    **_DEAD_DROP_FIELDS,
                    "epoch": {"type": "integer"},
                },
            },
            "Status": {
                "type": "object",
                "properties": {
                    "status": {"enum": ["AVAILABLE", "NO_INFORMATION"]},
                    "is_available": {"type": "boolean"},
                    "description": {"type": "string"},
                    "timestamp": {"type": "string", "format": "date-time"},
                },
            },
            "SignedForm": {
                "type": "object",
                "properties": {
                    "body": {"type": "string", "description": "base64 of the JSON payload"},
                    "signing_pk": {"type": "string"},
                    "signature": {"type": "string"},
                },
            },
            "Queue": {
                "type": "object",
                "properties": {
                    "messages": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "seq": {"type": "integer"},
                                "data": {"type": "string"},
                            },
                        },
                    }
                },
            },
        }
    },
}
