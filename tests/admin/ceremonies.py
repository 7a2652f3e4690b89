"""What the admin tests share: the moment a deployment folder is made, and a way to list
every key a published document holds."""

from datetime import UTC, datetime

from quietline.protocol.hierarchy import PublishedKeys

INIT_AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def every_key(document: PublishedKeys) -> set[bytes]:
    """Every key a published document holds, anchors included."""
    found = set()
    for organization in document.families:
        found.add(organization.organization.key)
        for provisioning in (*organization.covernodes, *organization.journalists):
            found.add(provisioning.provisioning.key)
            for families in provisioning.members.values():
                for family in families:
                    found.add(family.identity.key)
                    found.update(key.key for key in family.messaging)
    return found
