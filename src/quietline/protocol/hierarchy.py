"""The published key hierarchy (``GET /v1/public-keys``) as a document: parse and serialise.

Organisation → provisioning (CoverNode, journalist) → identity → messaging. Nothing in
a :class:`PublishedKeys` is trusted; :mod:`quietline.protocol.verification` decides
what is.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from quietline.protocol.certificates import KeyRole, SignedKey, require_object
from quietline.protocol.encoding import hex_decode
from quietline.protocol.errors import MalformedInput
from quietline.protocol.messages import RecipientTag


class Realm(enum.Enum):
    """The two branches under an organisation key."""

    COVERNODE = "covernodes"
    JOURNALIST = "journalists"

    @property
    def roles(self) -> tuple[KeyRole, KeyRole, KeyRole]:
        if self is Realm.COVERNODE:
            return KeyRole.COVERNODE_PROVISIONING, KeyRole.COVERNODE_ID, KeyRole.COVERNODE_MSG
        return KeyRole.JOURNALIST_PROVISIONING, KeyRole.JOURNALIST_ID, KeyRole.JOURNALIST_MSG


@dataclass(frozen=True, slots=True)
class JournalistProfile:
    """A recipient as listed to sources: a person or a shared desk."""

    id: str
    display_name: str
    sort_name: str
    description: str
    is_desk: bool
    tag: RecipientTag
    status: str = "VISIBLE"

    @classmethod
    def create(
        cls, recipient_id: str, display_name: str, description: str, *, is_desk: bool
    ) -> JournalistProfile:
        sort_name = " ".join(reversed(display_name.lower().split()))
        return cls(
            recipient_id,
            display_name,
            sort_name,
            description,
            is_desk,
            RecipientTag.of(recipient_id),
        )

    @classmethod
    def from_json(cls, obj: object) -> JournalistProfile:
        fields = require_object(obj, "a journalist profile")
        if not isinstance(fields.get("is_desk"), bool):
            raise MalformedInput("journalist profile is_desk must be a boolean")
        return cls(
            id=_string(fields, "id"),
            display_name=_string(fields, "display_name"),
            sort_name=_string(fields, "sort_name"),
            description=_string(fields, "description"),
            is_desk=fields["is_desk"],
            tag=RecipientTag(hex_decode(fields.get("tag"), 4)),
            status=_string(fields, "status", "VISIBLE"),
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
            tuple(SignedKey.from_json(k) for k in _list(fields.get("msg_pks"), "msg_pks")),
        )

    def to_json(self) -> dict[str, Any]:
        return {"id_pk": self.identity.to_json(), "msg_pks": [k.to_json() for k in self.messaging]}


@dataclass(frozen=True, slots=True)
class ProvisioningFamily:
    """One provisioning key and, per member (CoverNode or journalist id), its identity families."""

    realm: Realm
    provisioning: SignedKey
    members: Mapping[str, tuple[IdentityFamily, ...]]

    @classmethod
    def from_json(cls, realm: Realm, obj: object) -> ProvisioningFamily:
        fields = require_object(obj, "a provisioning key family")
        members = require_object(fields.get(realm.value), f"the {realm.value} map")
        return cls(
            realm,
            SignedKey.from_json(fields.get("provisioning_pk")),
            {
                _member_id(member): tuple(
                    IdentityFamily.from_json(f) for f in _list(families, member)
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
                for f in _list(fields.get("covernodes", []), "covernodes")
            ),
            tuple(
                ProvisioningFamily.from_json(Realm.JOURNALIST, f)
                for f in _list(fields.get("journalists", []), "journalists")
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

    @classmethod
    def from_json(cls, obj: object) -> PublishedKeys:
        """Parse the JSON document; raises MalformedInput on any shape error."""
        fields = require_object(obj, "the published keys")
        default = fields.get("default_journalist_id")
        if default is not None and not isinstance(default, str):
            raise MalformedInput("default_journalist_id must be a string or null")
        max_epoch = fields.get("max_epoch", 0)
        if max_epoch is None:
            max_epoch = 0
        if not isinstance(max_epoch, int) or isinstance(max_epoch, bool) or max_epoch < 0:
            raise MalformedInput("max_epoch must be a non-negative integer")
        return cls(
            tuple(
                JournalistProfile.from_json(p)
                for p in _list(fields.get("journalist_profiles", []), "journalist_profiles")
            ),
            default,
            tuple(OrganizationFamily.from_json(f) for f in _list(fields.get("keys"), "keys")),
            max_epoch,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "journalist_profiles": [profile.to_json() for profile in self.profiles],
            "default_journalist_id": self.default_journalist_id,
            "keys": [family.to_json() for family in self.families],
            "max_epoch": self.max_epoch,
        }


def _list(obj: object, what: str) -> list[Any]:
    if not isinstance(obj, list):
        raise MalformedInput(f"expected {what} as a JSON list")
    return obj


def _string(fields: Mapping[str, Any], name: str, default: str | None = None) -> str:
    value = fields.get(name, default)
    if not isinstance(value, str):
        raise MalformedInput(f"{name} must be a string")
    return value


def _member_id(member: str) -> str:
    if not member or len(member) > 128:
        raise MalformedInput("a CoverNode or journalist id must be 1 to 128 characters")
    return member
