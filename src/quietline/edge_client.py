"""An HTTP client for every route of the edge (docs/api.md), used by all other parts.

Every source client sends the same headers to the same routes; nothing about the
caller's identity is added. Network failures and 5xx answers raise EdgeUnavailable (try
again later); 4xx answers raise EdgeRefused with the edge's reason; a body that is not
what the protocol says raises ProtocolError.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from quietline.protocol.certificates import KeyRole, SignedKey, require_object
from quietline.protocol.deaddrops import (
    DeadDrop,
    DeadDropKind,
    UnpublishedDeadDrop,
    parse_dead_drop_list,
)
from quietline.protocol.encoding import b64_decode, b64_encode
from quietline.protocol.errors import MalformedInput
from quietline.protocol.forms import SignedForm
from quietline.protocol.hierarchy import PublishedKeys
from quietline.protocol.messages import EncryptedU2C

# The same for every client: nothing here may vary between installations.
CLIENT_HEADERS = {"User-Agent": "quietline", "Accept": "application/json"}
DEFAULT_TIMEOUT = 10.0


class EdgeUnavailable(Exception):
    """The edge could not be reached or failed; the request may be retried."""


class EdgeRefused(Exception):
    """The edge refused the request (4xx) and said why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"edge refused the request ({status}): {reason}")
        self.status = status
        self.reason = reason


class EdgeClient:
    """A synchronous client for one edge base URL."""

    def __init__(self, base_url: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._http = httpx.Client(base_url=base_url, headers=CLIENT_HEADERS, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EdgeClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise EdgeUnavailable(f"cannot reach the edge: {type(error).__name__}") from error
        if response.status_code >= 500:
            raise EdgeUnavailable(f"the edge failed ({response.status_code})")
        if response.status_code >= 400:
            try:
                reason = str(response.json().get("error", "no reason given"))
            except (ValueError, AttributeError):
                reason = "no reason given"
            raise EdgeRefused(response.status_code, reason)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> object:
        response = self._request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError as error:
            raise MalformedInput(f"the edge's answer to {path} is not JSON") from error

    # --- public reads ---------------------------------------------------------------------

    def public_keys(self) -> PublishedKeys:
        return PublishedKeys.from_json(self._json("GET", "/v1/public-keys"))

    def dead_drops(self, kind: DeadDropKind, after: int) -> list[DeadDrop]:
        path = "/v1/user/dead-drops" if kind is DeadDropKind.USER else "/v1/journalist/dead-drops"
        return parse_dead_drop_list(
            kind, self._json("GET", path, params={"ids_greater_than": after})
        )

    def status(self) -> dict[str, Any]:
        return require_object(self._json("GET", "/v1/status"), "a status")

    # --- writes ---------------------------------------------------------------------------

    def send_u2c(self, message: EncryptedU2C) -> None:
        """POST one U2C exactly as every client does: a JSON string of unpadded base64."""
        self._request(
            "POST",
            "/user/messages",
            content=json.dumps(b64_encode(message.data)).encode(),
            headers={"Content-Type": "application/json"},
        )

    def send_j2c(self, form: SignedForm) -> None:
        self._request("POST", "/v1/journalist-messages", json=form.to_json())

    def publish_key(
        self, role: KeyRole, owner: str | None, parent_key: bytes, key: SignedKey
    ) -> int:
        """Upload a certified key; returns the epoch the edge gave it."""
        body = {
            "role": role.value,
            "owner": owner,
            "parent_key": parent_key.hex(),
            "key": key.to_json(),
        }
        epoch = require_object(self._json("POST", "/v1/keys", json=body), "an epoch").get("epoch")
        if not isinstance(epoch, int):
            raise MalformedInput("the edge did not return an epoch")
        return epoch

    def publish_profile(self, form: SignedForm) -> None:
        self._request("POST", "/v1/journalist-profiles", json=form.to_json())

    def publish_dead_drop(self, dead_drop: UnpublishedDeadDrop) -> int:
        """Store a signed dead drop; returns its id (the same id when posted again)."""
        path = (
            "/v1/user/dead-drops"
            if dead_drop.kind is DeadDropKind.USER
            else "/v1/journalist/dead-drops"
        )
        stored = require_object(self._json("POST", path, json=dead_drop.to_json()), "an id")
        dead_drop_id = stored.get("id")
        if not isinstance(dead_drop_id, int):
            raise MalformedInput("the edge did not return a dead drop id")
        return dead_drop_id

    def pull_queue(self, form: SignedForm) -> list[tuple[int, bytes]]:
        """Queued submissions after the form's ``after``, acknowledging its ``ack_through``."""
        answer = require_object(
            self._json("POST", "/v1/covernode/queue", json=form.to_json()), "a queue"
        )
        items = answer.get("messages")
        if not isinstance(items, list):
            raise MalformedInput("the edge's queue answer has no messages list")
        pulled = []
        for item in items:
            fields = require_object(item, "a queued message")
            seq = fields.get("seq")
            if not isinstance(seq, int) or isinstance(seq, bool):
                raise MalformedInput("a queued message needs an integer seq")
            pulled.append((seq, b64_decode(fields.get("data"))))
        return pulled
