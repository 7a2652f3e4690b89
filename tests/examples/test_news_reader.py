"""The example host app: a news reader that runs the embedded client for as long as it
is open, against a real edge."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from examples.news_reader.news_reader import HEADLINES, main
from quietline.client import SourceStorage
from tests.client.edge_server import published_edge
from tests.client.source_process import wait_for
from tests.support.organisation import Organisation


class _Reader(io.StringIO):
    """A person who reads a story, then quits once ``ready`` (the client was seen)."""

    def __init__(self, lines: list[str], ready: Callable[[], object]) -> None:
        super().__init__()
        self._lines = lines
        self._ready = ready

    def readline(self, _size: int | None = -1) -> str:  # type: ignore[override]
        if self._lines[0] == "q":
            wait_for("the client's first request", self._ready)
        return self._lines.pop(0) + "\n"


def test_the_reader_runs_the_client_while_it_is_open_and_stops_it_on_quit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    org = Organisation.create(datetime.now(UTC) - timedelta(hours=1))
    anchor = tmp_path / "organisation.pub.json"
    anchor.write_text(json.dumps(org.anchor.to_json()))
    folder = tmp_path / "data"
    with published_edge(tmp_path / "edge", org) as edge:
        monkeypatch.setattr("sys.stdin", _Reader(["2", "q"], lambda: bool(edge.recorder.begun)))
        code = main(["--edge", edge.url, "--anchor", str(anchor), "--data", str(folder)])
        paths = [request.path for request in edge.recorder.settled()]
    assert code == 0
    out = capsys.readouterr().out
    assert HEADLINES[1][1] in out
    # The client ran: its first download, and its folder set up; then it stopped.
    assert "/v1/public-keys" in paths
    storage = SourceStorage(folder)
    assert storage.vault_path.stat().st_size > 0
    assert not storage.socket_path.exists()


def test_a_bad_edge_url_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    org = Organisation.create(datetime.now(UTC))
    anchor = tmp_path / "organisation.pub.json"
    anchor.write_text(json.dumps(org.anchor.to_json()))
    assert main(["--edge", "ftp://x", "--anchor", str(anchor), "--data", str(tmp_path)]) == 1
    assert "news reader: " in capsys.readouterr().err
