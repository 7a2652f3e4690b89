"""One full round trip through the protocol, in memory: what every deployment does.

An organisation makes its key hierarchy; a crowd of sources sends cover while one of
them writes to a recipient; the CoverNode opens, discards cover, mixes, re-encrypts,
signs a dead drop; the recipient trial-decrypts it and replies; the source finds the
reply in a user dead drop. Used by ``quietline interop roundtrip`` and its test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from quietline.protocol.certificates import KeyRole
from quietline.protocol.covernode import (
    Lane,
    Verdict,
    journalist_dead_drop,
    open_j2c,
    open_u2c,
    user_dead_drop,
)
from quietline.protocol.deaddrops import JournalistTrialDecryptor, UserTrialDecryptor
from quietline.protocol.hierarchy import (
    IdentityFamily,
    JournalistProfile,
    OrganizationFamily,
    ProvisioningFamily,
    PublishedKeys,
    Realm,
)
from quietline.protocol.keygen import (
    generate_messaging_key,
    generate_organization_key,
    generate_signing_key,
)
from quietline.protocol.keys import CoverNodeMessagingKey, EncryptionKeyPair, ReplyKey
from quietline.protocol.messages import (
    EncryptedJ2U,
    U2CMessage,
    encrypt_cover_j2c,
    encrypt_cover_u2c,
    encrypt_j2c,
    encrypt_u2c,
    text_reply,
)
from quietline.protocol.mixing import DEMO_J2U, DEMO_U2J, MixState, ReplayFilter
from quietline.protocol.recipients import RecipientId
from quietline.protocol.roles import OrganizationStatements, RoleStatement
from quietline.protocol.verification import verify_published_keys

RECIPIENT_ID = RecipientId("news_desk")


@dataclass(frozen=True, slots=True)
class TourResult:
    u2c_sent: int
    u2c_real: int
    user_dead_drop_entries: int
    journalist_dead_drop_entries: int
    received_text: str = field(repr=False)
    reply_text: str = field(repr=False)


def run_tour(
    now: datetime, crowd: int, message: str, reply: str, report: Callable[[str], None]
) -> TourResult:
    """Run the round trip at ``now`` with ``crowd`` cover senders; ``report`` narrates."""
    org = generate_organization_key(now)
    cn_prov = generate_signing_key(KeyRole.COVERNODE_PROVISIONING, org, now)
    j_prov = generate_signing_key(KeyRole.JOURNALIST_PROVISIONING, org, now)
    cn_id = generate_signing_key(KeyRole.COVERNODE_ID, cn_prov, now)
    cn_msg = generate_messaging_key(KeyRole.COVERNODE_MSG, cn_id, now)
    j_id = generate_signing_key(KeyRole.JOURNALIST_ID, j_prov, now)
    j_msg = generate_messaging_key(KeyRole.JOURNALIST_MSG, j_id, now)
    published = PublishedKeys(
        (JournalistProfile.create(RECIPIENT_ID, "News Desk", "The newsroom's desk", is_desk=True),),
        RECIPIENT_ID,
        (
            OrganizationFamily(
                org.published,
                (
                    ProvisioningFamily(
                        Realm.COVERNODE,
                        cn_prov.published,
                        {
                            RecipientId("covernode_001"): (
                                IdentityFamily(cn_id.published, (cn_msg.published,)),
                            )
                        },
                    ),
                ),
                (
                    ProvisioningFamily(
                        Realm.JOURNALIST,
                        j_prov.published,
                        {RECIPIENT_ID: (IdentityFamily(j_id.published, (j_msg.published,)),)},
                    ),
                ),
            ),
        ),
        1,
        OrganizationStatements(
            tuple(
                RoleStatement.sign(org.pair, key.role, key.published.key)
                for key in (cn_prov, j_prov)
            )
        ),
    )
    keys = verify_published_keys(published, [org.published], now).verified
    report(f"organisation key pinned; {len(keys.keys)} published keys verified")

    source = EncryptionKeyPair.generate()
    wrapping = keys.covernode_wrapping_keys()
    real = encrypt_u2c(
        wrapping,
        recipient_id=RECIPIENT_ID,
        recipient_key=keys.journalist_messaging_key(RECIPIENT_ID),
        reply_key=ReplyKey.of(source),
        text=message,
    )
    submissions = [encrypt_cover_u2c(wrapping) for _ in range(crowd)]
    submissions.insert(crowd // 2, real)
    report(
        f"{len(submissions)} clients each sent one {len(real.data)}-byte U2C; one of them is real"
    )

    # The CoverNode: the same core the mixer runs, with nothing stored.
    replays = ReplayFilter()
    user_lane: Lane[U2CMessage] = Lane(DEMO_U2J, MixState(0, now, ()), replays)
    opened = [(seq, open_u2c(box, [cn_msg.pair])) for seq, box in enumerate(submissions, 1)]
    intake = user_lane.take(opened)
    if not user_lane.due(now):
        now += DEMO_U2J.timeout  # a small crowd: the timeout releases the batch
    u2j_batch = user_lane.release(now)
    journalist_drop = journalist_dead_drop(u2j_batch, cn_msg.pair, cn_id, keys).published(1)
    report(
        f"CoverNode dropped {intake.count(Verdict.COVER)} cover messages and published "
        f"a journalist dead drop of {len(u2j_batch.entries)} shuffled entries"
    )

    journalist_drop.body.verify(keys)
    desk = JournalistTrialDecryptor([j_msg.pair], [CoverNodeMessagingKey.of(cn_msg.pair)])
    (received,) = desk.open(journalist_drop)
    received_text = received.message.text.text()
    report(f"desk found 1 message among {len(u2j_batch.entries)} entries: {received_text!r}")

    j2c = encrypt_j2c(wrapping, j_msg.pair, received.message.reply_key, text_reply(reply))
    desks = [j2c, *(encrypt_cover_j2c(wrapping) for _ in range(DEMO_J2U.threshold_min - 1))]
    j2u_lane: Lane[EncryptedJ2U] = Lane(DEMO_J2U, MixState(0, now, ()), replays)
    j2u_lane.take([(seq, open_j2c(box, [cn_msg.pair])) for seq, box in enumerate(desks, 1)])
    later = now + DEMO_J2U.timeout
    j2u_batch = j2u_lane.release(later)
    user_drop = user_dead_drop(j2u_batch, cn_id).published(1)
    report(
        f"desk replied with a {len(j2c.data)}-byte J2C; "
        f"a user dead drop of {len(j2u_batch.entries)} entries went out"
    )

    user_drop.body.verify(keys)
    (found,) = UserTrialDecryptor(source, keys).open(user_drop)
    reply_text = found.message.body.text()
    report(f"source found the reply from {found.journalist_id}: {reply_text!r}")
    return TourResult(
        u2c_sent=len(submissions),
        u2c_real=1,
        user_dead_drop_entries=len(j2u_batch.entries),
        journalist_dead_drop_entries=len(u2j_batch.entries),
        received_text=received_text,
        reply_text=reply_text,
    )
