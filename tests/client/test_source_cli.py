"""``quietline source run|send|inbox`` as real processes against the real edge app."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from quietline.edge_client import EdgeClient
from quietline.protocol.api import Direction
from quietline.protocol.errors import ProtocolError
from quietline.protocol.messages import U2CMessage, parse_u2c, text_reply
from quietline.protocol.recipients import RecipientId
from tests.client.edge_server import RunningEdge
from tests.client.replies import reply_entry, user_dead_drop
from tests.support.organisation import Organisation

# Real processes and servers: left out of `make check`, run by `make test`.
pytestmark = pytest.mark.slow

SECRET_TEXT = "sentinel 51d0 meet at the usual place"
DEADLINE_S = 30.0


@pytest.fixture
def org() -> Organisation:
    return Organisation.create(datetime.now(UTC) - timedelta(hours=1))


def _quietline(*args: str, passphrase: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "QUIETLINE_PASSPHRASE"}
    if passphrase is not None:
        env["QUIETLINE_PASSPHRASE"] = passphrase
    return subprocess.run(
        [sys.executable, "-m", "quietline", "source", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=DEADLINE_S,
        check=False,
    )


def _real_messages(edge: RunningEdge, org: Organisation) -> list[U2CMessage]:
    real = []
    for _, data in edge.store.pull(Direction.USER, 0, 10_000, 0):
        try:
            u2c = parse_u2c(data).open(org.covernode_messaging.pair)
        except ProtocolError:
            continue
        if not u2c.tag.is_cover:
            real.append(u2c)
    return real


def _wait_for(condition_name: str, check: Callable[[], object]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {condition_name}")
        time.sleep(0.1)


def test_run_send_inbox_round_trip(edge: RunningEdge, org: Organisation, tmp_path: Path) -> None:
    vault = tmp_path / "client"
    anchor = tmp_path / "organisation.pub.json"
    anchor.write_text(json.dumps(org.anchor.to_json()))
    common = ("--vault", str(vault), "--kdf-cost", "interactive")

    early = _quietline("send", *common, "--to", "news_desk", "--message", "x", "--new")
    assert early.returncode == 1
    assert "run `quietline source run`" in early.stderr

    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "quietline",
            "source",
            "run",
            "--edge",
            edge.url,
            "--vault",
            str(vault),
            "--anchor",
            str(anchor),
            "--period",
            "0.2",
            "--download-period",
            "0.5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for("keys", lambda: edge.store.queue_length(Direction.USER) > 0)
        sent = _quietline(
            "send", *common, "--to", "news_desk", "--message", SECRET_TEXT, "--new",
            passphrase="pass phrase one",
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        assert "queued for news_desk" in sent.stdout

        wrong = _quietline("inbox", *common, passphrase="not it")
        assert wrong.returncode == 1
        assert "does not open this vault" in wrong.stderr
        unknown = _quietline(
            "send", *common, "--to", "nobody", "--message", "hi", passphrase="pass phrase one"
        )
        assert unknown.returncode == 1
        assert "'nobody' is not a recipient" in unknown.stderr

        _wait_for("the real message", lambda: _real_messages(edge, org))
        (real,) = _real_messages(edge, org)
        u2j = real.payload.open(org.recipients[RecipientId("news_desk")].messaging.pair)
        assert u2j.text.text() == SECRET_TEXT
        entry = reply_entry(org, "news_desk", u2j.reply_key, text_reply("received, thanks"))
        with EdgeClient(edge.url) as publisher:
            publisher.publish_dead_drop(user_dead_drop(org, [entry], datetime.now(UTC)))

        def reply_arrived() -> bool:
            shown = _quietline("inbox", *common, "--json", passphrase="pass phrase one")
            assert shown.returncode == 0, shown.stderr
            replies = json.loads(shown.stdout.splitlines()[-1])["replies"]
            return [(r["journalist_id"], r["type"], r["text"]) for r in replies] == [
                ("news_desk", "text", "received, thanks")
            ]

        _wait_for("the reply", reply_arrived)
    finally:
        run.send_signal(signal.SIGTERM)
        out, err = run.communicate(timeout=DEADLINE_S)
    assert run.returncode == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"source client in {vault}")
    assert lines[-1].startswith("stopped after")
    status = [line for line in lines if " sent message " in line]
    assert len(status) >= 2
    # The process says nothing that tells a real message from cover.
    said = (out + err).lower()
    for telltale in (SECRET_TEXT.lower(), "real", "cover", "news_desk"):
        assert telltale not in said


def test_a_second_run_on_one_vault_is_refused(
    edge: RunningEdge, org: Organisation, tmp_path: Path
) -> None:
    # Two run loops on one folder would send twice as often as every other client.
    vault = tmp_path / "client"
    anchor = tmp_path / "organisation.pub.json"
    anchor.write_text(json.dumps(org.anchor.to_json()))
    command = ("run", "--edge", edge.url, "--vault", str(vault), "--anchor", str(anchor))
    first = subprocess.Popen(
        [sys.executable, "-m", "quietline", "source", *command, "--period", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for("the first run's sends", lambda: edge.store.queue_length(Direction.USER) > 0)
        second = _quietline(*command)
        assert second.returncode == 1
        assert "another source run is already running" in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=DEADLINE_S)
    assert first.returncode == 0, err
    # The lock went with the first process: a new run starts (and is stopped at once).
    again = subprocess.Popen(
        [sys.executable, "-m", "quietline", "source", *command], stdout=subprocess.PIPE, text=True
    )
    try:
        _wait_for("the new run", lambda: again.stdout is not None and again.stdout.readline())
    finally:
        again.send_signal(signal.SIGTERM)
        again.communicate(timeout=DEADLINE_S)
    assert again.returncode == 0
