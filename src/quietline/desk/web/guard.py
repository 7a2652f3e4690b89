"""What every answer of the desk's pages carries, and the Host check before anything runs.

Every answer: a Content-Security-Policy allowing only the desk's own script, style and
requests (no inline script or style, no framing), ``X-Frame-Options: DENY``,
``Cache-Control: no-store``, ``Referrer-Policy: no-referrer``. A request whose Host is
not a loopback name with this server's port is refused before anything runs (a web page
elsewhere cannot reach the desk by rebinding its own name to 127.0.0.1).
"""

from __future__ import annotations

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


def guarded(app: ASGIApp) -> ASGIApp:
    """``app`` behind the Host check, with the security headers on every answer."""

    async def guard(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *HEADERS]}
            await send(message)

        host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
        port = scope["server"][1] if scope.get("server") else None
        if host not in {f"{name}:{port}" for name in LOOPBACK_NAMES}:
            refused = PlainTextResponse(
                "this desk answers only on its loopback address", status_code=421
            )
            await refused(scope, receive, send_with_headers)
            return
        await app(scope, receive, send_with_headers)

    return guard
