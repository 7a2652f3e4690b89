"""The published key hierarchy (``GET /v1/public-keys``) as a document: parse and serialise.

Organisation → provisioning (CoverNode, journalist) → identity → messaging. Nothing in
a :class:`PublishedKeys` is trusted; :mod:`quietline.protocol.verification` decides
what is. Quietline's own extension (role statements and revocations, see
:mod:`quietline.protocol.roles`) rides in a ``quietline`` member when present.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from quietline.protocol.certificates import KeyRole, SignedKey
from quietline.protocol.constants import MAX_EPOCH
from quietline.protocol.encoding import hex_decode
from quietline.protocol.errors import MalformedInput
from quietline.protocol.jsonvalues import (
    require_bool,
    require_int,
    require_list,
    require_object,
    require_string,
)
from quietline.protocol.recipients import RecipientId, RecipientTag
from quietline.protocol.roles import OrganizationStatements


class Realm(enum.Enum):
    """The two branches under an organisation key."""

    COVERNODE = "covernodes"
    JOURNALIST = "journalists"

    @property
    def roles(self) -> tuple[KeyRole, KeyRole, KeyRole]:
        if self is Realm.COVERNODE:
            return KeyRole.COVERNODE_PROVISIONING, KeyRole.COVERNODE_ID, KeyRole.COVERNODE_MSG
        return KeyRole.JOURNALIST_PROVISIONING, KeyRole.JOURNALIST_ID, KeyRole.JOURNALIST_MSG


class JournalistStatus(enum.StrEnum):
    """Whether sources see a recipient, as CoverDrop's ``JournalistStatus``
    (``common/src/client/journalist_profile.rs``): listed; listed but left out of the
    apps' list of recipients (``HIDDEN_FROM_UI``: a source who already writes to them
    still can); or not in the published document at all (``HIDDEN_FROM_RESPONSE``)."""

    VISIBLE = "VISIBLE"
    HIDDEN_FROM_UI = "HIDDEN_FROM_UI"
    HIDDEN_FROM_RESPONSE = "HIDDEN_FROM_RESPONSE"


@dataclass(frozen=True, slots=True)
class JournalistProfile:
    """A recipient as listed to sources: a person or a shared desk."""

    id: RecipientId
    display_name: str
    sort_name: str
    description: str
    is_desk: bool
    tag: RecipientTag
    status: str = JournalistStatus.VISIBLE

    def __post_init__(self) -> None:
        if self.status not in tuple(JournalistStatus):
            raise MalformedInput(f"unknown journalist status {self.status[:40]!r}")

    @classmethod
    def create(
        cls, recipient_id: str, display_name: str, description: str, *, is_desk: bool
    ) -> JournalistProfile:
        """A profile for ``recipient_id`` with its tag; raises MalformedInput on a bad id."""
        valid = RecipientId(recipient_id)
        sort_name = " ".join(reversed(display_name.lower().split()))
        return cls(valid, display_name, sort_name, description, is_desk, valid.tag)

    def check_tag(self) -> None:
        """Raise MalformedInput unless the tag is the first 4 bytes of SHA-256 of the id."""
        if not self.tag.names(self.id):
            raise MalformedInput("the profile's tag must be the first 4 bytes of SHA-256(id)")

    @classmethod
    def from_json(cls, obj: object) -> JournalistProfile:
        fields = require_object(obj, "a journalist profile")
        return cls(
            id=RecipientId(fields.get("id")),
            display_name=require_string(fields.get("display_name"), "display_name"),
            sort_name=require_string(fields.get("sort_name"), "sort_name"),
            description=require_string(fields.get("description"), "description"),
            is_desk=require_bool(fields.get("is_desk"), "journalist profile is_desk"),
            tag=RecipientTag(hex_decode(fields.get("tag"), 4)),
            status=require_string(fields.get("status", "VISIBLE"), "status"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "display_name": self.display_name,
            "sort_name": self.sort_name,
            "description": self.description,
            "is_desk": self.is_desk,
            "tag": self.tag.hex(),
            "status": self.status,
        }


@dataclass(frozen=True, slots=True)
class IdentityFamily:
    """One identity key and the messaging keys it signed."""

    identity: SignedKey
    messaging: tuple[SignedKey, ...]

    @classmethod
    def from_json(cls, obj: object) -> IdentityFamily:
        fields = require_object(obj, "an identity key family")
        return cls(
            SignedKey.from_json(fields.get("id_pk")),
            tuple(SignedKey.from_json(k) for k in require_list(fields.get("msg_pks"), "msg_pks")),
        )

    def to_json(self) -> dict[str, Any]:
        return {"id_pk": self.identity.to_json(), "msg_pks": [k.to_json() for k in self.messaging]}


@dataclass(frozen=True, slots=True)
class ProvisioningFamily:
    """One provisioning key and, per member (CoverNode or journalist id), its identity families."""

    realm: Realm
    provisioning: SignedKey
    members: Mapping[RecipientId, tuple[IdentityFamily, ...]]

    @classmethod
    def from_json(cls, realm: Realm, obj: object) -> ProvisioningFamily:
        fields = require_object(obj, "a provisioning key family")
        members = require_object(fields.get(realm.value), f"the {realm.value} map")
        return cls(
            realm,
            SignedKey.from_json(fields.get("provisioning_pk")),
            {
                RecipientId(member): tuple(
                    IdentityFamily.from_json(f) for f in require_list(families, member)
                )
                for member, families in members.items()
            },
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "provisioning_pk": self.provisioning.to_json(),
            self.realm.value: {
                member: [family.to_json() for family in families]
                for member, families in self.members.items()
            },
        }


@dataclass(frozen=True, slots=True)
class OrganizationFamily:
    """Everything published under one organisation key."""

    organization: SignedKey
    covernodes: tuple[ProvisioningFamily, ...]
    journalists: tuple[ProvisioningFamily, ...]

    @classmethod
    def from_json(cls, obj: object) -> OrganizationFamily:
        fields = require_object(obj, "an organisation key family")
        return cls(
            SignedKey.from_json(fields.get("org_pk")),
            tuple(
                ProvisioningFamily.from_json(Realm.COVERNODE, f)
                for f in require_list(fields.get("covernodes", []), "covernodes")
            ),
            tuple(
                ProvisioningFamily.from_json(Realm.JOURNALIST, f)
                for f in require_list(fields.get("journalists", []), "journalists")
            ),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "org_pk": self.organization.to_json(),
            "covernodes": [family.to_json() for family in self.covernodes],
            "journalists": [family.to_json() for family in self.journalists],
        }


@dataclass(frozen=True, slots=True)
class PublishedKeys:
    """The body of ``GET /v1/public-keys``, untrusted until verified."""

    profiles: tuple[JournalistProfile, ...]
    default_journalist_id: str | None
    families: tuple[OrganizationFamily, ...]
    max_epoch: int
    statements: OrganizationStatements = field(default_factory=OrganizationStatements)

    @classmethod
    def from_json(cls, obj: object) -> PublishedKeys:
        """Parse the JSON document; raises MalformedInput on any shape error."""
        fields = require_object(obj, "the published keys")
        default = fields.get("default_journalist_id")
        if default is not None and not isinstance(default, str):
            raise MalformedInput("default_journalist_id must be a string or null")
        max_epoch = fields.get("max_epoch")
        profiles = require_list(fields.get("journalist_profiles", []), "journalist_profiles")
        return cls(
            tuple(JournalistProfile.from_json(p) for p in profiles),
            default,
            tuple(
                OrganizationFamily.from_json(f) for f in require_list(fields.get("keys"), "keys")
            ),
            0 if max_epoch is None else require_int(max_epoch, "max_epoch", 0, MAX_EPOCH),
            OrganizationStatements.from_json(fields.get("quietline", {})),
        )

    def to_json(self) -> dict[str, Any]:
        """CoverDrop's document, with the ``quietline`` member only when there are
        statements to carry."""
        document: dict[str, Any] = {
            "journalist_profiles": [profile.to_json() for profile in self.profiles],
            "default_journalist_id": self.default_journalist_id,
            "keys": [family.to_json() for family in self.families],
            "max_epoch": self.max_epoch,
        }
        if self.statements:
            document["quietline"] = self.statements.to_json()
        return document
