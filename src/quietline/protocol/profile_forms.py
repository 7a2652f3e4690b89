"""CoverDrop's forms that manage the published journalist profiles.

CoverDrop's admin tool and journalist client post these as signed ``Form`` s
(:mod:`quietline.protocol.coverdrop_forms`), each with a body its API deserialises with
``deny_unknown_fields`` (``common/src/api/forms/``), so unknown fields are refused here too:

- ``POST /v1/public-keys/journalists``: a new profile, ``PostJournalistBody {id,
  display_name, sort_name, description, is_desk, status}`` (``post_journalist.rs``),
  signed by a journalist provisioning key;
- ``PATCH /v1/public-keys/journalists/update-profile``: ``PatchJournalistBody
  {journalist_id, display_name, sort_name, is_desk, description}``, each but the id
  optional (absent or ``null``: left as it is) (``patch_journalist.rs``), signed by a
  journalist provisioning key;
- ``PATCH /v1/public-keys/journalists/update-status``: ``PatchJournalistStatusBody
  {journalist_id, status}`` (``patch_journalist_status.rs``), signed by the journalist's
  own identity key (the API checks the signer is the journalist named);
- ``DELETE /v1/public-keys/journalists/delete``: the journalist's id as a JSON string
  (``delete_journalist.rs``), signed by a journalist provisioning key.

CoverDrop's API refuses a profile of someone who is not a desk whose description is
longer than 40 bytes (``api/src/constants.rs``, ``MAX_NON_DESK_JOURNALIST_DESCRIPTION_LEN``,
checked on ``String::len``, which counts UTF-8 bytes); so does Quietline, on every form
that makes or changes one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from quietline.protocol.errors import MalformedInput
from quietline.protocol.hierarchy import JournalistProfile, JournalistStatus
from quietline.protocol.jsonvalues import load_json, require_bool, require_object, require_string
from quietline.protocol.recipients import RecipientId

MAX_NON_DESK_DESCRIPTION_BYTES = 40
_NEW_FIELDS = frozenset({"id", "display_name", "sort_name", "description", "is_desk", "status"})
_PATCH_FIELDS = frozenset({"journalist_id", "display_name", "sort_name", "is_desk", "description"})
_STATUS_FIELDS = frozenset({"journalist_id", "status"})


def _fields(raw: bytes, allowed: frozenset[str], what: str) -> dict[str, Any]:
    fields = require_object(load_json(raw), what)
    unknown = set(fields) - allowed
    if unknown:
        raise MalformedInput(f"{what} has no field {sorted(unknown)[0]!r}")
    return fields


def _status(value: object) -> JournalistStatus:
    try:
        return JournalistStatus(require_string(value, "status"))
    except ValueError:
        names = ", ".join(status.value for status in JournalistStatus)
        raise MalformedInput(f"a journalist's status is one of {names}") from None


def checked(profile: JournalistProfile) -> JournalistProfile:
    """``profile``, if CoverDrop's API would keep it; MalformedInput otherwise."""
    too_long = len(profile.description.encode()) > MAX_NON_DESK_DESCRIPTION_BYTES
    if not profile.is_desk and too_long:
        raise MalformedInput(
            f"the description of someone who is not a desk is at most "
            f"{MAX_NON_DESK_DESCRIPTION_BYTES} bytes"
        )
    return profile


def new_profile_json(profile: JournalistProfile) -> dict[str, Any]:
    """The ``PostJournalistBody`` CoverDrop's admin tool signs to publish ``profile``."""
    document = profile.to_json()
    del document["tag"]  # the API makes it from the id
    return document


def parse_new_profile(raw: bytes) -> JournalistProfile:
    """The profile in a ``PostJournalistBody``; raises MalformedInput."""
    fields = _fields(raw, _NEW_FIELDS, "a new journalist")
    recipient = RecipientId(fields.get("id"))
    return checked(
        JournalistProfile(
            recipient,
            require_string(fields.get("display_name"), "display_name"),
            require_string(fields.get("sort_name"), "sort_name"),
            require_string(fields.get("description"), "description"),
            require_bool(fields.get("is_desk"), "is_desk"),
            recipient.tag,
            _status(fields.get("status")).value,
        )
    )


@dataclass(frozen=True, slots=True)
class ProfilePatch:
    """A ``PatchJournalistBody``: what changes in one profile (None: left as it is)."""

    journalist_id: RecipientId
    display_name: str | None = None
    sort_name: str | None = None
    is_desk: bool | None = None
    description: str | None = None

    def to_json(self) -> dict[str, Any]:
        """As CoverDrop's serde writes it (a field left as it is: ``null``)."""
        return {
            "journalist_id": self.journalist_id,
            "display_name": self.display_name,
            "sort_name": self.sort_name,
            "is_desk": self.is_desk,
            "description": self.description,
        }

    @classmethod
    def parse(cls, raw: bytes) -> ProfilePatch:
        """Raises MalformedInput."""
        fields = _fields(raw, _PATCH_FIELDS, "a profile change")

        def text(name: str) -> str | None:
            value = fields.get(name)
            return None if value is None else require_string(value, name)

        is_desk = fields.get("is_desk")
        return cls(
            RecipientId(fields.get("journalist_id")),
            text("display_name"),
            text("sort_name"),
            None if is_desk is None else require_bool(is_desk, "is_desk"),
            text("description"),
        )

    def applied_to(self, profile: JournalistProfile) -> JournalistProfile:
        """``profile`` with this change; MalformedInput if CoverDrop's API would refuse
        the result."""
        changes = {
            name: value
            for name in ("display_name", "sort_name", "is_desk", "description")
            if (value := getattr(self, name)) is not None
        }
        return checked(replace(profile, **changes))


def status_change_json(change: tuple[RecipientId, JournalistStatus]) -> dict[str, Any]:
    """The ``PatchJournalistStatusBody`` a journalist signs to make ``change``."""
    recipient, status = change
    return {"journalist_id": recipient, "status": status.value}


def parse_status_change(raw: bytes) -> tuple[RecipientId, JournalistStatus]:
    """The journalist and new status of a ``PatchJournalistStatusBody``; raises
    MalformedInput."""
    fields = _fields(raw, _STATUS_FIELDS, "a status change")
    return RecipientId(fields.get("journalist_id")), _status(fields.get("status"))


def parse_removal(raw: bytes) -> RecipientId:
    """The journalist a ``DeleteJournalistForm`` removes; raises MalformedInput."""
    return RecipientId(load_json(raw))
