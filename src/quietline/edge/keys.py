"""The key hierarchy as the edge holds it: what it publishes and which keys it admits.

The edge publishes, under each pinned organisation anchor, every stored key that has
not expired and whose parent it publishes too, so the document it serves verifies with
no rejected key. It admits a new key only under a parent that verifies in that same
document (or under a pinned anchor, for provisioning keys): one chain of trust for
reading and writing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from quietline.edge.store import SqlEdgeStore, StoredKey
from quietline.protocol.api import KeySubmission, Status, SystemStatus
from quietline.protocol.certificates import KeyRole, SignedKey
from quietline.protocol.encoding import format_rfc3339
from quietline.protocol.errors import BadSignature, KeyExpired, UntrustedKey
from quietline.protocol.hierarchy import (
    IdentityFamily,
    JournalistStatus,
    OrganizationFamily,
    ProvisioningFamily,
    PublishedKeys,
    Realm,
)
from quietline.protocol.keygen import PARENT
from quietline.protocol.recipients import RecipientId
from quietline.protocol.roles import OrganizationStatements, Revocation
from quietline.protocol.verification import VerifiedKeys, verify_published_keys


def _provisioning_family(
    realm: Realm, provisioning: StoredKey, children: dict[bytes, list[StoredKey]]
) -> ProvisioningFamily:
    _, id_role, msg_role = realm.roles
    members: dict[RecipientId, list[IdentityFamily]] = defaultdict(list)
    for identity in children[provisioning.signed.key]:
        if identity.role is not id_role or identity.owner is None:
            continue
        messaging = tuple(
            child.signed
            for child in children[identity.signed.key]
            if child.role is msg_role and child.owner == identity.owner
        )
        members[identity.owner].append(IdentityFamily(identity.signed, messaging))
    return ProvisioningFamily(
        realm, provisioning.signed, {owner: tuple(f) for owner, f in members.items()}
    )


def _unique_anchors(anchors: Sequence[SignedKey], now: datetime) -> list[SignedKey]:
    seen: set[bytes] = set()
    unique = []
    for anchor in anchors:
        if anchor.key not in seen and now <= anchor.not_valid_after:
            seen.add(anchor.key)
            unique.append(anchor)
    return unique


def _revoked(statements: OrganizationStatements, anchors: Sequence[SignedKey]) -> set[bytes]:
    revoked: set[bytes] = set()
    for anchor in anchors:
        revoked.update(statements.revoked(anchor.signing_key()))
    return revoked


def published_keys(
    store: SqlEdgeStore,
    anchors: Sequence[SignedKey],
    now: datetime,
    *,
    with_statements: bool,
) -> PublishedKeys:
    """The ``GET /v1/public-keys`` document at ``now``: one organisation family per
    unexpired pinned anchor, holding every unexpired stored key below it that is not
    revoked (nor below a revoked key), so that readers who know nothing of revocations,
    CoverDrop's apps, never see one. ``with_statements`` adds the organisation's role
    statements and revocations for Quietline's readers."""
    statements = store.statements()
    revoked = _revoked(statements, anchors)
    children: dict[bytes, list[StoredKey]] = defaultdict(list)
    withdrawn: set[str] = set()  # recipients with a revoked identity key
    kept: set[str] = set()  # recipients with one that is not
    for stored in store.live_keys(now):
        if stored.role is KeyRole.JOURNALIST_ID and stored.owner is not None:
            (withdrawn if stored.signed.key in revoked else kept).add(stored.owner)
        if stored.signed.key not in revoked:
            children[stored.parent_key].append(stored)
    families = []
    for anchor in _unique_anchors(anchors, now):
        by_realm: dict[Realm, list[ProvisioningFamily]] = {r: [] for r in Realm}
        for provisioning in children[anchor.key]:
            for realm in Realm:
                if provisioning.role is realm.roles[0]:
                    by_realm[realm].append(_provisioning_family(realm, provisioning, children))
        families.append(
            OrganizationFamily(
                anchor, tuple(by_realm[Realm.COVERNODE]), tuple(by_realm[Realm.JOURNALIST])
            )
        )
    profiles, default = store.profiles()
    # A recipient whose keys were all revoked is not listed, even to CoverDrop's apps;
    # nor is one the organisation hides from the document (as CoverDrop's API does).
    gone = withdrawn - kept
    gone |= {p.id for p in profiles if p.status == JournalistStatus.HIDDEN_FROM_RESPONSE}
    return PublishedKeys(
        tuple(profile for profile in profiles if profile.id not in gone),
        None if default in gone else default,
        tuple(families),
        store.max_epoch(),
        statements if with_statements else OrganizationStatements(),
    )


def verified_keys(store: SqlEdgeStore, anchors: Sequence[SignedKey], now: datetime) -> VerifiedKeys:
    """The published document, verified from the anchors at ``now`` with the
    organisation's statements: the keys that may sign forms and dead drops. Raises
    UntrustedKey when no anchor is valid."""
    document = published_keys(store, anchors, now, with_statements=True)
    return verify_published_keys(document, anchors, now).verified


@dataclass(frozen=True, slots=True)
class _Verified:
    version: tuple[int, int, int]
    since: datetime
    until: datetime
    keys: VerifiedKeys


class VerifiedHierarchy:
    """The edge's verified keys, verified again only when what they depend on changes.

    The verified keys depend on the stored keys, role statements and revocations (which
    only grow, so the store's ``hierarchy_version`` names them) and on ``now`` only
    through expiry: a result verified at ``since`` holds at every ``now`` from ``since``
    until the first verified key (anchors included) expires, so it is reused exactly
    there. Each call still reads the version from the store, so a key, statement or
    revocation stored by any edge process on the same store counts at once.
    """

    def __init__(self, store: SqlEdgeStore, anchors: Sequence[SignedKey]) -> None:
        self.store = store
        self.anchors = tuple(anchors)
        self._verified: _Verified | None = None  # replaced whole, so threads may share it

    def at(self, now: datetime) -> VerifiedKeys:
        """The keys verified from the anchors at ``now``, as :func:`verified_keys` finds
        them (their ``now`` and profiles are those of when they were verified: the edge
        reads only keys from them). Raises UntrustedKey when no anchor is valid, and
        StoreBusy."""
        version = self.store.hierarchy_version()
        cached = self._verified
        if cached is not None and cached.version == version and cached.since <= now <= cached.until:
            return cached.keys
        # The version is read before the keys: a change between the two reads is in the
        # result and makes the next call verify again, never the other way round.
        keys = verified_keys(self.store, self.anchors, now)
        until = min((key.not_valid_after for key in keys.keys), default=now)
        self._verified = _Verified(version, now, until, keys)
        return keys


def admit_key(
    store: SqlEdgeStore, anchors: Sequence[SignedKey], submission: KeySubmission, now: datetime
) -> int:
    """Verify ``submission`` under its parent and store it; returns its epoch.

    Raises UntrustedKey when the parent is not a pinned anchor or a verified key of the
    parent role (and, for messaging keys, the same owner); BadSignature when the
    certificate does not verify; KeyExpired when the key (clamped to its parent) has
    expired; KeyConflict (from the store) when the key is stored in another place.
    """
    if submission.key.key == submission.parent_key or any(
        submission.key.key == anchor.key for anchor in anchors
    ):
        raise UntrustedKey("a key cannot be its own parent or a pinned anchor")
    if submission.key.key in _revoked(store.statements(), anchors):
        raise UntrustedKey("the organisation revoked this key")
    parent_role = PARENT[submission.role]
    verified = verified_keys(store, anchors, now)
    # Only messaging keys have a parent with an owner (their identity key); the others'
    # parents (organisation, provisioning) are listed under the empty owner.
    owner = submission.owner if submission.role.is_encryption_key else None
    candidates = verified.of_role(parent_role).get(owner or "", [])
    parent = next((k for k in candidates if k.key == submission.parent_key), None)
    if parent is None:
        raise UntrustedKey(
            f"parent_key is not a valid {parent_role.value} key"
            + ("" if parent_role is KeyRole.ORGANIZATION else " published here")
            + (" of the same owner" if submission.role.is_encryption_key else "")
        )
    submission.key.verify_certificate(parent.signing_key())
    statement = submission.role_statement
    if statement is not None:
        # Only the organisation key's holder can say which realm a provisioning key is in:
        # so only the admin can seed an edge, and no poster can pick a key's role.
        statement.verify(parent.signing_key())
    expires_at = min(submission.key.not_valid_after, parent.not_valid_after)
    if now > expires_at:
        raise KeyExpired(f"the key expired at {format_rfc3339(expires_at)}")
    return store.add_key(
        submission.role,
        submission.owner,
        submission.parent_key,
        submission.key,
        expires_at,
        statement=statement,
    )


def admit_revocation(
    store: SqlEdgeStore, anchors: Sequence[SignedKey], revocation: Revocation, now: datetime
) -> None:
    """Store ``revocation`` if a pinned organisation key valid at ``now`` made it.

    Raises BadSignature otherwise.
    """
    if not revocation.made_by_any(a.signing_key() for a in _unique_anchors(anchors, now)):
        raise BadSignature("no pinned organisation key made this revocation")
    store.add_revocation(revocation)


def status(verified: VerifiedKeys | None, operator: Status | None, now: datetime) -> Status:
    """The ``GET /v1/status`` answer: the status the operator set last (``operator``),
    unless it says sources can send while no CoverNode or no journalist messaging key is
    valid (``verified`` is None when no anchor is valid); then, or with no status set,
    available exactly when both are valid."""
    covernode = verified is not None and bool(verified.of_role(KeyRole.COVERNODE_MSG))
    journalist = verified is not None and bool(verified.of_role(KeyRole.JOURNALIST_MSG))
    if covernode and journalist:
        description = "Quietline is available"
    elif verified is None:
        description = "The pinned organisation key is not valid"
    elif not covernode:
        description = "No CoverNode messaging key is published yet"
    else:
        description = "No journalist messaging key is published yet"
    available = covernode and journalist
    if operator is not None and (available or not operator.is_available):
        return operator
    return Status(
        SystemStatus.AVAILABLE if available else SystemStatus.NO_INFORMATION, description, now
    )
