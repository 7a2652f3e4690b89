"""A test organisation made with the real key generation, to publish to a real edge or to
place in a client's cache, and to write replies to sources from."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from quietline.edge_client import EdgeClient
from quietline.protocol.boxes import TwoPartyBox
from quietline.protocol.certificates import KeyRole, SignedKey
from quietline.protocol.deaddrops import DeadDropKind, UnpublishedDeadDrop, sign_dead_drop
from quietline.protocol.forms import sign_form
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
from quietline.protocol.keys import PublicEncryptionKey
from quietline.protocol.messages import J2U, J2UMessage, cover_j2u

COVERNODE_ID = "covernode_001"


@dataclass
class Recipient:
    id: str
    identity: CertifiedSigningKey
    messaging: CertifiedEncryptionKey


@dataclass
class Organisation:
    now: datetime
    root: CertifiedSigningKey
    covernode_provisioning: CertifiedSigningKey
    journalist_provisioning: CertifiedSigningKey
    covernode_identity: CertifiedSigningKey
    covernode_messaging: CertifiedEncryptionKey
    recipients: dict[str, Recipient] = field(default_factory=dict)

    @classmethod
    def create(cls, now: datetime, recipient_ids: tuple[str, ...] = ("news_desk",)) -> Organisation:
        root = generate_organization_key(now)
        cn_prov = generate_signing_key(KeyRole.COVERNODE_PROVISIONING, root, now)
        j_prov = generate_signing_key(KeyRole.JOURNALIST_PROVISIONING, root, now)
        cn_id = generate_signing_key(KeyRole.COVERNODE_ID, cn_prov, now)
        cn_msg = generate_messaging_key(KeyRole.COVERNODE_MSG, cn_id, now)
        org = cls(now, root, cn_prov, j_prov, cn_id, cn_msg)
        for recipient_id in recipient_ids:
            identity = generate_signing_key(KeyRole.JOURNALIST_ID, j_prov, now)
            messaging = generate_messaging_key(KeyRole.JOURNALIST_MSG, identity, now)
            org.recipients[recipient_id] = Recipient(recipient_id, identity, messaging)
        return org

    @property
    def anchor(self) -> SignedKey:
        return self.root.published

    def profiles(self) -> tuple[JournalistProfile, ...]:
        return tuple(
            JournalistProfile.create(rid, f"Desk {rid}", "a test recipient", is_desk=True)
            for rid in self.recipients
        )

    def published_keys(self) -> PublishedKeys:
        """The document an edge would serve for this organisation."""
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
            self.profiles(),
            next(iter(self.recipients), None),
            (OrganizationFamily(self.anchor, (covernodes,), (journalists,)),),
            1,
        )

    def publish(self, edge: EdgeClient, now: datetime) -> None:
        """Upload every key and profile to a real edge, as the admin ceremony does."""
        root_pk = self.root.pair.public.raw
        edge.publish_key(
            KeyRole.COVERNODE_PROVISIONING, None, root_pk, self.covernode_provisioning.published
        )
        edge.publish_key(
            KeyRole.JOURNALIST_PROVISIONING, None, root_pk, self.journalist_provisioning.published
        )
        edge.publish_key(
            KeyRole.COVERNODE_ID,
            COVERNODE_ID,
            self.covernode_provisioning.pair.public.raw,
            self.covernode_identity.published,
        )
        edge.publish_key(
            KeyRole.COVERNODE_MSG,
            COVERNODE_ID,
            self.covernode_identity.pair.public.raw,
            self.covernode_messaging.published,
        )
        for recipient in self.recipients.values():
            edge.publish_key(
                KeyRole.JOURNALIST_ID,
                recipient.id,
                self.journalist_provisioning.pair.public.raw,
                recipient.identity.published,
            )
            edge.publish_key(
                KeyRole.JOURNALIST_MSG,
                recipient.id,
                recipient.identity.pair.public.raw,
                recipient.messaging.published,
            )
        for index, profile in enumerate(self.profiles()):
            form = sign_form(
                {"profile": profile.to_json(), "default": index == 0},
                self.journalist_provisioning.pair,
                now,
            )
            edge.publish_profile(form)

    def reply_entry(
        self, recipient_id: str, user_key: PublicEncryptionKey, message: J2UMessage
    ) -> bytes:
        """A user dead-drop entry: the recipient's J2U to the user's reply key."""
        sender = self.recipients[recipient_id].messaging.pair
        return TwoPartyBox.seal(J2U, sender, user_key, message).data

    def user_dead_drop(
        self, entries: list[bytes], created_at: datetime, size: int = 8
    ) -> UnpublishedDeadDrop:
        """A signed user dead drop holding ``entries`` padded with filler to ``size``."""
        padded = entries + [cover_j2u().data for _ in range(size - len(entries))]
        return sign_dead_drop(
            DeadDropKind.USER,
            padded,
            created_at,
            None,
            identity=self.covernode_identity.pair,
            identity_not_valid_after=self.covernode_identity.not_valid_after,
        )
