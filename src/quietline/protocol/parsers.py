"""Every parser of public input, as ``bytes → value``, in one table: the attack surface.

Anything a peer can send reaches one of these. Each returns a protocol object or raises
:class:`ProtocolError`, and nothing else, whatever the bytes. The Hypothesis
fuzzers (``tests/protocol/test_fuzz.py``) and the coverage-guided harness (``fuzz/parsers.py``)
drive exactly this table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from quietline.protocol.api import (
    ErrorBody,
    J2CSubmission,
    KeyEpoch,
    KeySubmission,
    ProfileSubmission,
    QueuePage,
    QueuePull,
    Status,
    StoredId,
    parse_dead_drop_summary,
    parse_j2c_form_data,
    parse_u2c_body,
)
from quietline.protocol.certificates import SignedKey
from quietline.protocol.coverdrop_forms import CoverDropForm
from quietline.protocol.deaddrops import (
    JournalistDeadDrop,
    UserDeadDrop,
    parse_dead_drop_list,
)
from quietline.protocol.forms import SignedForm
from quietline.protocol.hierarchy import JournalistProfile, PublishedKeys
from quietline.protocol.jsonvalues import load_json
from quietline.protocol.keyfiles import encryption_key_pair_from_json
from quietline.protocol.messages import (
    ENCRYPTED_J2C,
    ENCRYPTED_U2C,
    J2CMessage,
    J2UMessage,
    U2CMessage,
    U2JMessage,
    parse_j2c,
    parse_u2c,
)
from quietline.protocol.pcs import PaddedCompressedString
from quietline.protocol.profile_forms import (
    ProfilePatch,
    parse_new_profile,
    parse_removal,
    parse_status_change,
)
from quietline.protocol.roles import Revocation, RoleStatement


def _json(parse: Callable[[object], object]) -> Callable[[bytes], object]:
    return lambda raw: parse(load_json(raw))


PUBLIC_PARSERS: Mapping[str, Callable[[bytes], object]] = {
    "u2c": parse_u2c,
    "j2c": parse_j2c,
    "u2j_plaintext": U2JMessage.from_bytes,
    "u2c_plaintext": U2CMessage.from_bytes,
    "j2u_plaintext": J2UMessage.from_bytes,
    "j2c_plaintext": J2CMessage.from_bytes,
    "padded_compressed_string": lambda raw: PaddedCompressedString(raw).text(),
    "published_keys": _json(PublishedKeys.from_json),
    "journalist_profile": _json(JournalistProfile.from_json),
    "signed_key": _json(SignedKey.from_json),
    "role_statement": _json(RoleStatement.from_json),
    "revocation": _json(Revocation.from_json),
    "key_pair": _json(encryption_key_pair_from_json),
    "user_dead_drop": _json(UserDeadDrop.from_json),
    "journalist_dead_drop": _json(JournalistDeadDrop.from_json),
    "user_dead_drops": _json(lambda obj: parse_dead_drop_list(UserDeadDrop, obj)),
    "journalist_dead_drops": _json(lambda obj: parse_dead_drop_list(JournalistDeadDrop, obj)),
    "signed_form": _json(SignedForm.from_json),
    "user_message_body": parse_u2c_body,
    "j2c_submission": _json(J2CSubmission.from_json),
    "coverdrop_form": _json(CoverDropForm.from_json),
    "j2c_form_data": parse_j2c_form_data,
    "key_submission": _json(KeySubmission.from_json),
    "key_epoch": _json(KeyEpoch.from_json),
    "profile_submission": _json(ProfileSubmission.from_json),
    "stored_id": _json(StoredId.from_json),
    "queue_pull": _json(QueuePull.from_json),
    "user_queue_page": _json(lambda obj: QueuePage.from_json(ENCRYPTED_U2C, obj)),
    "journalist_queue_page": _json(lambda obj: QueuePage.from_json(ENCRYPTED_J2C, obj)),
    "new_profile": parse_new_profile,
    "profile_patch": ProfilePatch.parse,
    "status_change": parse_status_change,
    "removal": parse_removal,
    "status": _json(Status.from_json),
    "dead_drop_summary": _json(parse_dead_drop_summary),
    "error": _json(ErrorBody.from_json),
}
