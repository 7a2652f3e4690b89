"""``quietline admin certify-mixer`` and ``quietline admin revoke`` through the command line,
publishing to the real edge app served on loopback: the edge stops serving what was
revoked, to Quietline's readers and to CoverDrop's alike."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from quietline.admin.covernode import certified_identities
from quietline.admin.layout import Layout
from quietline.admin.revocation import revocations
from quietline.cli import app
from quietline.clock import SystemClock
from quietline.edge import EdgeStore, create_app
from quietline.edge_client import EdgeClient
from quietline.keystore import read_bundle, read_json
from quietline.protocol.api import Route
from quietline.protocol.certificates import SignedKey
from quietline.protocol.hierarchy import PublishedKeys
from quietline.protocol.verification import verify_published_keys
from tests.admin.ceremonies import every_key
from tests.support.edge_server import serve
from tests.support.queues import queues_beside

# Real servers: left out of `make check`, run by `make test`.
pytestmark = pytest.mark.slow

runner = CliRunner()


@dataclass
class Deployment:
    layout: Layout
    url: str
    edge: EdgeClient

    def admin(self, command: str, *args: str) -> Result:
        return runner.invoke(app, ["admin", command, "--config", str(self.layout.folder), *args])

    def publish(self) -> Result:
        published = self.admin("publish", "--edge", self.url)
        assert published.exit_code == 0, published.output
        return published

    def documents(self) -> list[PublishedKeys]:
        """What the edge serves Quietline's readers (with statements) and CoverDrop's."""
        plain = httpx.get(self.url + Route.PUBLIC_KEYS).json()
        return [self.edge.public_keys(), PublishedKeys.from_json(plain)]


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    folder = tmp_path / "org"
    made = runner.invoke(app, ["admin", "init", str(folder), "--mixing", "demo"])
    assert made.exit_code == 0, made.output
    layout = Layout(folder)
    for args in (
        ["--id", "news_desk", "--name", "News Desk", "--desk", "--default"],
        ["--id", "alice", "--name", "Alice"],
    ):
        enrolled = runner.invoke(app, ["admin", "enroll", "--config", str(folder), *args])
        assert enrolled.exit_code == 0, enrolled.output
    anchor = SignedKey.from_json(read_json(layout.anchor))
    store = EdgeStore(tmp_path / "edge.sqlite3")
    try:
        with (
            queues_beside(store) as queues,
            serve(create_app(store, [anchor], SystemClock(), queues=queues.engine)) as url,
            EdgeClient(url) as edge,
        ):
            deployment = Deployment(layout, url, edge)
            deployment.publish()
            yield deployment
    finally:
        store.close()


def test_certify_mixer_adds_identities_for_the_mixers_folder(deployment: Deployment) -> None:
    layout = deployment.layout
    before = certified_identities(layout)
    assert len(before) == 4  # init certified eight weeks' worth

    certified = deployment.admin("certify-mixer", "--count", "2")
    assert certified.exit_code == 0, certified.output
    assert "certified 2 identity keys for the mixer" in certified.output
    assert "then: quietline admin publish" in certified.output
    after = certified_identities(layout)
    assert after[:4] == before
    assert [i.starts_at for i in after[4:]] == [
        before[-1].starts_at + (n + 1) * (before[1].starts_at - before[0].starts_at)
        for n in range(2)
    ]
    identity_files = list(layout.covernode.glob("identity-*.json"))
    assert len(identity_files) == 6
    for path in identity_files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert not (layout.covernode / "provisioning.json").exists()

    too_many = deployment.admin("certify-mixer", "--count", "0")
    assert too_many.exit_code != 0
    assert len(certified_identities(layout)) == 6


def test_revoke_then_publish_and_the_edge_stops_serving_the_keys(deployment: Deployment) -> None:
    layout = deployment.layout
    alice = read_bundle(layout.bundle("alice"))
    news_desk = read_bundle(layout.bundle("news_desk"))
    mixer_identity = certified_identities(layout)[0].key.key
    for document in deployment.documents():
        assert {alice.identity.published.key, mixer_identity} <= every_key(document)

    by_recipient = deployment.admin("revoke", "--recipient", "alice")
    assert by_recipient.exit_code == 0, by_recipient.output
    assert f"revoked key {alice.identity.published.key[:8].hex()}…" in by_recipient.output
    assert "then: quietline admin publish" in by_recipient.output
    by_mixer = deployment.admin("revoke", "--mixer")
    assert by_mixer.exit_code == 0, by_mixer.output
    assert by_mixer.output.count("revoked key") == 4
    one_key = news_desk.messaging.published.key
    by_key = deployment.admin("revoke", "--key", one_key.hex())
    assert by_key.exit_code == 0, by_key.output
    assert [r.key for r in revocations(layout)] == [
        alice.identity.published.key,
        *(identity.key.key for identity in certified_identities(layout)),
        one_key,
    ]

    published = deployment.publish()
    assert "published 6 revocations" in published.output
    assert "left out alice: its keys are revoked" in published.output
    for document in deployment.documents():
        held = every_key(document)
        assert alice.identity.published.key not in held
        assert alice.messaging.published.key not in held
        assert mixer_identity not in held
        assert one_key not in held
        assert news_desk.identity.published.key in held
    with_statements, plain = deployment.documents()
    assert len(with_statements.statements.revocations) == 6
    assert not plain.statements  # CoverDrop's document: exactly CoverDrop's fields
    # Her profile is still served, but names no key that verifies: readers drop it.
    anchor = SignedKey.from_json(read_json(layout.anchor))
    verified = verify_published_keys(with_statements, [anchor], SystemClock().now()).verified
    assert [profile.id for profile in verified.profiles] == ["news_desk"]
    again = deployment.publish()  # still idempotent with revoked keys around
    assert "published 6 revocations" in again.output


def test_revoking_again_or_nothing_is_a_clear_error(deployment: Deployment) -> None:
    assert deployment.admin("revoke", "--recipient", "alice").exit_code == 0
    for args in (["--recipient", "alice"], []):
        repeated = deployment.admin("revoke", *args)
        assert repeated.exit_code == 1
        assert "error: nothing to revoke" in repeated.output
    unknown = deployment.admin("revoke", "--recipient", "nobody")
    assert unknown.exit_code == 1
    assert "no recipient 'nobody' is enrolled" in unknown.output
    assert len(revocations(deployment.layout)) == 1


@pytest.mark.parametrize(
    ("key", "says"),
    [("not-hex", "--key must be a public key in hex"), ("abcd", "32-byte key")],
)
def test_a_bad_key_is_a_clear_error(deployment: Deployment, key: str, says: str) -> None:
    refused = deployment.admin("revoke", "--key", key)
    assert refused.exit_code == 1
    assert says in refused.output
    assert refused.exception is None or isinstance(refused.exception, SystemExit)
    assert revocations(deployment.layout) == []
