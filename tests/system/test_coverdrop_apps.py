"""CoverDrop's own apps and journalist client against a whole Quietline deployment.

Real ``quietline edge``, ``mixer`` and ``desk run`` processes; on the other side, what
CoverDrop's clients do, request by request, as ``tests.support.coverdrop_clients``
builds them from CoverDrop's source: the Android and iOS apps fetch the published keys,
post a U2C each (Android's unpadded body, iOS's padded one with ``\\/`` escapes), and read
their dead drops the way the apps do (Android without ``limit``, iOS with it), opening
each J2U entry with ``crypto_box_open`` against every recipient's messaging key, and
reading a handover as the apps' parsers do. The desk replies to one app and hands the
other over; then the recipient it was handed to answers it from CoverDrop's journalist
client, whose signed ``Form`` goes through the edge and the mixer like any J2C.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import nacl.bindings as sodium
import nacl.exceptions
import pytest

from quietline.edge_client import EdgeClient
from quietline.keystore import read_bundle
from quietline.protocol.certificates import KeyRole, SignedKey
from quietline.protocol.constants import NONCE_LEN
from quietline.protocol.deaddrops import UserDeadDrop, parse_dead_drop_list
from quietline.protocol.jsonvalues import load_json
from quietline.protocol.keys import EncryptionKeyPair, JournalistMessagingKey, ReplyKey
from quietline.protocol.messages import encrypt_j2c, encrypt_u2c, text_reply
from quietline.protocol.pcs import PaddedCompressedString
from quietline.protocol.verification import VerifiedKeys, verify_published_keys
from tests.support.coverdrop_clients import (
    ANDROID_HEADERS,
    IOS_HEADERS,
    android_u2c_body,
    app_handover_id,
    coverdrop_form,
    ios_u2c_body,
    j2c_data,
)
from tests.support.deployment import PASSPHRASE, RECIPIENT, Deployment, deploy, wait_for

pytestmark = pytest.mark.slow

OTHER = "investigations"
# How an app opens a J2U entry's plaintext: its type byte, then the body.
TEXT, HANDOVER = 0x00, 0x01


class App:
    """A CoverDrop app: its own reply key, what it posts and what it reads."""

    def __init__(self, edge: httpx.Client, headers: dict[str, str], limit: int | None) -> None:
        self.edge = edge
        self.headers = headers
        self.limit = limit
        self.key = EncryptionKeyPair.generate()

    def keys(self, deployment: Deployment) -> VerifiedKeys:
        """The keys the app verifies from ``GET /v1/public-keys`` and the organisation key
        it pins (the verification is Quietline's, which also reads the organisation's
        statements; the document the app reads holds the same keys)."""
        anchor = SignedKey.from_json(load_json(deployment.layout.anchor.read_bytes()))
        with EdgeClient(deployment.url) as quietline:
            keys = verify_published_keys(quietline.public_keys(), [anchor], datetime.now(UTC))
        answer = self.edge.get("/v1/public-keys")
        assert answer.status_code == 200, answer.text
        for group in keys.verified.of_role(KeyRole.JOURNALIST_MSG).values():
            assert all(key.key.hex() in answer.text for key in group)
        return keys.verified

    def send(self, keys: VerifiedKeys, body: Callable[[bytes], bytes], text: str) -> None:
        (recipient_key, *_) = keys.of_role(KeyRole.JOURNALIST_MSG)[RECIPIENT]
        u2c = encrypt_u2c(
            keys.covernode_wrapping_keys(),
            recipient_id=RECIPIENT,
            recipient_key=JournalistMessagingKey(recipient_key.key),
            reply_key=ReplyKey.of(self.key),
            text=text,
        )
        answer = self.edge.post("/user/messages", content=body(u2c.data), headers=self.headers)
        assert answer.status_code == 204, answer.text

    def read(self, keys: VerifiedKeys) -> list[tuple[str, int, bytes]]:
        """Every J2U for this app in the dead drops, as (recipient, type, body): one page,
        as the apps ask for it, each dead drop's signature checked first."""
        query: dict[str, Any] = {"ids_greater_than": 0}
        if self.limit is not None:
            query["limit"] = self.limit
        answer = self.edge.get("/v1/user/dead-drops", params=query)
        assert answer.status_code == 200, answer.text
        found = []
        for dead_drop in parse_dead_drop_list(UserDeadDrop, answer.json()):
            dead_drop.body.verify(keys)
            for entry in dead_drop.body.entries():
                for recipient, recipient_keys in keys.of_role(KeyRole.JOURNALIST_MSG).items():
                    for key in recipient_keys:
                        plain = _box_open(entry.data, key.encryption_key().raw, self.key.secret)
                        if plain is not None:
                            found.append((recipient, plain[0], plain[1:]))
        return found


def _box_open(data: bytes, sender: bytes, secret: bytes) -> bytes | None:
    """``crypto_box_open`` of a two-party box laid out as CoverDrop lays it: the
    ciphertext, then its nonce."""
    try:
        return bytes(sodium.crypto_box_open(data[:-NONCE_LEN], data[-NONCE_LEN:], sender, secret))
    except nacl.exceptions.CryptoError:
        return None


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    with deploy(tmp_path, sources=0, recipients=(OTHER,)) as running:
        yield running


def _sources(deployment: Deployment) -> list[dict[str, Any]]:
    answer = deployment.answer(deployment.desk("sources", "--json"))
    return [] if answer is None else list(answer["sources"])


def _chrono(moment: datetime) -> str:
    """A time as chrono's serde writes it."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_coverdrops_apps_and_journalist_client_talk_through_quietline(
    deployment: Deployment,
) -> None:
    with httpx.Client(base_url=deployment.url) as edge:
        android = App(edge, ANDROID_HEADERS, limit=None)
        ios = App(edge, IOS_HEADERS, limit=360)
        wait_for(
            "the mixer's messaging keys",
            lambda: bool(android.keys(deployment).of_role(KeyRole.COVERNODE_MSG)),
            deployment,
        )
        keys = android.keys(deployment)
        android.send(keys, android_u2c_body, "from an Android phone")
        ios.send(ios.keys(deployment), ios_u2c_body, "from an iPhone / with a slash")

        received: dict[str, str] = {}

        def both_arrived() -> bool:
            for row in _sources(deployment):
                if row["received"]:
                    thread = deployment.answer(deployment.desk("thread", row["source"], "--json"))
                    if thread is not None:
                        (first, *_) = thread["messages"]
                        received[first["text"]] = row["source"]
            return len(received) == 2

        wait_for("both apps' messages at the desk", both_arrived, deployment)
        assert set(received) == {"from an Android phone", "from an iPhone / with a slash"}

        android_source = received["from an Android phone"]
        ios_source = received["from an iPhone / with a slash"]
        for command, text in (
            (deployment.desk("reply", android_source), "We read you."),
            (deployment.desk("handover", ios_source, "--to", OTHER), ""),
        ):
            done = deployment.supervisor.run(command, stdin=text, passphrase=PASSPHRASE)
            assert done.returncode == 0, done.stderr

        def android_reply() -> list[tuple[str, int, bytes]]:
            return [item for item in android.read(keys) if item[1] == TEXT]

        wait_for("the desk's reply in the Android app", lambda: bool(android_reply()), deployment)
        ((recipient, _, body),) = android_reply()
        assert recipient == RECIPIENT
        assert PaddedCompressedString(body).text() == "We read you."

        def ios_handover() -> list[str | None]:
            return [
                app_handover_id(bytes([kind]) + body)
                for _, kind, body in ios.read(keys)
                if kind == HANDOVER
            ]

        wait_for("the handover in the iOS app", lambda: bool(ios_handover()), deployment)
        assert ios_handover() == [OTHER]

        # The recipient it was handed to answers from CoverDrop's journalist client.
        other = read_bundle(deployment.layout.bundle(OTHER))
        j2c = encrypt_j2c(
            keys.covernode_wrapping_keys(),
            other.messaging.pair,
            ReplyKey.of(ios.key),
            text_reply("Investigations here: go on."),
        )
        now = datetime.now(UTC)
        form = coverdrop_form(
            j2c_data(j2c.data),
            other.identity.pair,
            _chrono(now),
            _chrono(now + timedelta(minutes=50)),
        )
        answer = edge.post("/v1/journalist-messages", json=form)
        assert answer.status_code == 204, answer.text

        def ios_text() -> list[str]:
            return [
                PaddedCompressedString(body).text()
                for recipient, kind, body in ios.read(keys)
                if kind == TEXT and recipient == OTHER
            ]

        wait_for(
            "the journalist client's reply in the iOS app", lambda: bool(ios_text()), deployment
        )
        assert ios_text() == ["Investigations here: go on."]
