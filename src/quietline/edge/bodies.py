"""Reading request bodies with their type and size checked before and while they are read.

Every body must be declared ``application/json``: the types a web page may send to
another site without asking it first (``text/plain``, form encodings) are refused, so
no page can make its visitors' browsers post to the edge. A body is refused from its
declared ``Content-Length`` before any byte is read, and reading stops as soon as more
bytes arrive than allowed, so an oversized body costs the edge at most the cap plus one
chunk. A body without ``Content-Length`` (chunked, as a proxy may send it) is read under
the same cap.
"""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse

from quietline.protocol.api import U2C_BODY_CAP, ErrorBody, parse_u2c_body
from quietline.protocol.errors import QuietlineError
from quietline.protocol.messages import EncryptedU2C

FORM_BODY_CAP = 64 * 1024
DEAD_DROP_BODY_CAP = 2 * 1024 * 1024


class Refusal(QuietlineError):
    """A request the edge refuses for its shape on the wire, with the status it answers."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason, status_hint=status)


def error_response(status: int, reason: str, retry_after: int | None = None) -> JSONResponse:
    """``{"error": reason}``, with ``Retry-After`` when the caller should try again later."""
    headers = {"Cache-Control": "no-store"}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return JSONResponse(ErrorBody(reason).to_json(), status_code=status, headers=headers)


def declared_length(request: Request) -> int | None:
    """The Content-Length header as a number, None when absent; Refusal(400) when garbled."""
    text = request.headers.get("content-length")
    if text is None:
        return None
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise Refusal(400, "Content-Length must be a decimal number of bytes")
    return int(text)


def require_json(request: Request) -> None:
    """Refusal(415) unless the Content-Type is ``application/json`` (parameters such as
    ``charset`` allowed)."""
    media_type = request.headers.get("content-type", "").partition(";")[0]
    if media_type.strip().lower() != "application/json":
        raise Refusal(415, "the request body must be sent as Content-Type: application/json")


async def _read_at_most(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it turns out longer than ``limit``."""
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
    except ClientDisconnect:
        raise Refusal(400, "the request body ended early") from None
    return b"".join(chunks)


async def read_capped(request: Request, cap: int) -> bytes:
    """The whole JSON body if it is at most ``cap`` bytes; Refusal(413) otherwise, and
    Refusal(415) for any other type."""
    require_json(request)
    declared = declared_length(request)
    too_large = f"the request body is larger than {cap} bytes"
    if declared is not None and declared > cap:
        raise Refusal(413, too_large)
    body = await _read_at_most(request, cap)
    if body is None:
        raise Refusal(413, too_large)
    return body


async def read_u2c(request: Request) -> EncryptedU2C:
    """The U2C of a ``POST /user/messages``, however a CoverDrop client wrote it (see
    :func:`~quietline.protocol.api.parse_u2c_body`); Refusal(413) for a body longer than
    any U2C can be written in, MalformedInput for any other shape."""
    return parse_u2c_body(await read_capped(request, U2C_BODY_CAP))
