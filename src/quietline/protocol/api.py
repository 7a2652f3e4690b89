"""The edge's HTTP API as data: its routes, its two queues and every body that crosses it.

The edge (``quietline.edge``) and its client (``quietline.edge_client``) both speak
through these records, so a route's path, a field's name and a value's range are written
once. Each record pairs ``to_json`` with a ``from_json`` that raises
:class:`~quietline.protocol.errors.ProtocolError` and nothing else on any input; every
``from_json`` here is listed in :data:`quietline.protocol.parsers.PUBLIC_PARSERS`.
Payloads of signed forms (``J2CSubmission``, ``ProfileSubmission``, ``QueuePull``) are
the JSON objects inside the form's body.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from quietline.protocol.boxes import Codec
from quietline.protocol.certificates import KeyRole, SignedKey
from quietline.protocol.constants import ED25519_SIGNATURE_LEN, MAX_EPOCH, U2C_ENCRYPTED_LEN
from quietline.protocol.deaddrops import DeadDropKind
from quietline.protocol.encoding import (
    b64_decode,
    b64_encode,
    format_rfc3339,
    hex_decode,
    parse_rfc3339,
)
from quietline.protocol.errors import MalformedInput, ProtocolError
from quietline.protocol.hierarchy import JournalistProfile
from quietline.protocol.jsonvalues import (
    I64_MAX,
    load_json,
    require_bool,
    require_int,
    require_list,
    require_object,
    require_string,
)
from quietline.protocol.keygen import PARENT
from quietline.protocol.messages import (
    EncryptedJ2C,
    EncryptedU2C,
    parse_j2c,
    parse_u2c,
)
from quietline.protocol.recipients import RecipientId
from quietline.protocol.roles import RoleStatement

S = TypeVar("S")

# A JSON string of the unpadded base64 of a U2C, as Android and Quietline's client send
# it: 1,031 characters and two quotes.
U2C_BODY_LEN = (U2C_ENCRYPTED_LEN * 4 + 2) // 3 + 2
# The largest U2C body the edge reads: padded base64 (1,032 characters, as iOS sends it)
# with every character written as a two-character JSON escape (iOS's JSONEncoder writes
# each ``/`` as ``\/``), and the quotes. Anything longer cannot be a U2C.
U2C_BODY_CAP = 2 * (4 * -(-U2C_ENCRYPTED_LEN // 3)) + 2
QUEUE_PULL_MAX = 1000
# The largest ``window`` a reader may ask for (Quietline's own source client asks for one).
DEAD_DROP_PAGE = 100
# The most dead drops a window may skip back from the newest (``back``), in five digits.
DEAD_DROP_BACK_MAX = 99_999
# CoverDrop's default and largest ``limit`` of one dead-drop GET (``api/src/cli.rs``,
# J2U_DEAD_DROP_LIMIT and U2J_DEAD_DROP_LIMIT): about 15 days of hourly user dead drops,
# a day of journalist ones. A larger ``limit`` is lowered to it, as CoverDrop does.
DEAD_DROP_LIMIT = {DeadDropKind.USER: 360, DeadDropKind.JOURNALIST: 24}
# The edge's answer to a queue pull past the last sequence number the queue ever gave:
# the queue is newer than the mixer's cursor (quietline.edge.queues.QueueBehind).
QUEUE_BEHIND = 409
# ``GET /v1/public-keys`` with this query adds the organisation's statements (role
# statements and revocations) in a ``quietline`` member; without it the document is
# exactly CoverDrop's, which CoverDrop's apps parse refusing unknown fields.
WITH_STATEMENTS = {"quietline": "1"}


class Route(enum.StrEnum):
    """Every path the edge serves."""

    PUBLIC_KEYS = "/v1/public-keys"
    USER_DEAD_DROPS = "/v1/user/dead-drops"
    JOURNALIST_DEAD_DROPS = "/v1/journalist/dead-drops"
    STATUS = "/v1/status"
    USER_MESSAGES = "/user/messages"
    JOURNALIST_MESSAGES = "/v1/journalist-messages"
    KEYS = "/v1/keys"
    REVOCATIONS = "/v1/revocations"
    JOURNALIST_PROFILES = "/v1/journalist-profiles"
    COVERNODE_QUEUE = "/v1/covernode/queue"
    OPENAPI = "/openapi.json"
    HEALTHCHECK = "/v1/healthcheck"
    USER_DEAD_DROP_SUMMARY = "/v1/user/dead-drops/recent-summary"
    JOURNALIST_DEAD_DROP_SUMMARY = "/v1/journalist/dead-drops/recent-summary"
    # CoverDrop's profile management (quietline.protocol.profile_forms)
    NEW_JOURNALIST = "/v1/public-keys/journalists"
    UPDATE_JOURNALIST_PROFILE = "/v1/public-keys/journalists/update-profile"
    UPDATE_JOURNALIST_STATUS = "/v1/public-keys/journalists/update-status"
    DELETE_JOURNALIST = "/v1/public-keys/journalists/delete"

    @classmethod
    def dead_drops(cls, kind: DeadDropKind) -> Route:
        """Where dead drops of ``kind`` are read and published."""
        return cls.USER_DEAD_DROPS if kind is DeadDropKind.USER else cls.JOURNALIST_DEAD_DROPS


class Direction(enum.Enum):
    """The edge's two submission queues, named as in a queue pull's ``direction``."""

    USER = "user"  # U2C from sources; the mixer turns them into journalist dead drops
    JOURNALIST = "journalist"  # J2C from desks; the mixer turns them into user dead drops

    @property
    def dead_drop_kind(self) -> DeadDropKind:
        """Who reads the dead drops made from this queue."""
        return DeadDropKind.JOURNALIST if self is Direction.USER else DeadDropKind.USER


# --- what sources and desks send ------------------------------------------------------------


def _json_base64(data: bytes) -> bytes:
    """A JSON string of ``data`` in unpadded base64, as CoverDrop's serde writes a box."""
    return json.dumps(b64_encode(data)).encode()


def u2c_body(message: EncryptedU2C) -> bytes:
    """The body of ``POST /user/messages``: a JSON string of the U2C, unpadded base64."""
    return _json_base64(message.data)


def j2c_form_data(message: EncryptedJ2C) -> bytes:
    """The data a CoverDrop journalist client signs in its ``Form`` for
    ``POST /v1/journalist-messages`` (``PostJournalistToCoverNodeMessageForm``,
    ``common/src/api/forms/post_journalist_to_covernode_message.rs``): the J2C as
    ``serde_json`` writes a ``MultiAnonymousBox``, the same JSON string as a U2C body."""
    return _json_base64(message.data)


def parse_j2c_form_data(raw: bytes) -> EncryptedJ2C:
    """The J2C in a CoverDrop form's data; raises MalformedInput on anything else."""
    return parse_j2c(b64_decode(load_json(raw)))


def parse_u2c_body(raw: bytes) -> EncryptedU2C:
    """The U2C in a ``POST /user/messages`` body; raises MalformedInput on anything else.

    The body is parsed as JSON, so a string with escapes is read as CoverDrop's iOS app
    writes it (``PublicDataRepository.sendMessage`` in ``ios/reference/CoverDropCore``
    encodes padded base64 with ``JSONEncoder``, which escapes ``/`` as ``\\/``), and the
    base64 may be padded or not, as CoverDrop's own receiver takes it
    (``u2j-appender/src/controllers.rs`` reads the body with ``serde_json`` into a
    ``MultiAnonymousBox``, whose ``serde_with`` base64 decodes either). The decoded bytes
    must be exactly one U2C (773 bytes).
    """
    return parse_u2c(b64_decode(load_json(raw)))


@dataclass(frozen=True, slots=True)
class J2CSubmission:
    """The payload of ``POST /v1/journalist-messages``: one J2C, real or cover."""

    message: EncryptedJ2C

    def to_json(self) -> dict[str, Any]:
        return {"message": b64_encode(self.message.data)}

    @classmethod
    def from_json(cls, obj: object) -> J2CSubmission:
        fields = require_object(obj, "a J2C submission")
        return cls(parse_j2c(b64_decode(fields.get("message"))))


# --- what the admin, the mixer and desks publish ----------------------------------------------


@dataclass(frozen=True, slots=True)
class KeySubmission:
    """The body of ``POST /v1/keys``: a certified key, its place and the key that signed it.

    Provisioning keys have no owner and carry the organisation's ``role_signature`` (see
    :class:`~quietline.protocol.roles.RoleStatement`), so only the holder of the
    organisation key can seed an edge; every other key's owner is a recipient's or a
    CoverNode's id.
    """

    role: KeyRole
    owner: RecipientId | None
    parent_key: bytes
    key: SignedKey
    role_signature: bytes | None = None

    def __post_init__(self) -> None:
        if self.role is KeyRole.ORGANIZATION:
            raise MalformedInput("an organisation key is pinned, not published")
        provisioning = PARENT[self.role] is KeyRole.ORGANIZATION
        if provisioning != (self.owner is None):
            raise MalformedInput("provisioning keys have no owner; every other key has one")
        if provisioning != (self.role_signature is not None):
            raise MalformedInput(
                "provisioning keys carry the organisation's role signature; no other key does"
            )

    @property
    def role_statement(self) -> RoleStatement | None:
        """The statement a provisioning key comes with (None for other keys)."""
        if self.role_signature is None:
            return None
        return RoleStatement(self.key.key, self.role, self.role_signature)

    def to_json(self) -> dict[str, Any]:
        body = {
            "role": self.role.value,
            "owner": self.owner,
            "parent_key": self.parent_key.hex(),
            "key": self.key.to_json(),
        }
        if self.role_signature is not None:
            body["role_signature"] = self.role_signature.hex()
        return body

    @classmethod
    def from_json(cls, obj: object) -> KeySubmission:
        """Parse ``{"role", "owner", "parent_key", "key"}``; raises MalformedInput."""
        fields = require_object(obj, "a key submission")
        try:
            role = KeyRole(fields.get("role"))
        except ValueError:
            raise MalformedInput("role must be one of the key roles") from None
        owner = fields.get("owner")
        signature = fields.get("role_signature")
        return cls(
            role,
            None if owner is None else RecipientId(owner),
            hex_decode(fields.get("parent_key"), 32),
            SignedKey.from_json(fields.get("key")),
            None if signature is None else hex_decode(signature, ED25519_SIGNATURE_LEN),
        )


@dataclass(frozen=True, slots=True)
class KeyEpoch:
    """The answer to ``POST /v1/keys``: the epoch the key was given."""

    epoch: int

    def to_json(self) -> dict[str, Any]:
        return {"epoch": self.epoch}

    @classmethod
    def from_json(cls, obj: object) -> KeyEpoch:
        epoch = require_object(obj, "an epoch").get("epoch")
        return cls(require_int(epoch, "epoch", 0, MAX_EPOCH))


@dataclass(frozen=True, slots=True)
class ProfileSubmission:
    """The payload of ``POST /v1/journalist-profiles``: a profile, and whether sources
    see it first."""

    profile: JournalistProfile
    default: bool

    def __post_init__(self) -> None:
        self.profile.check_tag()

    def to_json(self) -> dict[str, Any]:
        return {"profile": self.profile.to_json(), "default": self.default}

    @classmethod
    def from_json(cls, obj: object) -> ProfileSubmission:
        fields = require_object(obj, "a profile submission")
        return cls(
            JournalistProfile.from_json(fields.get("profile")),
            require_bool(fields.get("default"), "default"),
        )


@dataclass(frozen=True, slots=True)
class StoredId:
    """The answer to publishing a dead drop: the id the edge stored it under."""

    id: int

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id}

    @classmethod
    def from_json(cls, obj: object) -> StoredId:
        return cls(require_int(require_object(obj, "an id").get("id"), "id"))


# --- the mixer's queue pulls ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueuePull:
    """The payload of ``POST /v1/covernode/queue``: delete every submission up to
    ``ack_through``, then return up to ``limit`` after ``after``."""

    direction: Direction
    after: int
    limit: int
    ack_through: int

    def __post_init__(self) -> None:
        for name, value, low, high in (
            ("after", self.after, 0, I64_MAX),
            ("limit", self.limit, 1, QUEUE_PULL_MAX),
            ("ack_through", self.ack_through, 0, I64_MAX),
        ):
            require_int(value, name, low, high)

    def to_json(self) -> dict[str, Any]:
        return {
            "direction": self.direction.value,
            "after": self.after,
            "limit": self.limit,
            "ack_through": self.ack_through,
        }

    @classmethod
    def from_json(cls, obj: object) -> QueuePull:
        fields = require_object(obj, "a queue pull")
        name = fields.get("direction")
        directions = {direction.value: direction for direction in Direction}
        direction = directions.get(name) if isinstance(name, str) else None
        if direction is None:
            raise MalformedInput('direction must be "user" or "journalist"')
        return cls(
            direction,
            require_int(fields.get("after"), "after"),
            require_int(fields.get("limit"), "limit", 1, QUEUE_PULL_MAX),
            require_int(fields.get("ack_through"), "ack_through"),
        )


@dataclass(frozen=True, slots=True)
class Queued(Generic[S]):
    """One queued submission and its sequence number in its queue."""

    seq: int
    message: S


@dataclass(frozen=True, slots=True)
class QueuePage(Generic[S]):
    """The answer to a queue pull: submissions in sequence order, and the sequence numbers
    of entries that were not a valid submission (a reader counts them unreadable and
    goes on past them)."""

    messages: tuple[Queued[S], ...]
    unreadable: tuple[int, ...] = ()

    @property
    def seqs(self) -> tuple[int, ...]:
        """Every sequence number on the page, valid submission or not, in order."""
        return tuple(sorted((*(item.seq for item in self.messages), *self.unreadable)))

    def to_json(self, codec: Codec[S]) -> dict[str, Any]:
        """The page as JSON; an unreadable entry (only ever in a page that was read) is
        written with a null ``data``, so it reads back as unreadable."""
        data = {item.seq: b64_encode(codec.encode(item.message)) for item in self.messages}
        return {"messages": [{"seq": seq, "data": data.get(seq)} for seq in self.seqs]}

    @classmethod
    def from_json(cls, codec: Codec[S], obj: object) -> QueuePage[S]:
        """Parse ``{"messages": [{"seq", "data"}]}`` of ``codec``'s submissions, in strictly
        increasing sequence order; raises MalformedInput on a bad page or seq. An entry
        whose seq is good but whose data is not a submission is listed in ``unreadable``."""
        items = require_list(require_object(obj, "a queue page").get("messages"), "messages")
        if len(items) > QUEUE_PULL_MAX:
            raise MalformedInput(f"a queue page holds at most {QUEUE_PULL_MAX} messages")
        messages = []
        unreadable = []
        previous = 0
        for item in items:
            fields = require_object(item, "a queued message")
            seq = require_int(fields.get("seq"), "a queued message's seq", 1, I64_MAX)
            if seq <= previous:
                raise MalformedInput("queued messages must come in increasing seq order")
            previous = seq
            try:
                data = codec.check_size(b64_decode(fields.get("data")))
                messages.append(Queued(seq, codec.decode(data)))
            except ProtocolError:
                unreadable.append(seq)
        return cls(tuple(messages), tuple(unreadable))


# --- what anyone reads ---------------------------------------------------------------------


class SystemStatus(enum.Enum):
    """CoverDrop's system statuses."""

    AVAILABLE = "AVAILABLE"
    UNAVAILABLE = "UNAVAILABLE"
    DEGRADED_PERFORMANCE = "DEGRADED_PERFORMANCE"
    SCHEDULED_MAINTENANCE = "SCHEDULED_MAINTENANCE"
    NO_INFORMATION = "NO_INFORMATION"

    @property
    def is_available(self) -> bool:
        """Whether sources can send, as CoverDrop decides it."""
        return self in (SystemStatus.AVAILABLE, SystemStatus.DEGRADED_PERFORMANCE)


@dataclass(frozen=True, slots=True)
class Status:
    """The body of ``GET /v1/status``, in CoverDrop's shape."""

    status: SystemStatus
    description: str
    timestamp: datetime

    @property
    def is_available(self) -> bool:
        return self.status.is_available

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "is_available": self.is_available,
            "description": self.description,
            "timestamp": format_rfc3339(self.timestamp),
        }

    @classmethod
    def from_json(cls, obj: object) -> Status:
        fields = require_object(obj, "a status")
        try:
            status = SystemStatus(fields.get("status"))
        except ValueError:
            raise MalformedInput("unknown status") from None
        if require_bool(fields.get("is_available"), "is_available") != status.is_available:
            raise MalformedInput("is_available contradicts the status")
        return cls(
            status,
            require_string(fields.get("description"), "description"),
            parse_rfc3339(fields.get("timestamp")),
        )


MAX_STATUS_DESCRIPTION = 1000


def parse_status_event_form_data(raw: bytes) -> Status:
    """The status in CoverDrop's ``PostSystemStatusEventBody``
    (``common/src/api/forms/post_system_status_event.rs``): ``{"status": {"status",
    "description", "timestamp"}}``, a ``StatusEvent`` with no ``is_available`` (the
    edge derives it). Raises MalformedInput; a description is at most
    MAX_STATUS_DESCRIPTION characters, so what the apps show stays short."""
    event = require_object(
        require_object(load_json(raw), "a status form").get("status"), "a status"
    )
    try:
        status = SystemStatus(event.get("status"))
    except ValueError:
        raise MalformedInput("unknown status") from None
    description = require_string(event.get("description"), "description")
    if len(description) > MAX_STATUS_DESCRIPTION:
        raise MalformedInput(f"a description is at most {MAX_STATUS_DESCRIPTION} characters")
    return Status(status, description, parse_rfc3339(event.get("timestamp")))


def status_event_form_data(status: Status) -> bytes:
    """What CoverDrop's admin tool signs to set ``status``."""
    event = {
        "status": status.status.value,
        "description": status.description,
        "timestamp": format_rfc3339(status.timestamp),
    }
    return json.dumps({"status": event}).encode()


# CoverDrop's recent-summary routes list the newest ten dead drops of a kind
# (``api/src/services/queries/dead_drop_queries.rs``).
DEAD_DROP_SUMMARY_COUNT = 10


def dead_drop_summary(dead_drops: list[tuple[int, datetime]]) -> list[dict[str, Any]]:
    """CoverDrop's ``Vec<DeadDropSummary>`` (``common/src/api/models/dead_drop_summary.rs``,
    camelCase): ``[{"id", "createdAt"}]``, newest first."""
    return [{"id": id_, "createdAt": format_rfc3339(at)} for id_, at in dead_drops]


def parse_dead_drop_summary(document: object) -> list[tuple[int, datetime]]:
    """Read a :func:`dead_drop_summary` answer: (id, created_at) pairs as served, at most
    DEAD_DROP_SUMMARY_COUNT of them. Raises MalformedInput (a ProtocolError)."""
    entries = require_list(document, "a dead drop summary")
    if len(entries) > DEAD_DROP_SUMMARY_COUNT:
        raise MalformedInput(f"a dead drop summary holds at most {DEAD_DROP_SUMMARY_COUNT}")
    summary = []
    for entry in entries:
        fields = require_object(entry, "a dead drop summary entry")
        summary.append(
            (require_int(fields.get("id"), "id"), parse_rfc3339(fields.get("createdAt")))
        )
    return summary


# ``GET /v1/healthcheck``, CoverDrop's ``HealthCheck`` (``common/src/healthcheck.rs``)
# without the build's commit and branch, which say nothing a caller needs.
HEALTHCHECK = {"name": "api", "status": "ok", "commit": None, "branch": None}


@dataclass(frozen=True, slots=True)
class ErrorBody:
    """Every refusal's body: what is wrong, for a person to read."""

    error: str

    def to_json(self) -> dict[str, Any]:
        return {"error": self.error}

    @classmethod
    def from_json(cls, obj: object) -> ErrorBody:
        return cls(require_string(require_object(obj, "an error").get("error"), "error"))
