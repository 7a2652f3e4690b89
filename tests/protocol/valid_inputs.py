"""A valid input for every entry of ``PUBLIC_PARSERS``, made with the project's own
constructors from one deterministic deployment, and the writer of each JSON parser.

The fuzzers start from these: the Hypothesis fuzzers of ``tests/protocol/test_fuzz.py``
mutate them, and the coverage-guided harness of ``fuzz/`` seeds its corpora with them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from quietline.protocol.api import (
    Direction,
    ErrorBody,
    J2CSubmission,
    KeyEpoch,
    KeySubmission,
    ProfileSubmission,
    Queued,
    QueuePage,
    QueuePull,
    Status,
    StoredId,
    SystemStatus,
    dead_drop_summary,
    j2c_form_data,
    u2c_body,
)
from quietline.protocol.boxes import TwoPartyBox
from quietline.protocol.certificates import KeyRole, SignedKey
from quietline.protocol.coverdrop_forms import CoverDropForm, sign_coverdrop_form
from quietline.protocol.deaddrops import (
    JournalistDeadDrop,
    JournalistTrialDecryptor,
    UserDeadDrop,
    dead_drop_list_json,
    sign_journalist_dead_drop,
    sign_user_dead_drop,
)
from quietline.protocol.forms import SignedForm, sign_form
from quietline.protocol.hierarchy import JournalistProfile, JournalistStatus, PublishedKeys
from quietline.protocol.keyfiles import encryption_key_pair_to_json
from quietline.protocol.keys import EncryptionKeyPair, JournalistMessagingKey, ReplyKey
from quietline.protocol.messages import (
    ENCRYPTED_J2C,
    ENCRYPTED_U2C,
    J2U,
    cover_j2u,
    encrypt_cover_u2c,
    encrypt_j2c,
    encrypt_u2c,
    filler_c2j,
    forward_to_journalist,
    text_reply,
)
from quietline.protocol.pcs import PaddedCompressedString
from quietline.protocol.profile_forms import ProfilePatch, new_profile_json, status_change_json
from quietline.protocol.recipients import RecipientId
from quietline.protocol.roles import Revocation, RoleStatement
from quietline.protocol.verification import VerifiedKeys
from tests.protocol.keyring import (
    Keyring,
    build_keyring,
    derive_encryption_pair,
    derive_signing_pair,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class World:
    keyring: Keyring
    verified: VerifiedKeys
    user: EncryptionKeyPair
    # A valid input for every entry of PUBLIC_PARSERS: JSON documents for the parsers
    # that read JSON text, raw bytes for the others.
    documents: dict[str, Any]
    wire: dict[str, bytes]

    @property
    def published_keys_json(self) -> dict[str, Any]:
        document: dict[str, Any] = self.documents["published_keys"]
        return document

    @property
    def user_dead_drops_json(self) -> dict[str, Any]:
        document: dict[str, Any] = self.documents["user_dead_drops"]
        return document

    @property
    def journalist_dead_drops_json(self) -> dict[str, Any]:
        document: dict[str, Any] = self.documents["journalist_dead_drops"]
        return document

    @property
    def covernode(self) -> EncryptionKeyPair:
        return self.keyring.covernode("covernode_001").newest_messaging.pair

    @property
    def journalist(self) -> EncryptionKeyPair:
        return self.keyring.journalist("alice").newest_messaging.pair

    def journalist_decryptor(self) -> JournalistTrialDecryptor:
        alice = self.keyring.journalist("alice")
        return JournalistTrialDecryptor(
            alice.messaging_pairs(), self.verified.covernode_wrapping_keys()
        )

    def valid_input(self, name: str) -> bytes:
        """What a peer sends to the parser ``name`` when it plays by the rules."""
        if name in self.wire:
            return self.wire[name]
        return json.dumps(self.documents[name]).encode()


@cache
def world() -> World:
    """One deployment with a real reply and a real user message in its dead drops, and a
    valid input for every public parser."""
    keyring = build_keyring(
        NOW,
        covernode_ids=("covernode_001", "covernode_002"),
        journalist_ids=("alice", "bob"),
        messaging_keys=2,
        max_epoch=3,
    )
    verified = keyring.verified()
    user = derive_encryption_pair(0, "fuzzed user")
    node = keyring.covernode("covernode_001")
    alice = keyring.journalist("alice")
    wrapping = verified.covernode_wrapping_keys()
    reply = TwoPartyBox.seal(J2U, alice.newest_messaging.pair, user.public, text_reply("hi"))
    u2c = encrypt_u2c(
        wrapping,
        recipient_id="alice",
        recipient_key=JournalistMessagingKey.of(alice.newest_messaging.pair),
        reply_key=ReplyKey.of(user),
        text="hello",
    )
    u2c_plaintext = u2c.open(node.newest_messaging.pair)
    forwarded = forward_to_journalist(
        node.newest_messaging.pair,
        JournalistMessagingKey.of(alice.newest_messaging.pair),
        u2c_plaintext.payload,
    )
    j2c = encrypt_j2c(
        wrapping, alice.newest_messaging.pair, ReplyKey.of(user), text_reply("a reply")
    )
    signed_at = NOW - timedelta(minutes=1)
    user_body = sign_user_dead_drop(
        [cover_j2u(), reply],
        signed_at,
        identity=node.identity.pair,
        identity_not_valid_after=node.identity.not_valid_after,
    )
    journalist_body = sign_journalist_dead_drop(
        [forwarded, filler_c2j()],
        signed_at,
        3,
        identity=node.identity.pair,
        identity_not_valid_after=node.identity.not_valid_after,
    )
    # A revocation of a key the document does not hold, so that everything still verifies
    # and the mutation fuzzers reach the revocations too.
    retired = derive_signing_pair(0, "retired identity").public.raw
    revocation = Revocation.sign(keyring.organization.pair, retired, NOW - timedelta(days=1))
    published = keyring.published_keys()
    published = replace(
        published, statements=replace(published.statements, revocations=(revocation,))
    )
    (_, journalist_statement) = published.statements.roles
    pull = QueuePull(Direction.USER, after=5, limit=100, ack_through=4)
    documents: dict[str, Any] = {
        "published_keys": published.to_json(),
        "journalist_profile": published.profiles[0].to_json(),
        "signed_key": alice.newest_messaging.signed.to_json(),
        "role_statement": journalist_statement.to_json(),
        "revocation": revocation.to_json(),
        "key_pair": encryption_key_pair_to_json(user),
        "user_dead_drop": user_body.to_json(),
        "journalist_dead_drop": journalist_body.to_json(),
        "user_dead_drops": dead_drop_list_json([user_body.published(1)]),
        "journalist_dead_drops": dead_drop_list_json([journalist_body.published(2)]),
        "signed_form": sign_form(pull.to_json(), node.identity.pair, NOW).to_json(),
        "user_message_body": json.loads(u2c_body(u2c)),
        "j2c_submission": J2CSubmission(j2c).to_json(),
        "coverdrop_form": sign_coverdrop_form(
            j2c_form_data(j2c), alice.identity.pair, NOW
        ).to_json(),
        "j2c_form_data": json.loads(j2c_form_data(j2c)),
        # A provisioning key's: the one body with every field (owner null, role_signature).
        "key_submission": KeySubmission(
            KeyRole.JOURNALIST_PROVISIONING,
            None,
            keyring.anchor.key,
            keyring.journalist_provisioning.signed,
            journalist_statement.signature,
        ).to_json(),
        "key_epoch": KeyEpoch(3).to_json(),
        "profile_submission": ProfileSubmission(published.profiles[0], True).to_json(),
        "stored_id": StoredId(2).to_json(),
        "queue_pull": pull.to_json(),
        "user_queue_page": QueuePage(
            (Queued(5, u2c), Queued(6, encrypt_cover_u2c(wrapping)))
        ).to_json(ENCRYPTED_U2C),
        "journalist_queue_page": QueuePage((Queued(1, j2c),)).to_json(ENCRYPTED_J2C),
        "new_profile": new_profile_json(published.profiles[0]),
        "profile_patch": ProfilePatch(RecipientId("alice"), display_name="Alice B.").to_json(),
        "status_change": status_change_json(
            (RecipientId("alice"), JournalistStatus.HIDDEN_FROM_UI)
        ),
        "removal": "bob",
        "status": Status(SystemStatus.AVAILABLE, "All systems are go", NOW).to_json(),
        "dead_drop_summary": dead_drop_summary([(9, NOW), (8, NOW)]),
        "error": ErrorBody("the form is stale or from the future").to_json(),
    }
    wire = {
        "u2c": u2c.data,
        "j2c": j2c.data,
        "u2j_plaintext": u2c_plaintext.payload.open(alice.newest_messaging.pair).to_bytes(),
        "u2c_plaintext": u2c_plaintext.to_bytes(),
        "j2u_plaintext": text_reply("a reply").to_bytes(),
        "j2c_plaintext": j2c.open(node.newest_messaging.pair).to_bytes(),
        "padded_compressed_string": PaddedCompressedString.from_text("hello").raw,
    }
    return World(keyring, verified, user, documents, wire)


# How each JSON parser's value is written back: what the edge or a service sends on.
WRITERS: dict[str, Callable[[Any], Any]] = {
    "published_keys": PublishedKeys.to_json,
    "journalist_profile": JournalistProfile.to_json,
    "signed_key": SignedKey.to_json,
    "role_statement": RoleStatement.to_json,
    "revocation": Revocation.to_json,
    "key_pair": encryption_key_pair_to_json,
    "user_dead_drop": UserDeadDrop.to_json,
    "journalist_dead_drop": JournalistDeadDrop.to_json,
    "user_dead_drops": dead_drop_list_json,
    "journalist_dead_drops": dead_drop_list_json,
    "signed_form": SignedForm.to_json,
    "user_message_body": lambda message: json.loads(u2c_body(message)),
    "j2c_submission": J2CSubmission.to_json,
    "coverdrop_form": CoverDropForm.to_json,
    "j2c_form_data": lambda message: json.loads(j2c_form_data(message)),
    "key_submission": KeySubmission.to_json,
    "key_epoch": KeyEpoch.to_json,
    "profile_submission": ProfileSubmission.to_json,
    "stored_id": StoredId.to_json,
    "queue_pull": QueuePull.to_json,
    "user_queue_page": lambda page: page.to_json(ENCRYPTED_U2C),
    "journalist_queue_page": lambda page: page.to_json(ENCRYPTED_J2C),
    "new_profile": new_profile_json,
    "profile_patch": ProfilePatch.to_json,
    "status_change": status_change_json,
    "removal": str,
    "status": Status.to_json,
    "dead_drop_summary": dead_drop_summary,
    "error": ErrorBody.to_json,
}
