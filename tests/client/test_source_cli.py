"""``quietline source run|send|inbox`` as real processes against the real edge app."""

from __future__ import annotations

import fcntl
import json
import os
import random
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from quietline.client import SourceStorage, vault
from quietline.client.passphrase import read_shown
from quietline.client.records import SourceRecords
from quietline.processes import passphrase_pipe, with_passphrase
from quietline.protocol.api import Direction
from quietline.protocol.recipients import RecipientId
from tests.client.edge_server import RunningEdge
from tests.client.replies import real_messages, reply_to_the_message
from tests.client.source_process import DEADLINE_S, FAST, source_run, wait_for
from tests.support.organisation import Organisation

# Real processes and servers: left out of `make check`, run by `make test`.
pytestmark = pytest.mark.slow

SECRET_TEXT = "sentinel 51d0 meet at the usual place"
# Five words from the list that no client made: a wrong passphrase, not a typo.
SOMEONE_ELSES = "abacus abdomen abdominal abide abiding"


@pytest.fixture
def org() -> Organisation:
    return Organisation.create(datetime.now(UTC) - timedelta(hours=1))


def _quietline(
    *args: str, passphrase: str | None = None, stdin: bytes = b""
) -> subprocess.CompletedProcess[str]:
    """``quietline source ARGS`` with ``stdin`` as its input and the passphrase on a pipe;
    in a session of its own, so it has no terminal to ask at."""
    command = [sys.executable, "-m", "quietline", "source", *args]
    with with_passphrase(command, passphrase) as (argv, fds):
        done = subprocess.run(
            argv,
            input=stdin,
            capture_output=True,
            pass_fds=fds,
            timeout=DEADLINE_S,
            start_new_session=True,
            check=False,
        )
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
    )


def _sent(folder: Path, passphrase: str) -> list[str]:
    """The texts the vault file in ``folder`` records as sent, opened with ``passphrase``."""
    raw = SourceStorage(folder).read_vault()
    opened = vault.open_vault(vault.VaultKey.derive(passphrase, raw), raw)
    return [message.text.text() for message in SourceRecords.parse(opened).sent]


def test_run_send_inbox_round_trip(edge: RunningEdge, org: Organisation, tmp_path: Path) -> None:
    folder = tmp_path / "client"
    anchor = tmp_path / "organisation.pub.json"
    anchor.write_text(json.dumps(org.anchor.to_json()))
    common = ("--vault", str(folder))

    early = _quietline("send", *common, "--to", "news_desk", "--new", stdin=b"x")
    assert early.returncode == 1
    assert "no source client is running" in early.stderr
    assert "start `quietline source run`" in early.stderr

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
            str(folder),
            "--anchor",
            str(anchor),
            "--period",
            "0.2",
            "--download-period",
            "0.5",
            *FAST,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for("keys", lambda: edge.queues.queue_length(Direction.USER) > 0)
        sent = _quietline(
            "send", *common, "--to", "news_desk", "--new", "--replace-existing-vault",
            stdin=SECRET_TEXT.encode(),
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        assert "queued for news_desk" in sent.stdout
        assert sent.stdout.splitlines()[-1] == "sent"
        passphrase = read_shown(sent.stdout)
        assert len(passphrase.split()) == 5

        wrong = _quietline("inbox", *common, passphrase=SOMEONE_ELSES)
        assert wrong.returncode == 1
        assert "the passphrase did not open the vault" in wrong.stderr
        unknown = _quietline("send", *common, "--to", "nobody", passphrase=passphrase, stdin=b"hi")
        assert unknown.returncode == 1
        assert "'nobody' is not a recipient" in unknown.stderr

        wait_for("the real message", lambda: real_messages(edge, org))
        reply_to_the_message(edge, org, SECRET_TEXT, "received, thanks", "news_desk")

        def reply_arrived() -> bool:
            shown = _quietline("inbox", *common, "--json", passphrase=passphrase)
            assert shown.returncode == 0, shown.stderr
            replies = json.loads(shown.stdout.splitlines()[-1])["replies"]
            return [(r["journalist_id"], r["type"], r["text"]) for r in replies] == [
                ("news_desk", "text", "received, thanks")
            ]

        wait_for("the reply", reply_arrived)
    finally:
        run.send_signal(signal.SIGTERM)
        out, err = run.communicate(timeout=DEADLINE_S)
    assert run.returncode == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"source client in {folder}")
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
        wait_for("the first run's sends", lambda: edge.queues.queue_length(Direction.USER) > 0)
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
        wait_for("the new run", lambda: again.stdout is not None and again.stdout.readline())
    finally:
        again.send_signal(signal.SIGTERM)
        again.communicate(timeout=DEADLINE_S)
    assert again.returncode == 0


@contextmanager
def _running(edge: RunningEdge, org: Organisation, folder: Path) -> Iterator[subprocess.Popen[str]]:
    """A ``source run`` on ``folder`` that has downloaded the keys; stopped on exit."""
    with source_run(edge.url, folder, org) as run:
        wait_for("keys", lambda: edge.queues.queue_length(Direction.USER) > 0)
        yield run.process


def _proc(pid: int, name: str) -> bytes:
    return (Path("/proc") / str(pid) / name).read_bytes()


def test_secrets_reach_send_only_on_stdin_a_file_and_a_descriptor(
    edge: RunningEdge, org: Organisation, tmp_path: Path
) -> None:
    folder = tmp_path / "client"
    common = ("--vault", str(folder), "--to", "news_desk")
    file_text = "sentinel 9c1e from a file: the second ledger"
    with _running(edge, org, folder) as run:
        message_file = tmp_path / "message.txt"
        message_file.write_text(file_text + "\n", encoding="utf-8")
        first = ("send", *common, "--new", "--replace-existing-vault")
        made = _quietline(*first, "--message-file", str(message_file))
        assert made.returncode == 0, made.stderr
        passphrase = read_shown(made.stdout)
        with passphrase_pipe(passphrase) as fd:
            send = subprocess.Popen(
                [
                    *(sys.executable, "-m", "quietline", "source", "send", *common),
                    *("--passphrase-fd", str(fd)),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(fd,),
                start_new_session=True,
            )
        # `send` waits for its message on stdin: it is running, holding its passphrase
        # on a descriptor, while another user's process reads what /proc shows of it.
        wait_for("send to start", lambda: b"send" in _proc(send.pid, "cmdline"))
        shown = {
            (name, pid): _proc(pid, name)
            for name in ("cmdline", "environ")
            for pid in (run.pid, send.pid)
        }
        out, err = send.communicate(SECRET_TEXT.encode() + b"\n", timeout=DEADLINE_S)
        assert send.returncode == 0, err
        assert b"queued for news_desk" in out
        for (name, pid), seen in shown.items():
            for secret in (SECRET_TEXT, passphrase, *passphrase.split(), "sentinel"):
                assert secret.encode() not in seen, (name, pid)
    key = org.recipients[RecipientId("news_desk")].messaging.pair
    texts = [real.payload.open(key).text.text() for real in real_messages(edge, org)]
    assert texts == [file_text, SECRET_TEXT]
    assert _sent(folder, passphrase) == [file_text, SECRET_TEXT]


def test_a_mistyped_passphrase_never_replaces_the_vault(
    edge: RunningEdge, org: Organisation, tmp_path: Path
) -> None:
    folder = tmp_path / "client"
    common = ("--vault", str(folder), "--to", "news_desk")
    with _running(edge, org, folder):
        made = _quietline("send", *common, "--new", "--replace-existing-vault", stdin=b"hi")
        assert made.returncode == 0, made.stderr
        passphrase = read_shown(made.stdout)

        typo = _quietline("send", *common, passphrase=passphrase + "s", stdin=b"again")
        assert typo.returncode == 1
        assert "word 5 is not one of the passphrase words: a typo?" in typo.stderr
        wrong = _quietline("send", *common, passphrase=SOMEONE_ELSES, stdin=b"again")
        assert wrong.returncode == 1
        assert "error: the passphrase did not open the vault" in wrong.stderr
        assert "--new" not in wrong.stderr

        # Starting over, without anyone at a terminal to confirm it: refused.
        over = _quietline("send", *common, "--new", stdin=b"again")
        assert over.returncode == 1
        assert "nothing was replaced" in over.stderr
        assert "--replace-existing-vault" in over.stderr

        lone_flag = _quietline("send", *common, "--replace-existing-vault", stdin=b"again")
        assert lone_flag.returncode == 1
        assert "only goes with --new" in lone_flag.stderr
        with_fd = _quietline("send", *common, "--new", passphrase=passphrase, stdin=b"again")
        assert with_fd.returncode == 1
        assert "takes no --passphrase-fd" in with_fd.stderr

    # The vault still opens with the first passphrase and holds only the first message.
    assert _sent(folder, passphrase) == ["hi"]


def test_bad_input_gets_a_clear_error_and_no_traceback(tmp_path: Path) -> None:
    # The text is checked before anything else: no client needs to run for this.
    common = ("send", "--vault", str(tmp_path / "client"), "--to", "news_desk")
    cases: list[tuple[tuple[str, ...], bytes, str]] = [
        ((), b"caf\xe9 at noon", "the message is not UTF-8 text (byte 4 of 12 is not valid)"),
        ((), b"", "the message is empty"),
        ((), b" \n\n", "the message is empty"),
        ((), random.Random(5).randbytes(1500).hex().encode(), "% of the space"),
        ((), b"a" * 60_000, "more than 51,000 bytes"),
        ((), b"a" * 40_000, "repeats itself so much"),
        (("--message-file", str(tmp_path / "missing.txt")), b"", "cannot read the message"),
    ]
    for extra, stdin, expected in cases:
        done = _quietline(*common, *extra, passphrase=SOMEONE_ELSES, stdin=stdin)
        assert done.returncode == 1, expected
        assert done.stderr.startswith("error: "), done.stderr
        assert expected in done.stderr
        assert "Traceback" not in done.stderr
    hex_text = random.Random(5).randbytes(750).hex().encode()  # 1,500 characters
    too_long = _quietline(*common, passphrase=SOMEONE_ELSES, stdin=hex_text)
    assert "about 900 characters of English text or 240 of Chinese" in too_long.stderr
    assert "this one needs 1" in too_long.stderr


# A session of its own whose controlling terminal is the pty at argv[1], as a person's
# shell gives it; then `quietline ARGS`.
AT_A_TERMINAL = """
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
for target in (0, 1, 2):
    os.dup2(fd, target)
os.execv(sys.executable, [sys.executable, "-m", "quietline", *sys.argv[2:]])
"""


class Terminal:
    """A person at a terminal: reads what the command shows, types answers."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.master, slave = os.openpty()
        # 100 columns and 30 lines, as a terminal window tells its programs.
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        self.process = subprocess.Popen(
            [sys.executable, "-c", AT_A_TERMINAL, os.ttyname(slave), *args],
            start_new_session=True,
            env=env,
        )
        os.close(slave)
        self.seen = b""

    def expect(self, text: str) -> None:
        deadline = time.monotonic() + DEADLINE_S
        while text.encode() not in self.seen:
            if time.monotonic() > deadline:
                raise AssertionError(f"never shown {text!r}; shown: {self.seen!r}")
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    self.seen += os.read(self.master, 4096)
                except OSError:  # the command exited and closed the terminal
                    time.sleep(0.1)

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def close(self) -> int:
        code = self.process.wait(timeout=DEADLINE_S)
        os.close(self.master)
        return code


def test_at_a_terminal_the_message_is_typed_and_replacing_a_vault_is_confirmed(
    edge: RunningEdge, org: Organisation, tmp_path: Path
) -> None:
    folder = tmp_path / "client"
    common = ("--vault", str(folder), "--to", "news_desk")
    with _running(edge, org, folder):
        for answer, queued in (("no", False), ("replace the vault", True)):
            person = Terminal("source", "send", *common, "--new")
            person.expect("Type the message, then Ctrl-D")
            person.type(f"{SECRET_TEXT}\n\x04")
            person.expect("Type 'replace the vault' to go on:")
            person.type(f"{answer}\n")
            person.expect("\nsent\r\n" if queued else "nothing was replaced")
            assert person.close() == (0 if queued else 1)
        passphrase = read_shown(person.seen.decode().replace("\r\n", "\n"))
    assert _sent(folder, passphrase) == [SECRET_TEXT]


def test_the_ui_opens_at_a_terminal_in_the_locales_language_and_quits(
    edge: RunningEdge, org: Organisation, tmp_path: Path
) -> None:
    folder = tmp_path / "client"
    chinese = {"TERM": "xterm-256color", "LANG": "zh_CN.UTF-8", "LC_ALL": "", "LANGUAGE": ""}
    # Textual settings that would log, record or type: the command forgets them.
    recorded = tmp_path / "recorded"
    recorded.mkdir()
    textual = {
        "TEXTUAL": "debug",
        "TEXTUAL_LOG": str(recorded / "textual.log"),
        "TEXTUAL_SCREENSHOT": "0",
        "TEXTUAL_SCREENSHOT_LOCATION": str(recorded),
        "TEXTUAL_PRESS": "tab",
    }
    with _running(edge, org, folder):
        person = Terminal(
            "source", "ui", "--vault", str(folder), env={**os.environ, **chinese, **textual}
        )
        person.expect("开始之前")  # "Before you start"
        time.sleep(0.5)  # TEXTUAL_SCREENSHOT=0 would save a screenshot by now
        person.type("\x11")  # Ctrl-Q: lock and quit
        assert person.close() == 0
    assert b"Traceback" not in person.seen
    assert list(recorded.iterdir()) == []
