"""CPU per signed form POST at the edge, for an organisation with many recipients.

Run: ``.venv/bin/python benchmarks/edge_forms.py [--recipients N] [--days D] [--posts P]``

The edge checks every signed form (a desk's J2C, a queue pull, a profile) against the
organisation's verified key hierarchy. The organisation here has N recipients (50 by
default), each with an identity key and D (14) daily messaging keys still valid, as with
daily rotation and two weeks of validity, stored in a real SQLite edge store. In one run:

1. the limit: one Ed25519 signature verification (PyNaCl), the unit of the work;
2. verifying the whole hierarchy once, as the edge must when it changes;
3. GET /v1/healthcheck through the real app (Starlette's in-process client): what the
   client and the framework cost any request, with no store or key work;
4. POST /v1/journalist-messages through the same app, the CPU time of P posts divided
   by P (each verifies its form's signature and queues the J2C in the store).

Each row gives CPU milliseconds and the ratio to one Ed25519 verification.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from quietline.clock import FixedClock
from quietline.edge import EdgeStore, create_app
from quietline.edge.keys import verified_keys
from quietline.edge.queues import DEFAULT_MAX_QUEUED
from quietline.edge.sqlite_queues import SqliteQueues
from quietline.protocol.api import J2CSubmission
from quietline.protocol.certificates import KeyRole
from quietline.protocol.forms import sign_form
from quietline.protocol.keygen import (
    CertifiedEncryptionKey,
    CertifiedSigningKey,
    generate_messaging_key,
    generate_organization_key,
    generate_signing_key,
)
from quietline.protocol.keys import CoverNodeMessagingKey, SigningKeyPair
from quietline.protocol.messages import encrypt_cover_j2c
from quietline.protocol.recipients import RecipientId
from quietline.protocol.roles import RoleStatement

# Starlette calls its TestClient's use of httpx deprecated (as pyproject's pytest
# settings note); it is still Starlette's in-process client.
warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient` is deprecated")
from starlette.testclient import TestClient  # noqa: E402

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _store_key(
    store: EdgeStore,
    key: CertifiedSigningKey | CertifiedEncryptionKey,
    owner: str | None,
    parent: CertifiedSigningKey,
    root: CertifiedSigningKey,
) -> None:
    statement = None
    if parent is root:
        statement = RoleStatement.sign(root.pair, key.role, key.published.key)
    expires_at = min(key.published.not_valid_after, parent.not_valid_after)
    store.add_key(
        key.role, owner, parent.published.key, key.published, expires_at, statement=statement
    )


def organisation(
    store: EdgeStore, recipients: int, days: int
) -> tuple[CertifiedSigningKey, CertifiedSigningKey, CoverNodeMessagingKey]:
    """Store a hierarchy with ``recipients`` recipients of ``days`` messaging keys each;
    returns the root, the first recipient's identity key and the CoverNode's key."""
    start = NOW - timedelta(days=days - 1)
    root = generate_organization_key(start)
    cn_provisioning = generate_signing_key(KeyRole.COVERNODE_PROVISIONING, root, start)
    cn_identity = generate_signing_key(KeyRole.COVERNODE_ID, cn_provisioning, NOW)
    cn_messaging = generate_messaging_key(KeyRole.COVERNODE_MSG, cn_identity, NOW)
    provisioning = generate_signing_key(KeyRole.JOURNALIST_PROVISIONING, root, start)
    for key, parent in (
        (cn_provisioning, root),
        (cn_identity, cn_provisioning),
        (cn_messaging, cn_identity),
        (provisioning, root),
    ):
        _store_key(store, key, "covernode_1" if parent is not root else None, parent, root)
    identities = []
    for number in range(recipients):
        owner = RecipientId(f"desk_{number}")
        identity = generate_signing_key(KeyRole.JOURNALIST_ID, provisioning, start)
        _store_key(store, identity, owner, provisioning, root)
        identities.append(identity)
        for day in range(days):
            made = start + timedelta(days=day)
            messaging = generate_messaging_key(KeyRole.JOURNALIST_MSG, identity, made)
            _store_key(store, messaging, owner, identity, root)
    return root, identities[0], CoverNodeMessagingKey.of(cn_messaging.pair)


def cpu_per_call(operation: Callable[[], object], calls: int) -> float:
    """CPU seconds (this process, every thread) per call of ``operation``."""
    started = time.process_time()
    for _ in range(calls):
        operation()
    return (time.process_time() - started) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=50)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--posts", type=int, default=200)
    args = parser.parse_args()

    pair = SigningKeyPair.generate()
    message = os.urandom(64)
    signature = pair.sign(message)
    ed25519 = cpu_per_call(lambda: pair.public.verify(message, signature), 5_000)

    with tempfile.TemporaryDirectory() as folder:
        store = EdgeStore(Path(folder) / "edge.sqlite3")
        root, identity, covernode = organisation(store, args.recipients, args.days)
        anchors = [root.published]
        hierarchy = cpu_per_call(lambda: verified_keys(store, anchors, NOW), 5)
        keys = len(verified_keys(store, anchors, NOW).keys)

        clock = FixedClock(NOW)
        forms = [
            sign_form(
                J2CSubmission(encrypt_cover_j2c([covernode, covernode])).to_json(),
                identity.pair,
                NOW,
            ).to_json()
            for _ in range(args.posts)
        ]
        queues = SqliteQueues(Path(folder) / "edge.sqlite3", DEFAULT_MAX_QUEUED)
        with TestClient(create_app(store, anchors, clock, queues=queues)) as edge:
            floor = cpu_per_call(lambda: edge.get("/v1/healthcheck"), args.posts)
            statuses: set[int] = set()
            bodies = iter(forms)
            post = cpu_per_call(
                lambda: statuses.add(
                    edge.post("/v1/journalist-messages", json=next(bodies)).status_code
                ),
                args.posts,
            )
        asyncio.run(queues.close())
        store.close()
    if statuses != {204}:
        raise SystemExit(f"the edge refused forms: {sorted(statuses)}")

    print(f"{args.recipients} recipients x {args.days} messaging keys: {keys} verified keys")
    print(f"{'CPU per operation':<46} {'ms':>9} {'x Ed25519 verify':>17}")
    for name, seconds in (
        ("Ed25519 verify (PyNaCl), the limit", ed25519),
        ("verify the whole hierarchy once", hierarchy),
        ("GET /v1/healthcheck (client and framework)", floor),
        (f"POST /v1/journalist-messages (mean of {args.posts})", post),
    ):
        print(f"{name:<46} {seconds * 1000:>9.3f} {seconds / ed25519:>17.1f}")


if __name__ == "__main__":
    main()
