"""``quietline admin init --crowd`` writes mixing sized to the crowd into the config the
services load, and ``quietline admin presets`` prints what each preset costs."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quietline.admin.crowd import Crowd, mixing_for
from quietline.cli import app
from quietline.config import load_config
from quietline.protocol.mixing import PRODUCTION_J2U, PRODUCTION_U2J

runner = CliRunner()


@pytest.mark.parametrize("crowd", ["small", "2,500"])
def test_init_with_a_crowd_writes_its_mixing(tmp_path: Path, crowd: str) -> None:
    made = runner.invoke(app, ["admin", "init", str(tmp_path / "org"), "--crowd", crowd])
    assert made.exit_code == 0, made.output
    expected = mixing_for(Crowd.of(100 if crowd == "small" else 2500))
    assert expected.comment in made.output
    mixer = load_config(tmp_path / "org").mixer
    assert (mixer.u2j, mixer.j2u) == (expected.u2j, expected.j2u)


def test_init_without_a_crowd_keeps_coverdrops_production_mixing(tmp_path: Path) -> None:
    made = runner.invoke(app, ["admin", "init", str(tmp_path / "org")])
    assert made.exit_code == 0, made.output
    mixer = load_config(tmp_path / "org").mixer
    assert (mixer.u2j, mixer.j2u) == (PRODUCTION_U2J, PRODUCTION_J2U)


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--crowd", "lots"], "a crowd is a number of clients"),
        (["--crowd", "0"], "a crowd is 1 to"),
        (["--crowd", "small", "--mixing", "demo"], "not both"),
    ],
)
def test_a_bad_crowd_is_a_clear_error(tmp_path: Path, options: list[str], says: str) -> None:
    made = runner.invoke(app, ["admin", "init", str(tmp_path / "org"), *options])
    assert made.exit_code != 0
    assert says in made.output
    assert not (tmp_path / "org").exists()


def test_presets_prints_parameters_and_measured_figures() -> None:
    printed = runner.invoke(app, ["admin", "presets", "--crowd", "small", "--days", "0.5"])
    assert printed.exit_code == 0, printed.output
    lines = printed.output.splitlines()
    (parameters,) = [line for line in lines if line.startswith("| small | 100 |")]
    assert "3,000 / 24,000 / 1.0 h / 10" in parameters
    (figures,) = [line for line in lines if line.startswith("| small |") and "min (" in line]
    assert "| 1.00 |" in figures  # a journalist dead drop an hour
    assert "16.7 h |" in figures  # what CoverDrop's production parameters would take
    assert "--days 0.5 --seed 1" in printed.output


class Terminal:
    """``sys`` as the command sees it at a terminal (the runner's input is a pipe)."""

    class stdin:
        @staticmethod
        def isatty() -> bool:
            return True


def test_init_at_a_terminal_asks_for_the_crowd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # quietline.cli exports the admin Typer app under the module's name.
    monkeypatch.setattr(importlib.import_module("quietline.cli.admin"), "sys", Terminal)
    made = runner.invoke(app, ["admin", "init", str(tmp_path / "org")], input="medium\n")
    assert made.exit_code == 0, made.output
    assert "How many source clients do you expect to run at once?" in made.output
    expected = mixing_for(Crowd.of(10_000))
    assert load_config(tmp_path / "org").mixer.u2j == expected.u2j
    # An empty answer keeps CoverDrop's production mixing.
    kept = runner.invoke(app, ["admin", "init", str(tmp_path / "other")], input="\n")
    assert kept.exit_code == 0, kept.output
    assert load_config(tmp_path / "other").mixer.u2j == PRODUCTION_U2J
