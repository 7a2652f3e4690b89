"""``quietline edge`` with its store or its queues somewhere it cannot use: a clear error
and exit status 1 before it listens, never a traceback, and a URL shown without its
password."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quietline.cli import app
from quietline.config import CONFIG_NAME, default_config_text
from quietline.keystore import write_public_json
from quietline.processes import free_port, quietline_command
from tests.support.organisation import Organisation


def test_an_unreachable_store_stops_the_edge_without_showing_its_password(
    tmp_path: Path,
) -> None:
    runner = CliRunner()
    folder = tmp_path / "org"
    assert runner.invoke(app, ["admin", "init", str(folder), "--mixing", "demo"]).exit_code == 0
    config = folder / "quietline.toml"
    port = free_port()  # nothing listens there
    url = f"postgresql://edge:s3cret-word@127.0.0.1:{port}/quietline"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("retention_days = 14", f'retention_days = 14\nstore = "{url}"'))

    result = runner.invoke(app, ["edge", "--config", str(folder)])

    assert result.exit_code != 0
    assert "cannot open or migrate the edge's store" in result.output
    assert f"postgresql://edge:***@127.0.0.1:{port}/quietline" in result.output
    assert "s3cret-word" not in result.output


def _edge_with_queue(folder: Path, queue: str) -> subprocess.CompletedProcess[str]:
    text = default_config_text(edge_port=free_port())
    (folder / CONFIG_NAME).write_text(text.replace("[edge]", f'[edge]\nqueue = "{queue}"', 1))
    organisation = Organisation.create(datetime.now(UTC))
    write_public_json(folder / "organization.pub.json", organisation.anchor.to_json())
    return subprocess.run(
        quietline_command("edge", "--config", str(folder)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# A real process that waits for a NATS server that never answers: left out of make check.
@pytest.mark.slow
def test_an_unreachable_jetstream_server_stops_the_edge_with_the_reason(tmp_path: Path) -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    done = _edge_with_queue(tmp_path, url)
    assert done.returncode == 1
    assert f"cannot reach the submission queues at {url}" in done.stderr
    assert "Traceback" not in done.stderr
    assert "edge listening" not in done.stdout


@pytest.mark.slow
def test_a_bad_jetstream_url_stops_the_edge_with_the_reason(tmp_path: Path) -> None:
    done = _edge_with_queue(tmp_path, "nats://127.0.0.1:4222/no.dots")
    assert done.returncode == 1
    assert "cannot open the submission queues" in done.stderr
    assert "1-32 letters, digits, - or _" in done.stderr
    assert "Traceback" not in done.stderr
