"""``quietline --version``: the version written in pyproject.toml, and nothing else."""

import tomllib
from pathlib import Path

from typer.testing import CliRunner

from quietline.cli import app

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_version_prints_the_project_version_and_exits() -> None:
    written = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["version"]
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"quietline {written}\n"


def test_version_comes_before_any_command() -> None:
    result = CliRunner().invoke(app, ["--version", "demo", "--clients", "0"])
    assert result.exit_code == 0
    assert result.output.startswith("quietline ")
