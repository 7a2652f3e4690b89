"""docs/deploy.md stays true: every configuration key the loader reads is in its reference
with the right default, every ``quietline`` command it shows exists with the options it
uses, the crowd presets' table is what ``quietline admin presets`` prints, and the
example systemd units parse."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from quietline.cli import app
from quietline.config import CONFIG_NAME, EdgeLimits, default_config_text, load_config
from quietline.mixer.alarm import AlarmSettings
from tests.support.deployment import FAST_MIXING
from tests.support.required import missing

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "docs" / "deploy.md"
UNITS = sorted((ROOT / "deploy" / "systemd").glob("quietline-*"))
# Every optional table and key, so the loader reads them all.
OPTIONAL = (
    """
[mixer.alarm]
window_seconds = 600
rate_factor = 8
share_factor = 8
smoothing = 0.5
warmup_windows = 2
min_count = 5
"""
    + FAST_MIXING
)


class Recording(dict[str, Any]):
    """A TOML table that notes every key the loader asks it for."""

    def __init__(self, name: str, values: dict[str, Any], seen: set[str]) -> None:
        super().__init__(
            {
                key: Recording(f"{name}.{key}".lstrip("."), value, seen)
                if isinstance(value, dict)
                else value
                for key, value in values.items()
            }
        )
        self._name, self._seen = name, seen

    def _note(self, key: object) -> None:
        if isinstance(key, str):
            self._seen.add(f"[{self._name}] {key}")

    def get(self, key: str, default: Any = None) -> Any:
        self._note(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self._note(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self._note(key)
        return super().__contains__(key)


def every_key_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The ``[table] key`` names the loader reads from a file that sets every key."""
    limits = "".join(f"{key} = {value}\n" for key, value in vars_of(EdgeLimits()).items())
    text = default_config_text().replace("[edge]", "[edge]\n" + limits, 1)
    text = text.replace("[mixer]", "[mixer]\nworkers = 2", 1) + OPTIONAL
    (tmp_path / CONFIG_NAME).write_text(text, encoding="utf-8")
    seen: set[str] = set()
    loads = tomllib.loads
    # quietline.config reads the file with tomllib.loads: hand it recording tables.
    monkeypatch.setattr(tomllib, "loads", lambda text: Recording("", loads(text), seen))
    load_config(tmp_path)
    tables = {f"[{name}] {key}" for name, key in _tables(tomllib.loads(text))}
    return {name for name in seen if name.split("] ")[0] != "[" and name not in tables}


def _tables(document: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(parent, key) of every key whose value is a table."""
    for key, value in document.items():
        if isinstance(value, dict):
            yield prefix, key
            yield from _tables(value, f"{prefix}.{key}".lstrip("."))


def vars_of(instance: object) -> dict[str, Any]:
    return {name: getattr(instance, name) for name in instance.__slots__}  # type: ignore[attr-defined]


def reference() -> dict[str, str]:
    """The configuration reference's rows: ``[table] key`` -> its default cell."""
    rows = re.findall(r"^\| `(\[[a-z0-9_.]+\] [a-z_]+)` \| ([^|]*) \|", DEPLOY.read_text(), re.M)
    return {key: default.strip() for key, default in rows}


def test_every_configuration_key_is_documented(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read = every_key_read(tmp_path, monkeypatch)
    assert len(read) > 30  # the recording works
    documented = set(reference())
    assert read - documented == set(), "read by quietline.config but not in docs/deploy.md"
    assert documented - read == set(), "in docs/deploy.md but not read by quietline.config"


def actual_defaults() -> dict[str, Any]:
    """What each key is when ``admin init``'s file is loaded, or when it is left out."""
    written = tomllib.loads(default_config_text())
    defaults = {
        f"[{table}] {key}": value
        for table, section in written.items()
        for key, value in section.items()
    }
    defaults |= {f"[edge] {key}": value for key, value in vars_of(EdgeLimits()).items()}
    alarm = AlarmSettings()
    defaults |= {
        f"[mixer.alarm] {key}": value
        for key, value in vars_of(alarm).items()
        if key not in ("window", "warmup")
    }
    defaults["[mixer.alarm] window_seconds"] = alarm.window.total_seconds()
    defaults["[mixer.alarm] warmup_windows"] = alarm.warmup
    return defaults


def test_every_documented_default_is_the_real_one() -> None:
    defaults = actual_defaults()
    checked = 0
    for key, cell in reference().items():
        literal = re.fullmatch(r"`(.*)`", cell)
        if literal is None:  # "one per core", "the `mixing` preset's"
            continue
        (value,) = tomllib.loads(f"value = {literal[1]}").values()
        assert defaults[key] == value, key
        checked += 1
    assert checked > 25


# --- commands ---------------------------------------------------------------------------


def documented_commands(text: str) -> list[list[str]]:
    """Every ``quietline ...`` command in the shell blocks and code spans of ``text``."""
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    lines = [line for block in blocks for line in block.replace("\\\n", " ").splitlines()]
    lines += re.findall(r"`(quietline [^`]+)`", text)
    commands = []
    for line in lines:
        for part in re.split(r"&&|\|", line):
            words = shlex.split(part, comments=True)
            if words[:1] == ["quietline"]:
                commands.append(words[1:])
    return commands


def check_command(words: list[str]) -> None:
    """Walk the Typer app along ``words``: each subcommand and each ``--option`` must exist."""
    # Typer's own copy of click: a group is what has subcommands.
    command: Any = typer.main.get_command(app)
    path = ["quietline"]
    rest = list(words)
    while hasattr(command, "commands") and rest and not rest[0].startswith("-"):
        name = rest.pop(0)
        found = command.commands.get(name)
        assert found is not None, f"{' '.join(path)} has no command {name!r}"
        command, path = found, [*path, name]
    options = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    for word in rest:
        if word.startswith("--"):
            assert word.split("=")[0] in options | {"--help"}, f"{' '.join(path)} has no {word}"


def test_every_command_in_the_deployment_guide_exists() -> None:
    commands = documented_commands(DEPLOY.read_text())
    assert len(commands) > 20
    for words in commands:
        check_command(words)


def test_a_command_that_does_not_exist_is_caught() -> None:
    for words in (["admin", "initialise"], ["admin", "init", "--crowds", "5"], ["mixer", "--fast"]):
        with pytest.raises(AssertionError):
            check_command(words)


def test_the_presets_table_is_what_the_command_prints() -> None:
    printed = CliRunner().invoke(app, ["admin", "presets"])
    assert printed.exit_code == 0, printed.output
    table = "\n".join(line for line in printed.output.splitlines() if line)
    documented = "\n".join(line for line in DEPLOY.read_text().splitlines() if line)
    assert table in documented, "regenerate the table with `quietline admin presets`"


# --- systemd units ------------------------------------------------------------------------


def test_the_systemd_units_parse(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        missing(
            "systemd-analyze is not installed: the example units are not checked",
            "systemd-analyze is needed in CI to check deploy/systemd/",
        )
    assert {unit.name for unit in UNITS} == {
        "quietline-edge.service",
        "quietline-mixer.service",
        "quietline-desk.service",
        "quietline-status.service",
        "quietline-status.timer",
    }
    # verify wants the programs to exist: point them at this installation's quietline.
    quietline = Path(sys.executable).parent / "quietline"
    for unit in UNITS:
        text = unit.read_text().replace("/opt/quietline/bin/quietline", str(quietline))
        (tmp_path / unit.name).write_text(text)
    checked = subprocess.run(
        [analyze, "verify", *(str(tmp_path / unit.name) for unit in UNITS)],
        capture_output=True,
        text=True,
        check=False,
    )
    # systemd-analyze exits 0 on unknown keys and bad values: any complaint is a failure.
    assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")
    for unit in (unit for unit in UNITS if unit.suffix == ".service"):
        hardening = unit.read_text()
        for setting in ("NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes"):
            assert setting in hardening, (unit.name, setting)
    desk = (ROOT / "deploy" / "systemd" / "quietline-desk.service").read_text()
    assert "LoadCredentialEncrypted=desk-passphrase:" in desk
    assert "--passphrase-fd 3" in desk
    assert "Environment" not in desk
