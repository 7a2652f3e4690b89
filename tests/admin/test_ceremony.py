"""Key ceremonies: the folder ``init`` makes, enrolment, renewal, and what verifies."""

import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from quietline.admin.ceremony import CeremonyError, digest, enroll, init, publish, renew
from quietline.admin.covernode import certified_identities
from quietline.admin.layout import Layout
from quietline.clock import FixedClock
from quietline.config import load_config
from quietline.edge import EdgeStore, create_app
from quietline.edge_client import EdgeClient
from quietline.keystore import read_bundle, read_json, read_signing_key
from quietline.protocol import constants as c
from quietline.protocol.certificates import KeyRole, SignedKey
from quietline.protocol.hierarchy import (
    IdentityFamily,
    OrganizationFamily,
    ProvisioningFamily,
    PublishedKeys,
    Realm,
)
from quietline.protocol.recipients import RecipientId
from quietline.protocol.roles import OrganizationStatements, RoleStatement
from quietline.protocol.verification import verify_published_keys
from tests.support.queues import queues_beside

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return init(tmp_path / "org", NOW, mixing="demo", edge_port=18350)


def test_init_writes_config_anchor_and_private_keys(layout: Layout) -> None:
    config = load_config(layout.folder)
    assert config.edge.port == 18350
    assert config.mixer.u2j.threshold_max == 10  # the demo preset
    assert config.anchor == layout.anchor
    anchor = SignedKey.from_json(read_json(layout.anchor))
    anchor.verify_certificate(anchor.signing_key())
    for secret in [
        layout.organization,
        layout.journalist_provisioning,
        layout.covernode_provisioning,
        *layout.covernode.glob("identity-*.json"),
        layout.config,
    ]:
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600, secret
    assert stat.S_IMODE((layout.folder / "secrets").stat().st_mode) == 0o700
    # The mixer's folder: identity keys certified ahead of time and the provisioning
    # key's public half, never its secret (that stays in secrets/, offline).
    provisioning = read_signing_key(layout.covernode_provisioning, KeyRole.COVERNODE_PROVISIONING)
    assert not (layout.covernode / "provisioning.json").exists()
    (public,) = layout.covernode.glob("provisioning-*.pub.json")
    assert SignedKey.from_json(read_json(public)) == provisioning.published
    assert "secret" not in public.read_text()
    identities = [
        read_signing_key(path, KeyRole.COVERNODE_ID)
        for path in sorted(layout.covernode.glob("identity-*.json"))
    ]
    assert [identity.created_at for identity in identities] == [
        NOW + turn * c.COVERNODE_ID_KEY_ROTATE_AFTER for turn in range(4)
    ]
    for identity in identities:
        identity.published.verify_certificate(provisioning.pair.public)
    certified = certified_identities(layout)
    assert [i.key for i in certified] == [identity.published for identity in identities]
    assert {i.provisioning for i in certified} == {provisioning.published.key}


def test_init_refuses_an_existing_deployment(layout: Layout) -> None:
    with pytest.raises(CeremonyError, match="already holds a deployment"):
        init(layout.folder, NOW)


def test_digest_is_six_character_groups(layout: Layout) -> None:
    groups = digest(layout).split(" ")
    assert [len(group) for group in groups] == [6, 6, 6, 4]


def test_enrolled_recipient_verifies_down_the_chain(layout: Layout) -> None:
    path = enroll(
        layout,
        NOW,
        recipient_id="news_desk",
        display_name="News Desk",
        description="the desk",
        is_desk=True,
        default=True,
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    bundle = read_bundle(path)
    assert bundle.profile.is_desk
    assert bundle.default
    anchor = SignedKey.from_json(read_json(layout.anchor))
    provisioning = read_signing_key(layout.journalist_provisioning, KeyRole.JOURNALIST_PROVISIONING)
    organization = read_signing_key(layout.organization, KeyRole.ORGANIZATION)
    published = PublishedKeys(
        (bundle.profile,),
        "news_desk",
        (
            OrganizationFamily(
                anchor,
                (),
                (
                    ProvisioningFamily(
                        Realm.JOURNALIST,
                        provisioning.published,
                        {
                            RecipientId("news_desk"): (
                                IdentityFamily(
                                    bundle.identity.published, (bundle.messaging.published,)
                                ),
                            )
                        },
                    ),
                ),
            ),
        ),
        1,
        OrganizationStatements(
            (RoleStatement.sign(organization.pair, provisioning.role, provisioning.published.key),)
        ),
    )
    verification = verify_published_keys(published, [anchor], NOW)
    assert verification.rejected == ()
    assert (
        verification.verified.journalist_messaging_key("news_desk").raw
        == bundle.messaging.published.key
    )
    assert verification.verified.default_journalist_id == "news_desk"


@pytest.mark.parametrize("bad", ["", "a/b", "x" * 129, "tab\there"])
def test_enroll_refuses_bad_ids(layout: Layout, bad: str) -> None:
    with pytest.raises(CeremonyError):
        enroll(layout, NOW, recipient_id=bad, display_name="X", description="", is_desk=False)


def test_enroll_refuses_a_taken_id(layout: Layout) -> None:
    enroll(layout, NOW, recipient_id="alice", display_name="Alice", description="", is_desk=False)
    with pytest.raises(CeremonyError, match="already enrolled"):
        enroll(
            layout, NOW, recipient_id="alice", display_name="Alice", description="", is_desk=False
        )


def test_renew_makes_successors_only_when_due(layout: Layout) -> None:
    enroll(layout, NOW, recipient_id="alice", display_name="Alice", description="", is_desk=False)
    lines: list[str] = []
    assert renew(layout, NOW + timedelta(days=1), lines.append) == 0
    identity_due = NOW + c.JOURNALIST_ID_KEY_ROTATE_AFTER
    assert renew(layout, identity_due, lines.append) == 1
    assert read_bundle(layout.bundle("alice")).identity.created_at == identity_due
    provisioning_due = NOW + c.PROVISIONING_KEY_ROTATE_AFTER
    before = read_signing_key(layout.journalist_provisioning, KeyRole.JOURNALIST_PROVISIONING)
    assert renew(layout, provisioning_due, lines.append) == 3  # two provisioning keys, one identity
    after = read_signing_key(layout.journalist_provisioning, KeyRole.JOURNALIST_PROVISIONING)
    assert after.published.key != before.published.key
    archived = list((layout.folder / "secrets").glob("journalist_provisioning-*.json"))
    assert [
        read_signing_key(path, KeyRole.JOURNALIST_PROVISIONING).published.key for path in archived
    ] == [before.published.key]
    assert any("import alice.json" in line for line in lines)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def edge(tmp_path: Path, layout: Layout, clock: FixedClock) -> Iterator[EdgeClient]:
    """An EdgeClient of the real edge app, trusting the deployment's anchor."""
    anchor = SignedKey.from_json(read_json(layout.anchor))
    store = EdgeStore(tmp_path / "edge.sqlite3")
    try:
        with queues_beside(store) as queues:
            app = create_app(store, [anchor], clock, queues=queues.engine)
            with EdgeClient(TestClient(app)) as client:
                yield client
    finally:
        store.close()


def test_publish_uploads_a_hierarchy_that_verifies_and_can_run_again(
    layout: Layout, edge: EdgeClient
) -> None:
    path = enroll(
        layout,
        NOW,
        recipient_id="news_desk",
        display_name="News Desk",
        description="the desk",
        is_desk=True,
        default=True,
    )
    lines: list[str] = []
    publish(layout, edge, NOW, lines.append)
    published = edge.public_keys()
    publish(layout, edge, NOW, lines.append)  # idempotent: nothing new, nothing moved
    assert edge.public_keys() == published

    anchor = SignedKey.from_json(read_json(layout.anchor))
    verification = verify_published_keys(published, [anchor], NOW)
    assert verification.rejected == ()
    # The mixer makes and publishes its own messaging keys; everything else is here.
    assert sorted(key.role.value for key in verification.verified.keys) == sorted(
        [
            KeyRole.ORGANIZATION.value,
            KeyRole.COVERNODE_PROVISIONING.value,
            KeyRole.COVERNODE_ID.value,
            KeyRole.JOURNALIST_PROVISIONING.value,
            KeyRole.JOURNALIST_ID.value,
            KeyRole.JOURNALIST_MSG.value,
        ]
    )
    bundle = read_bundle(path)
    assert verification.verified.journalist_messaging_key("news_desk") == (
        bundle.messaging.pair.public
    )
    assert verification.verified.default_journalist_id == "news_desk"
    assert published.profiles == (bundle.profile,)
    # Of the mixer's identities only the one in force: the others wait for their turns.
    (identity,) = verification.verified.of_role(KeyRole.COVERNODE_ID)["covernode_001"]
    assert identity.key == certified_identities(layout)[0].key.key
    assert any(line.startswith("published news_desk (News Desk)") for line in lines)


def test_publish_after_renew_adds_the_successors(
    layout: Layout, edge: EdgeClient, clock: FixedClock
) -> None:
    enroll(layout, NOW, recipient_id="alice", display_name="Alice", description="", is_desk=False)
    publish(layout, edge, NOW, lambda _: None)
    clock.advance(c.JOURNALIST_ID_KEY_ROTATE_AFTER)
    assert renew(layout, clock.now(), lambda _: None) == 1
    renewed = read_bundle(layout.bundle("alice"))
    publish(layout, edge, clock.now(), lambda _: None)
    anchor = SignedKey.from_json(read_json(layout.anchor))
    verified = verify_published_keys(edge.public_keys(), [anchor], clock.now()).verified
    identities = [key.key for key in verified.of_role(KeyRole.JOURNALIST_ID)["alice"]]
    assert renewed.identity.published.key in identities
    assert len(identities) == 2  # the old identity stays until it expires
    assert verified.journalist_messaging_key("alice") == renewed.messaging.pair.public
