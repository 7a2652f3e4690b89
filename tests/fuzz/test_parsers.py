"""The coverage-guided harness (``fuzz/parsers.py``): it covers every public parser, its
seeds hold, it catches a broken parser, and a CI-sized run finds nothing.

The CI-sized run is a fixed number of inputs per target (``CI_RUNS``) with a fixed seed,
so what it tries does not depend on the machine's speed. Without atheris it is skipped
on a developer's machine, and fails under CI, where it must run.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fuzz.parsers import describe_crash, fuzz_target
from fuzz.targets import BodyCase, decode_body_case, target, targets
from quietline.protocol.parsers import PUBLIC_PARSERS
from tests.support.required import missing

ROOT = Path(__file__).resolve().parents[2]
CI_RUNS = 12_000  # per target: about a second each, under a minute in all
PLANTED = """
from quietline.protocol.errors import MalformedInput


def parse(raw: bytes) -> object:
    if b"!" in raw:
        return {}[raw]  # a KeyError: outside the contract
    raise MalformedInput("not yet")
"""


def require_atheris() -> None:
    if importlib.util.find_spec("atheris") is None:
        missing(
            "atheris is not installed here (make setup installs it)",
            "atheris is not installed, and CI must run the fuzzing harness",
        )


def test_every_public_parser_is_a_target() -> None:
    assert set(PUBLIC_PARSERS) | {"json", "edge_body"} == set(targets())


@pytest.mark.parametrize("name", sorted(targets()))
def test_every_seed_keeps_the_contract(name: str) -> None:
    fuzzed = targets()[name]
    seeds = fuzzed.seeds()
    assert seeds
    for seed in seeds:
        fuzzed.check(seed)


def test_a_body_case_reads_back_as_written() -> None:
    case = BodyCase("read_u2c", 2066, b" 1033", (b"ab", b"", b"c" * 300), True)

    assert decode_body_case(case.encode()) == case


def test_the_seeds_include_a_body_the_edge_reads() -> None:
    # Seeds that are all refused would leave the readers' success paths to luck.
    first, android, ios = target("edge_body").seeds()[:3]

    assert target("edge_body").parse(first) == b"".join(decode_body_case(first).chunks)
    for u2c in (android, ios):
        assert len(target("edge_body").parse(u2c).data) == 773  # type: ignore[attr-defined]


@pytest.mark.fuzz
def test_a_parser_that_breaks_its_contract_is_reported(tmp_path: Path) -> None:
    require_atheris()
    (tmp_path / "planted.py").write_text(PLANTED, encoding="utf-8")
    command = [
        sys.executable,
        "-m",
        "fuzz.parsers",
        "--target",
        "planted:parse",
        "--runs",
        "100000",
        "--artifacts",
        str(tmp_path / "crashes"),
    ]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}

    run = subprocess.run(
        command, cwd=ROOT, env=environment, capture_output=True, text=True, check=False
    )

    assert run.returncode == 1, run.stdout + run.stderr
    assert "KeyError" in run.stdout
    (crash,) = (tmp_path / "crashes").iterdir()
    assert b"!" in crash.read_bytes()
    assert f"--reproduce planted:parse {crash}" in run.stdout
    again = subprocess.run(
        [sys.executable, "-m", "fuzz.parsers", "--reproduce", "planted:parse", str(crash)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode != 0
    assert "KeyError" in again.stderr


@pytest.mark.fuzz
@pytest.mark.parametrize("name", sorted(targets()))
def test_a_ci_sized_run_finds_nothing(name: str, tmp_path: Path) -> None:
    require_atheris()

    outcome = fuzz_target(
        name, tmp_path / "corpus", tmp_path / "crashes", runs=CI_RUNS, seconds=None, seed=1
    )

    assert outcome.held, describe_crash(outcome)
    assert outcome.executions >= CI_RUNS
    assert outcome.coverage > 0
