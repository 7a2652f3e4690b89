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
"""

from __future__ import annotations

import base64
import json

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
