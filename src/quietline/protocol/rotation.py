"""Key rotation as a plan, then an action: what a key holder should make, publish and
retire at ``now``, decided from the keys it holds and nothing else.

The mixer (its identity and messaging keys), the desk (each recipient's messaging keys)
and the admin (provisioning keys and recipients' identities) all rotate by
:func:`plan_rotation` under their own :class:`RotationPolicy`; :func:`make_keys` carries
out the plan's creations in memory, and each holder writes the result where it keeps
keys (a key folder, a vault, a bundle).

A key is in force from its ``created_at`` (a key certified ahead of time, such as the
mixer's identity keys, waits for its turn) until its expiry. A role is due for a
successor once its newest key in force is ``ROTATE_AFTER`` old (or it has none); the
successor is signed by the newest key in force of the parent role, made earlier in the
same plan if that was due too. A key of a retired role is retired once it has been
expired for ``keep_expired`` and no key it signed is still kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from quietline.protocol.certificates import KeyRole
from quietline.protocol.errors import BadSignature, KeyUnavailable, MisuseError
from quietline.protocol.keygen import (
    PARENT,
    AnyCertifiedKey,
    CertifiedKey,
    CertifiedSigningKey,
    generate_messaging_key,
    generate_signing_key,
    rotation_due,
)

C = TypeVar("C", bound=CertifiedKey[Any])


@dataclass(frozen=True, slots=True)
class RotationPolicy:
    """Which roles a holder makes successors for (parents before children), which it
    deletes once expired (by default the same), and how long after its expiry it keeps a
    key (a recipient keeps messaging keys a while, for late dead drops)."""

    rotates: tuple[KeyRole, ...]
    keep_expired: timedelta = timedelta(0)
    retires: tuple[KeyRole, ...] | None = None

    def __post_init__(self) -> None:
        for roles in (self.rotates, self.retired_roles):
            for index, role in enumerate(roles):
                if role is KeyRole.ORGANIZATION:
                    raise MisuseError("the organisation key is pinned, not rotated")
                if PARENT[role] in roles[index:]:
                    raise MisuseError("a rotation policy lists parent roles before their children")

    @property
    def retired_roles(self) -> tuple[KeyRole, ...]:
        return self.rotates if self.retires is None else self.retires


def in_force(key: CertifiedKey[Any], now: datetime) -> bool:
    """Whether ``key`` may be used at ``now``: its turn has come and it has not expired."""
    return key.created_at <= now <= key.not_valid_after


@dataclass(frozen=True, slots=True)
class RotationPlan:
    """What to do at one moment: roles to make a key for (in order), held keys to retire,
    and held keys to publish (valid ones, parents first; keys made by the plan are to be
    published too)."""

    create: tuple[KeyRole, ...]
    retire: tuple[AnyCertifiedKey, ...]
    publish: tuple[AnyCertifiedKey, ...]


def newest_valid(keys: Sequence[C], role: KeyRole, now: datetime) -> C:
    """The most recently made key of ``role`` in force at ``now``.

    Raises KeyUnavailable when there is none.
    """
    valid = [key for key in keys if key.role is role and in_force(key, now)]
    if not valid:
        raise KeyUnavailable(f"no valid {role.value} key is held")
    return max(valid, key=lambda key: key.created_at)


def signed_by(
    child: AnyCertifiedKey, keys: Sequence[AnyCertifiedKey]
) -> CertifiedSigningKey | None:
    """The key among ``keys`` whose certificate ``child`` carries, if any."""
    for key in keys:
        if not isinstance(key, CertifiedSigningKey) or key.role is not PARENT.get(child.role):
            continue
        try:
            child.published.verify_certificate(key.pair.public)
        except BadSignature:
            continue
        return key
    return None


def plan_rotation(
    keys: Sequence[AnyCertifiedKey], policy: RotationPolicy, now: datetime
) -> RotationPlan:
    """The plan for a holder of ``keys`` at ``now`` (see the module docstring)."""
    create = []
    for role in policy.rotates:
        newest = max(
            (k.created_at for k in keys if k.role is role and in_force(k, now)), default=None
        )
        if rotation_due(role, newest, now):
            create.append(role)
    retire: list[AnyCertifiedKey] = []
    # Children before parents, so a parent whose last child goes is retired too.
    for role in reversed(policy.retired_roles):
        kept = [key for key in keys if key not in retire]
        for key in kept:
            if key.role is not role or now <= key.not_valid_after + policy.keep_expired:
                continue
            if not any(signed_by(child, [key]) is key for child in kept):
                retire.append(key)
    return RotationPlan(tuple(create), tuple(retire), tuple(publishable(keys, now)))


def publishable(keys: Sequence[AnyCertifiedKey], now: datetime) -> list[AnyCertifiedKey]:
    """The keys in force at ``now``, parents before children, oldest first within a role."""
    order = [KeyRole.ORGANIZATION, *PARENT]
    valid = [key for key in keys if in_force(key, now)]
    return sorted(valid, key=lambda key: (order.index(key.role), key.created_at))


def make_keys(
    plan: RotationPlan, keys: Sequence[AnyCertifiedKey], now: datetime
) -> list[AnyCertifiedKey]:
    """Generate the keys ``plan`` creates, in order, each signed by the newest valid key
    of its parent role among ``keys`` and the keys made before it.

    Raises KeyUnavailable when no valid parent key is held (renew it first).
    """
    made: list[AnyCertifiedKey] = []
    for role in plan.create:
        parent = newest_valid([*keys, *made], PARENT[role], now)
        if not isinstance(parent, CertifiedSigningKey):
            raise MisuseError(f"a {PARENT[role].value} key cannot sign")
        if role.is_encryption_key:
            made.append(generate_messaging_key(role, parent, now))
        else:
            made.append(generate_signing_key(role, parent, now))
    return made
