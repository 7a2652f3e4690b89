"""An HTTP client for every route of the edge (docs/api.md), used by all other parts.

It speaks through the records of :mod:`quietline.protocol.api`, the same ones the edge
answers with. Every source client sends the same headers to the same routes; nothing
about the caller's identity is added. Network failures and 5xx answers raise
EdgeUnavailable (try again later); 4xx answers raise EdgeRefused with the edge's reason;
a body that is not what the protocol says, or is longer than ``MAX_ANSWER_BYTES``, raises
ProtocolError.

The HTTP client is injected where a caller has one (a test's Starlette ``TestClient``,
which is an ``httpx.Client``); otherwise one is made for a base URL or an
:class:`~quietline.edge_endpoint.EdgeEndpoint` (a proxy, a CA file, pins), which opens a
new connection for every request (``CONNECTION_LIMITS``) and reads nothing from the
environment. A certificate that does not verify, or a key that is not pinned, raises
EdgeNotTrusted before anything is sent.
"""

from __future__ import annotations

import ssl
from datetime import datetime
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any, TypeVar

import httpx

from quietline.edge_endpoint import EdgeEndpoint
from quietline.protocol.api import (
    WITH_STATEMENTS,
    ErrorBody,
    KeyEpoch,
    KeySubmission,
    QueuePage,
    Route,
    Status,
    StoredId,
    parse_dead_drop_summary,
    u2c_body,
)
from quietline.protocol.boxes import Codec
from quietline.protocol.deaddrops import (
    B,
    DeadDrop,
    DeadDropKind,
    SignedDeadDrop,
    parse_dead_drop_list,
)
from quietline.protocol.errors import MalformedInput, ProtocolError, QuietlineError
from quietline.protocol.forms import SignedForm
from quietline.protocol.hierarchy import PublishedKeys
from quietline.protocol.jsonvalues import load_json
from quietline.protocol.messages import EncryptedU2C
from quietline.protocol.roles import Revocation

# The same for every client: nothing here may vary between installations. Answers are
# asked for unencoded, so no installation depends on the decoders httpx happens to have.
CLIENT_HEADERS = {
    "User-Agent": "quietline",
    "Accept": "application/json",
    "Accept-Encoding": "identity",
}
DEFAULT_TIMEOUT = 10.0
# One connection policy for every client, whatever its timing: a new connection for every
# request, closed after its answer. A kept-alive connection would make a client that
# paused longer than the server's keep-alive (a user's action, once) open a new one
# where others kept theirs; this way every request looks the same on the wire and adds
# no header (the connection is closed by the client once the answer is read).
CONNECTION_LIMITS = httpx.Limits(max_keepalive_connections=0)
# The largest answer read: a page of 100 journalist dead drops of 500 entries is about
# 42 MB of JSON. Anything longer is refused without being read to its end.
MAX_ANSWER_BYTES = 64 * 2**20
S = TypeVar("S")


class EdgeUnavailable(QuietlineError):
    """The edge could not be reached or failed; the request may be retried."""


class EdgeNotTrusted(EdgeUnavailable):
    """The edge's certificate did not verify or its key is not pinned: nothing was sent
    (an interception, or a misconfigured edge; tried again like any failure)."""


class EdgeRefused(QuietlineError):
    """The edge refused the request (4xx) and said why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"edge refused the request ({status}): {reason}")
        self.status = status
        self.reason = reason


def _certificate_refusal(error: BaseException) -> str | None:
    """What was wrong with the edge's certificate, when that is why ``error`` happened
    (httpx wraps the handshake's ``ssl`` error in its own)."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = cause.verify_message or str(cause)
            return f"the edge is not trusted: {reason}"
        cause = cause.__cause__ or cause.__context__
    return None


class EdgeClient:
    """A synchronous client for one edge: a base URL, an endpoint (raises BadEdgeSettings
    when its CA file cannot be read), or an ``httpx.Client`` to use."""

    def __init__(
        self,
        edge: str | EdgeEndpoint | httpx.Client,
        timeout: float = DEFAULT_TIMEOUT,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
    ) -> None:
        self._max_answer_bytes = max_answer_bytes
        if isinstance(edge, httpx.Client):
            self._http = edge
        else:
            endpoint = EdgeEndpoint(edge) if isinstance(edge, str) else edge
            self._http = endpoint.http_client(timeout, CONNECTION_LIMITS)
        # Only CLIENT_HEADERS (httpx adds Host and the content headers), whatever the
        # client came with, and no cookie kept from any answer, which could mark a client.
        self._http.headers.clear()
        self._http.headers.update(CLIENT_HEADERS)
        self._http.cookies = CookieJar(DefaultCookiePolicy(allowed_domains=[]))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EdgeClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> bytes:
        """Send one request and return the answer's body; raises EdgeUnavailable,
        EdgeRefused, or MalformedInput for an answer longer than the cap."""
        try:
            request = self._http.build_request(method, path, **kwargs)
            response = self._http.send(request, stream=True)
            try:
                content = self._read_capped(response)
            finally:
                response.close()
        except httpx.HTTPError as error:
            refusal = _certificate_refusal(error)
            if refusal is not None:
                raise EdgeNotTrusted(refusal) from error
            raise EdgeUnavailable(f"cannot reach the edge: {type(error).__name__}") from error
        if response.status_code >= 500:
            raise EdgeUnavailable(f"the edge failed ({response.status_code})")
        if response.status_code >= 400:
            try:
                reason = ErrorBody.from_json(load_json(content)).error
            except ProtocolError:
                reason = "no reason given"
            raise EdgeRefused(response.status_code, reason)
        if response.status_code >= 300:
            # The edge never redirects: a redirect is a proxy's doing, and what was sent
            # did not arrive.
            raise EdgeUnavailable(f"the edge answered with a redirect ({response.status_code})")
        return content

    def _read_capped(self, response: httpx.Response) -> bytes:
        chunks = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self._max_answer_bytes:
                raise MalformedInput(
                    f"the edge's answer is longer than {self._max_answer_bytes} bytes"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _json(self, method: str, path: str, **kwargs: Any) -> object:
        return load_json(self._request(method, path, **kwargs))

    # --- public reads ---------------------------------------------------------------------

    def public_keys(self) -> PublishedKeys:
        """The published keys with the organisation's statements (role statements and
        revocations), which Quietline's readers require."""
        return PublishedKeys.from_json(self._json("GET", Route.PUBLIC_KEYS, params=WITH_STATEMENTS))

    def dead_drops(self, body_type: type[B], after: int) -> list[DeadDrop[B]]:
        """The page of dead drops of ``body_type`` with ids above ``after``."""
        document = self._json(
            "GET", Route.dead_drops(body_type.KIND), params={"ids_greater_than": after}
        )
        return parse_dead_drop_list(body_type, document)

    def dead_drop_window(self, body_type: type[B], size: int, back: int) -> list[DeadDrop[B]]:
        """The ``size`` dead drops of ``body_type`` just before the newest ``back``, asked
        for with ``back`` written in all five digits, so every such request has one length."""
        params = {"window": size, "back": f"{back:05d}"}
        document = self._json("GET", Route.dead_drops(body_type.KIND), params=params)
        return parse_dead_drop_list(body_type, document)

    def status(self) -> Status:
        return Status.from_json(self._json("GET", Route.STATUS))

    def dead_drop_summary(self, kind: DeadDropKind) -> list[tuple[int, datetime]]:
        """The newest dead drops of ``kind`` as (id, created_at), newest first."""
        user = kind is DeadDropKind.USER
        route = Route.USER_DEAD_DROP_SUMMARY if user else Route.JOURNALIST_DEAD_DROP_SUMMARY
        return parse_dead_drop_summary(self._json("GET", route))

    # --- writes ---------------------------------------------------------------------------

    def send_u2c(self, message: EncryptedU2C) -> None:
        """POST one U2C exactly as every client does: a JSON string of unpadded base64."""
        self._request(
            "POST",
            Route.USER_MESSAGES,
            content=u2c_body(message),
            headers={"Content-Type": "application/json"},
        )

    def send_j2c(self, form: SignedForm) -> None:
        """POST a J2C in a form signed by a journalist identity key (its payload is a
        :class:`~quietline.protocol.api.J2CSubmission`)."""
        self._request("POST", Route.JOURNALIST_MESSAGES, json=form.to_json())

    def publish_key(self, submission: KeySubmission) -> int:
        """Upload a certified key; returns the epoch the edge gave it."""
        answer = self._json("POST", Route.KEYS, json=submission.to_json())
        return KeyEpoch.from_json(answer).epoch

    def publish_revocation(self, revocation: Revocation) -> None:
        """Upload a revocation the organisation key signed."""
        self._request("POST", Route.REVOCATIONS, json=revocation.to_json())

    def publish_profile(self, form: SignedForm) -> None:
        """Upload a profile in a form signed by a journalist provisioning key (its payload
        is a :class:`~quietline.protocol.api.ProfileSubmission`)."""
        self._request("POST", Route.JOURNALIST_PROFILES, json=form.to_json())

    def publish_dead_drop(self, dead_drop: SignedDeadDrop) -> int:
        """Store a signed dead drop; returns its id (the same id when posted again)."""
        answer = self._json("POST", Route.dead_drops(dead_drop.KIND), json=dead_drop.to_json())
        return StoredId.from_json(answer).id

    def pull_queue(self, codec: Codec[S], form: SignedForm) -> QueuePage[S]:
        """Queued submissions (of ``codec``'s type) after the form's ``after``,
        acknowledging its ``ack_through``; the form's payload is a
        :class:`~quietline.protocol.api.QueuePull`."""
        answer = self._json("POST", Route.COVERNODE_QUEUE, json=form.to_json())
        return QueuePage.from_json(codec, answer)
