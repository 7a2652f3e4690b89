"""Requests built byte for byte as CoverDrop's own clients build them, read from
CoverDrop's source (github.com/guardian/coverdrop), so the edge is tested against what
those apps send rather than against Quietline's own client.

- Android: ``android/core/.../CoverDropPublicDataRepository.kt`` posts
  ``UserMessage(message.bytes.base64Encode())``, where ``base64Encode`` is
  ``Base64.encodeToString(bytes, NO_PADDING or NO_WRAP)``
  (``core/utils/Base64DecodeEncodeExtensions.kt``), serialised by Gson as a bare JSON
  string (``core/api/ApiJsonAdapter.kt``, ``jsonifyUserMessage``).
- iOS: ``ios/reference/CoverDropCore/.../PublicDataRepository.swift`` (``sendMessage``)
  encodes ``Data.base64EncodedString()`` (padded) with a default ``JSONEncoder``, which
  writes ``/`` as ``\\/``; ``UserToJournalistMessageRepository.swift`` posts it with
  ``Content-Type: application/json`` and ``Accept: application/json``.
- The journalist client (``common/src/api/api_client.rs``, ``post_journalist_msg``) posts
  a ``PostJournalistToCoverNodeMessageForm`` with reqwest's ``.json``; the form is
  ``common/src/form.rs``.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from quietline.protocol.keys import SigningKeyPair

ANDROID_HEADERS = {"Content-Type": "application/json; charset=utf-8"}
IOS_HEADERS = {"Accept": "application/json", "Content-Type": "application/json"}


def android_u2c_body(u2c: bytes) -> bytes:
    """The body of the Android app's ``POST /user/messages``."""
    unpadded = base64.b64encode(u2c).decode().rstrip("=")
    return json.dumps(unpadded).encode()


def ios_u2c_body(u2c: bytes) -> bytes:
    """The body of the iOS app's ``POST /user/messages``: ``JSONEncoder`` output of the
    padded base64, every ``/`` escaped."""
    padded = base64.b64encode(u2c).decode()
    return json.dumps(padded).replace("/", "\\/").encode()


def coverdrop_form(data: bytes, key: SigningKeyPair, created_at: str, not_valid_after: str) -> Any:
    """A ``Form`` as CoverDrop's ``common/src/form.rs`` makes it (the journalist client's
    ``PostJournalistToCoverNodeMessageForm``, the admin tool's
    ``PostSystemStatusEventForm``, posted with reqwest's ``.json``): ``data`` is the form
    data's JSON; the times are as chrono's serde writes them (``Z``), and the
    signature covers ``data`` and both times as ``to_rfc3339()`` writes them
    (``+00:00``)."""
    signed = data + (_rfc3339(created_at) + _rfc3339(not_valid_after)).encode()
    return {
        "body": base64.b64encode(data).decode(),
        "signature": key.sign(signed).hex(),
        "created_at": created_at,
        "not_valid_after": not_valid_after,
        "signing_pk": key.public.hex(),
    }


def j2c_data(j2c: bytes) -> bytes:
    """``serde_json::to_vec`` of an ``EncryptedJournalistToCoverNodeMessage`` (a
    ``MultiAnonymousBox``, ``#[serde(transparent)]``, unpadded base64)."""
    return json.dumps(base64.b64encode(j2c).decode().rstrip("=")).encode()


def _rfc3339(serde_text: str) -> str:
    return serde_text.removesuffix("Z") + "+00:00"


def app_handover_id(j2u_plaintext: bytes) -> str | None:
    """The new journalist's id as CoverDrop's apps read a handover J2U (type 0x01), None
    when they would refuse it: iOS's ``DeadDropMessageParser.parseHandoverMessage`` takes
    the bytes after the type up to the first NUL, which must come within 128 bytes of
    the message's start; Android's ``DecryptedDeadDropMessage.Handover.parse`` the same
    (``end in 0 until MAX_JOURNALIST_IDENTITY_LEN``)."""
    if j2u_plaintext[0] != 0x01:
        return None
    end = j2u_plaintext.find(b"\0", 1)
    if not 0 < end <= 128:
        return None
    try:
        return j2u_plaintext[1:end].decode("utf-8")
    except UnicodeDecodeError:
        return None
