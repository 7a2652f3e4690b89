"""``quietline desk`` end to end against a real edge: import, run, list, read, reply,
hand over, and the errors a person sees."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from quietline.cli import app
from quietline.clock import SystemClock
from quietline.config import default_config_text
from quietline.edge import EdgeStore
from quietline.edge_client import EdgeClient
from quietline.keystore import write_private_json, write_public_json
from quietline.processes import passphrase_pipe
from quietline.protocol.keys import EncryptionKeyPair, JournalistMessagingKey
from quietline.protocol.messages import J2UType
from tests.desk.world import bundle_for, drop_message, open_j2c, real_edge, seal_message, sent_j2c
from tests.support.organisation import Organisation

# Real processes and servers: left out of `make check`, run by `make test`.
pytestmark = pytest.mark.slow

PASSPHRASE = "a long desk passphrase"
DEADLINE_S = 30.0
runner = CliRunner()


@dataclass
class Deployment:
    folder: Path
    org: Organisation
    edge: EdgeClient
    store: EdgeStore
    bundle: Path

    def desk(self, *args: str, passphrase: str = PASSPHRASE, message: bytes = b"") -> Result:
        """``quietline desk ARGS``, the passphrase on a pipe and ``message`` on stdin."""
        command = ["desk", args[0], "--config", str(self.folder), "--kdf-cost", "interactive"]
        with passphrase_pipe(passphrase) as fd:
            fd_option = ["--passphrase-fd", str(fd)]
            return runner.invoke(app, [*command, *args[1:], *fd_option], input=message)


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    clock = SystemClock()
    folder = tmp_path / "deployment"
    org = Organisation.create(clock.now(), ("alice", "bob"))
    with real_edge(tmp_path, org, clock) as (url, store), EdgeClient(url) as edge:
        org.publish(edge, clock.now(), messaging=False)
        port = int(url.rsplit(":", 1)[1])
        config = default_config_text(edge_port=port).replace(
            "period_seconds = 60", "period_seconds = 0.001"
        )
        folder.mkdir()
        (folder / "quietline.toml").write_text(config, encoding="utf-8")
        write_public_json(folder / "organization.pub.json", org.anchor.to_json())
        bundle = tmp_path / "alice.json"
        write_private_json(bundle, bundle_for(org, "alice", clock.now()).to_json())
        yield Deployment(folder, org, edge, store, bundle)


def _write(deployment: Deployment, source: EncryptionKeyPair, text: str) -> JournalistMessagingKey:
    now = SystemClock().now()
    key = deployment.org.verified(deployment.edge, now).journalist_messaging_key("alice")
    sealed = seal_message(key, source, text)
    drop_message(
        deployment.org, deployment.edge, now, key, sealed, epoch=deployment.store.max_epoch()
    )
    return key


def test_a_desk_reads_lists_and_replies(deployment: Deployment) -> None:
    added = deployment.desk("add-recipient", str(deployment.bundle))
    assert added.exit_code == 0, added.output
    assert "added recipient alice" in added.output
    assert "not published" not in added.output

    source = EncryptionKeyPair.generate()
    alice = _write(deployment, source, "meet at noon")
    ran = deployment.desk("run", "--once")
    assert ran.exit_code == 0, ran.output
    assert "dead drops read 1 · messages received 1 · sent cover" in ran.output

    listed = deployment.desk("sources", "--json")
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.output)["sources"]
    short = source.public.hex()[:8]
    assert (row["source"], row["recipient"], row["received"]) == (short, "alice", 1)

    thread = deployment.desk("thread", short, "--json")
    messages = json.loads(thread.output)["messages"]
    assert [(m["direction"], m["text"]) for m in messages] == [("in", "meet at noon")]
    assert "meet at noon" in deployment.desk("thread", short).output

    replied = deployment.desk("reply", short, message=b"see you there\n")
    assert replied.exit_code == 0, replied.output
    handed = deployment.desk("handover", short, "--to", "bob")
    assert "bob is not on this desk" in handed.output
    for expected in (f"sent reply to {short}", f"sent reply to {short}", "sent cover"):
        ran = deployment.desk("run", "--once")
        assert expected in ran.output

    queued = sent_j2c(deployment.store)
    assert len(queued) == 4
    _, reply = open_j2c(deployment.org, queued[1], source, alice)
    assert reply is not None
    assert reply.body.text() == "see you there"
    _, handover = open_j2c(deployment.org, queued[2], source, alice)
    assert handover is not None
    assert (handover.type, handover.body.text()) == (J2UType.HANDOVER, "bob")

    # Nothing but the vault and its lock files was written: no log, no cache.
    written = {p.name for p in deployment.folder.iterdir()}
    locks = {"desk.vault.lock", "desk.vault.running"}
    assert written == {"quietline.toml", "organization.pub.json", "desk.vault", *locks}
    for name in ("desk.vault", *locks):
        assert (deployment.folder / name).stat().st_mode & 0o777 == 0o600


def test_errors_a_person_can_act_on(deployment: Deployment) -> None:
    missing = deployment.desk("sources")
    assert missing.exit_code == 1
    assert "add a recipient first" in missing.output
    assert deployment.desk("add-recipient", str(deployment.bundle)).exit_code == 0
    wrong = deployment.desk("sources", passphrase="not it")
    assert wrong.exit_code == 1
    assert "passphrase does not open the desk vault" in wrong.output

    source = EncryptionKeyPair.generate()
    _write(deployment, source, "hi")
    assert deployment.desk("run", "--once").exit_code == 0
    unknown = deployment.desk("reply", "ffffffff", message=b"hello")
    assert unknown.exit_code == 1
    assert "no source 'ffffffff'" in unknown.output
    long_text = "".join(EncryptionKeyPair.generate().secret.hex() for _ in range(40))
    short = source.public.hex()[:8]
    too_long = deployment.desk("reply", short, message=long_text.encode())
    assert too_long.exit_code == 1
    assert "too long" in too_long.output
    assert "characters of English text" in too_long.output
    not_text = deployment.desk("reply", short, message=b"caf\xe9")
    assert not_text.exit_code == 1
    assert "not UTF-8" in not_text.output
    empty = deployment.desk("reply", short, message=b"\n")
    assert empty.exit_code == 1
    assert "the message is empty" in empty.output
    for refused in (too_long, not_text, empty):
        assert "Traceback" not in refused.output
    stranger = deployment.desk("reply", short, "--as", "eve", message=b"x")
    assert stranger.exit_code == 1
    assert "no recipient 'eve'" in stranger.output

    not_a_bundle = deployment.folder / "quietline.toml"
    refused = deployment.desk("add-recipient", str(not_a_bundle))
    assert refused.exit_code == 1
    assert "not a JSON file" in refused.output


def test_a_second_desk_run_on_one_vault_is_refused(deployment: Deployment) -> None:
    # Two desks on one vault would send two J2C per period: the second is refused.
    assert deployment.desk("add-recipient", str(deployment.bundle)).exit_code == 0
    command = [sys.executable, "-m", "quietline", "desk", "run", "--config"]
    command += [str(deployment.folder), "--kdf-cost", "interactive"]
    with passphrase_pipe(PASSPHRASE) as fd:
        first = subprocess.Popen(
            [*command, "--passphrase-fd", str(fd)],
            pass_fds=(fd,),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    try:
        deadline = time.monotonic() + DEADLINE_S
        while not sent_j2c(deployment.store):
            assert time.monotonic() < deadline, "the first desk sent nothing"
            time.sleep(0.05)
        # Refused before it asks for a passphrase: it never needs one.
        second = _without_a_terminal(command)
        assert second.returncode == 1
        assert "another desk run is already running" in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=DEADLINE_S)
    assert first.returncode == 0


def test_a_reply_comes_from_a_file_and_the_passphrase_never_from_the_environment(
    deployment: Deployment, tmp_path: Path
) -> None:
    assert deployment.desk("add-recipient", str(deployment.bundle)).exit_code == 0
    source = EncryptionKeyPair.generate()
    _write(deployment, source, "hello")
    assert deployment.desk("run", "--once").exit_code == 0
    short = source.public.hex()[:8]
    reply = tmp_path / "reply.txt"
    reply.write_text("从文件来的回复: a reply from a file\n", encoding="utf-8")
    replied = deployment.desk("reply", short, "--message-file", str(reply))
    assert replied.exit_code == 0, replied.output
    thread = json.loads(deployment.desk("thread", short, "--json").output)
    assert [m["text"] for m in thread["messages"]][-1] == "从文件来的回复: a reply from a file"

    # What scripts used to set is no longer read: without a terminal or --passphrase-fd
    # the desk refuses to ask.
    command = [sys.executable, "-m", "quietline", "desk", "sources", "--config"]
    command += [str(deployment.folder), "--kdf-cost", "interactive"]
    refused = _without_a_terminal(command, {**os.environ, "QUIETLINE_PASSPHRASE": PASSPHRASE})
    assert refused.returncode == 1
    assert "no terminal to ask for the passphrase at" in refused.stderr


def _without_a_terminal(
    command: list[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in a session of its own with nothing on stdin: nobody to ask."""
    return subprocess.run(
        command,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        start_new_session=True,
        check=False,
    )
