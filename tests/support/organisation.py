"""A test organisation made with the real key generation, and the ways tests publish it.

:class:`Organisation` holds a whole key hierarchy from ``quietline.protocol.keygen`` with
the secret halves the tests act with: the root key (the anchor), both provisioning keys,
one CoverNode's identity and messaging keys, and recipients, each with an identity key, a
messaging key and the profile sources see; the first recipient is the default one.
:meth:`Organisation.publish` uploads it to an edge through ``EdgeClient`` as the admin
ceremony does, and :meth:`Organisation.published_keys` is the document an edge would then
serve, for tests that need no edge.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from quietline.edge_client import EdgeClient
from quietline.protocol.api import KeySubmission, ProfileSubmission
from quietline.protocol.certificates import KeyRole, SignedKey
from quietline.protocol.deaddrops import (
    JournalistDeadDrop,
    UserDeadDrop,
    sign_journalist_dead_drop,
    sign_user_dead_drop,
)
from quietline.protocol.forms import SignedForm, sign_form
from quietline.protocol.hierarchy import (
    IdentityFamily,
    JournalistProfile,
    OrganizationFamily,
    ProvisioningFamily,
    PublishedKeys,
    Realm,
)
from quietline.protocol.keygen import (
    CertifiedEncryptionKey,
    CertifiedSigningKey,
    generate_messaging_key,
    generate_organization_key,
    generate_signing_key,
)
from quietline.protocol.messages import EncryptedC2J, EncryptedJ2U
from quietline.protocol.recipients import RecipientId
from quietline.protocol.roles import OrganizationStatements, RoleStatement
from quietline.protocol.verification import VerifiedKeys, verify_published_keys

COVERNODE_ID = RecipientId("covernode_001")


@dataclass(frozen=True)
class Recipient:
    """A journalist or a desk: its keys and the profile sources see."""

    id: RecipientId
    identity: CertifiedSigningKey
    messaging: CertifiedEncryptionKey
    profile: JournalistProfile


class Link(NamedTuple):
    """One certified key below the root, with its owner and the key that certified it."""

    key: CertifiedSigningKey | CertifiedEncryptionKey
    owner: RecipientId | None
    parent: CertifiedSigningKey


@dataclass(frozen=True)
class Organisation:
    """Every key of a test organisation, secret halves included."""

    root: CertifiedSigningKey
    covernode_provisioning: CertifiedSigningKey
    covernode_identity: CertifiedSigningKey
    covernode_messaging: CertifiedEncryptionKey
    journalist_provisioning: CertifiedSigningKey
    recipients: dict[str, Recipient]

    @classmethod
    def create(cls, now: datetime, recipient_ids: Sequence[str] = ("news_desk",)) -> Organisation:
        """Certify every key at ``now``; recipients keep the order of ``recipient_ids``."""
        root = generate_organization_key(now)
        cn_provisioning = generate_signing_key(KeyRole.COVERNODE_PROVISIONING, root, now)
        cn_identity = generate_signing_key(KeyRole.COVERNODE_ID, cn_provisioning, now)
        j_provisioning = generate_signing_key(KeyRole.JOURNALIST_PROVISIONING, root, now)
        recipients: dict[str, Recipient] = {}
        for recipient_id in map(RecipientId, recipient_ids):
            identity = generate_signing_key(KeyRole.JOURNALIST_ID, j_provisioning, now)
            recipients[recipient_id] = Recipient(
                recipient_id,
                identity,
                generate_messaging_key(KeyRole.JOURNALIST_MSG, identity, now),
                JournalistProfile.create(
                    recipient_id, f"Desk {recipient_id}", "a test recipient", is_desk=True
                ),
            )
        return cls(
            root,
            cn_provisioning,
            cn_identity,
            generate_messaging_key(KeyRole.COVERNODE_MSG, cn_identity, now),
            j_provisioning,
            recipients,
        )

    @property
    def anchor(self) -> SignedKey:
        """The root key as clients and edges trust it."""
        return self.root.published

    @property
    def default_recipient_id(self) -> str | None:
        """The recipient sources see first: the first one made, if any."""
        return next(iter(self.recipients), None)

    def key_chain(
        self,
        *,
        covernode: bool = True,
        recipients: Collection[str] | None = None,
        messaging: bool = True,
    ) -> list[Link]:
        """Every key below the root with its owner and parent, parents first: the
        CoverNode's branch (only its provisioning key, which the admin publishes, when
        ``covernode`` is false: the rest is the mixer's to publish), then the journalists'
        for every recipient (or only ``recipients``), without the recipients' messaging
        keys when ``messaging`` is false."""
        chain: list[Link] = [Link(self.covernode_provisioning, None, self.root)]
        if covernode:
            chain += [
                Link(self.covernode_identity, COVERNODE_ID, self.covernode_provisioning),
                Link(self.covernode_messaging, COVERNODE_ID, self.covernode_identity),
            ]
        chain.append(Link(self.journalist_provisioning, None, self.root))
        for recipient in self._chosen(recipients):
            chain.append(Link(recipient.identity, recipient.id, self.journalist_provisioning))
            if messaging:
                chain.append(Link(recipient.messaging, recipient.id, recipient.identity))
        return chain

    def role_statements(self) -> OrganizationStatements:
        """The root key's statements binding each provisioning key to its realm."""
        return OrganizationStatements(
            tuple(
                RoleStatement.sign(self.root.pair, key.role, key.published.key)
                for key in (self.covernode_provisioning, self.journalist_provisioning)
            )
        )

    def submission(self, link: Link) -> KeySubmission:
        """``POST /v1/keys`` for ``link``, with the root key's role statement when it is a
        provisioning key (as ``quietline admin publish`` sends it)."""
        key, owner, parent = link
        statement = None
        if parent is self.root:
            statement = RoleStatement.sign(self.root.pair, key.role, key.published.key).signature
        return KeySubmission(key.role, owner, parent.published.key, key.published, statement)

    def signed_profile(self, recipient_id: str, now: datetime, *, default: bool) -> SignedForm:
        """The recipient's profile as ``POST /v1/journalist-profiles`` takes it, signed by
        the journalist provisioning key at ``now``."""
        submission = ProfileSubmission(self.recipients[recipient_id].profile, default)
        return sign_form(submission.to_json(), self.journalist_provisioning.pair, now)

    def publish(
        self,
        edge: EdgeClient,
        now: datetime,
        *,
        covernode: bool = True,
        recipients: Collection[str] | None = None,
        messaging: bool = True,
    ) -> None:
        """Upload the keys of :meth:`key_chain` (same choices), then a signed profile for
        each chosen recipient, the first recipient as the default; raises what
        ``EdgeClient`` raises when the edge refuses one."""
        for link in self.key_chain(covernode=covernode, recipients=recipients, messaging=messaging):
            edge.publish_key(self.submission(link))
        for recipient in self._chosen(recipients):
            default = recipient.id == self.default_recipient_id
            edge.publish_profile(self.signed_profile(recipient.id, now, default=default))

    def published_keys(self) -> PublishedKeys:
        """The document an edge would serve once every key and profile is published."""
        covernodes = ProvisioningFamily(
            Realm.COVERNODE,
            self.covernode_provisioning.published,
            {
                COVERNODE_ID: (
                    IdentityFamily(
                        self.covernode_identity.published, (self.covernode_messaging.published,)
                    ),
                )
            },
        )
        journalists = ProvisioningFamily(
            Realm.JOURNALIST,
            self.journalist_provisioning.published,
            {
                r.id: (IdentityFamily(r.identity.published, (r.messaging.published,)),)
                for r in self.recipients.values()
            },
        )
        return PublishedKeys(
            tuple(r.profile for r in self.recipients.values()),
            self.default_recipient_id,
            (OrganizationFamily(self.anchor, (covernodes,), (journalists,)),),
            1,
            self.role_statements(),
        )

    def sign_user_dead_drop(
        self, entries: list[EncryptedJ2U], created_at: datetime
    ) -> UserDeadDrop:
        """A user dead drop of ``entries`` signed by the CoverNode identity key, as the
        mixer publishes it."""
        return sign_user_dead_drop(
            entries,
            created_at,
            identity=self.covernode_identity.pair,
            identity_not_valid_after=self.covernode_identity.not_valid_after,
        )

    def sign_journalist_dead_drop(
        self, entries: list[EncryptedC2J], created_at: datetime, epoch: int
    ) -> JournalistDeadDrop:
        """A journalist dead drop of ``entries`` at ``epoch`` signed by the CoverNode
        identity key, as the mixer publishes it."""
        return sign_journalist_dead_drop(
            entries,
            created_at,
            epoch,
            identity=self.covernode_identity.pair,
            identity_not_valid_after=self.covernode_identity.not_valid_after,
        )

    def verified(self, edge: EdgeClient, now: datetime) -> VerifiedKeys:
        """The keys ``edge`` serves that verify from this organisation's anchor at ``now``."""
        return verify_published_keys(edge.public_keys(), [self.anchor], now).verified

    def _chosen(self, recipient_ids: Collection[str] | None) -> list[Recipient]:
        return [
            r for r in self.recipients.values() if recipient_ids is None or r.id in recipient_ids
        ]
