"""The client embedded in a host app: its run loop on a background thread against a real
edge, a person's session through calls, and the same socket `quietline source` uses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from quietline.client import SourceStorage
from quietline.client.embed import ClientSettings, EmbeddedClient
from quietline.client.errors import SourceClientError
from quietline.client.handoff import SENT
from quietline.client.ipc import SocketLink
from quietline.client.storage import Cache
from quietline.edge_endpoint import EdgeEndpoint
from quietline.runner import AlreadyRunning
from quietline.ui.session import digest_of
from quietline.vault import INTERACTIVE
from tests.client.edge_server import RunningEdge
from tests.client.replies import reply_to_the_message
from tests.client.source_process import wait_for
from tests.support.organisation import Organisation
from tests.support.sources import TEST_VAULT_BLOCKS

TEXT = "the invoices are in the second drawer"


@pytest.fixture
def org() -> Organisation:
    return Organisation.create(datetime.now(UTC) - timedelta(hours=1))


def _embedded(edge: RunningEdge, org: Organisation, folder: Path) -> EmbeddedClient:
    return EmbeddedClient(
        folder,
        [org.anchor],
        EdgeEndpoint(edge.url),
        ClientSettings(send_period_s=0.2, download_period_s=0.5, kdf_cost=INTERACTIVE),
        vault_blocks=TEST_VAULT_BLOCKS,
    )


def test_an_embedded_client_sends_reads_and_stops_with_its_host(
    edge: RunningEdge, org: Organisation, tmp_path: Path
) -> None:
    folder = tmp_path / "client"
    client = _embedded(edge, org, folder)
    with pytest.raises(SourceClientError):
        client.session()
    with client:
        assert client.running
        # The same socket `quietline source send`, `inbox` and `ui` reach a run loop on.
        served = Cache.from_json(SocketLink(SourceStorage(folder).socket_path).snapshot().cache)
        assert served.anchors == [org.anchor]
        with pytest.raises(AlreadyRunning):
            _embedded(edge, org, folder).start()
        wait_for("the keys", lambda: client.state().has_keys)
        session = client.session()
        assert session.digests() == [digest_of(org.anchor)]
        profiles, default = session.recipients()
        assert [str(p.id) for p in profiles] == ["news_desk"] == [default]
        words, queued = session.begin("news_desk", TEXT)
        assert session.wait_sent(queued.ticket, 30) == SENT
        reply_to_the_message(edge, org, TEXT, "we have them", "news_desk")

        def replied() -> bool:
            return [e.text for e in session.conversation() if not e.mine] == ["we have them"]

        wait_for("the reply", replied)
        assert client.state().counters.sends > 0
    assert not client.running
    with pytest.raises(SourceClientError):
        client.state()

    # Started again on the same folder, the vault opens with the passphrase shown.
    with _embedded(edge, org, folder) as again:
        session = again.session()
        session.unlock(words)
        assert [(e.mine, e.text) for e in session.conversation()] == [
            (True, TEXT),
            (False, "we have them"),
        ]
