"""Coverage-guided fuzzing (atheris, libFuzzer) of every parser of public input.

Run from the repository root::

    .venv/bin/python -m fuzz.parsers --runs 20000            # each target, 20,000 inputs
    .venv/bin/python -m fuzz.parsers --seconds 600           # ten minutes over all targets
    .venv/bin/python -m fuzz.parsers --target u2c --seconds 60 --corpus .fuzz/corpus
    .venv/bin/python -m fuzz.parsers --reproduce u2c .fuzz/crashes/u2c-crash-0123abcd

Each target (``fuzz.targets``: every entry of ``PUBLIC_PARSERS``, the JSON loader and the
edge's body readers) is fuzzed in a process of its own, with Quietline, PyNaCl and
Starlette instrumented for coverage, starting from a corpus of valid inputs. The run
stops at the first input that breaks a target's contract and prints the traceback, the
input (base64) and the command that reproduces it; the exit status is 1 then, 0 when
every target held. ``--runs`` counts inputs per target (with a fixed ``--seed`` the run
is repeatable); ``--seconds`` is the fuzzing time of the whole run, shared evenly.
docs/testing.md says more.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

INSTRUMENTED = ["quietline", "nacl", "starlette"]
ROOT = Path(__file__).resolve().parents[1]
INPUT_TIMEOUT_S = 30
DEFAULT_ARTIFACTS = Path(".fuzz/crashes")
SHOWN_INPUT_BYTES = 4096
_DONE = re.compile(r"^#(\d+)\s+DONE\s+cov: (\d+) ft: (\d+) corp: (\d+)", re.MULTILINE)
_EXECUTED = re.compile(r"^stat::number_of_executed_units: (\d+)", re.MULTILINE)


@dataclass(frozen=True)
class Outcome:
    """How one target's run ended."""

    target: str
    executions: int
    seconds: float
    coverage: int  # libFuzzer's count of covered edges ("cov")
    corpus: int  # inputs kept as covering something new
    crashes: tuple[Path, ...]
    log: str

    @property
    def held(self) -> bool:
        return not self.crashes and "DONE" in self.log


def _work(name: str, libfuzzer_args: list[str]) -> None:
    """The fuzzing process of one target: instrument, then hand over to libFuzzer."""
    import atheris

    with atheris.instrument_imports(include=INSTRUMENTED):
        from fuzz.targets import target as find_target
    from fuzz.mutators import mutate_json

    target = find_target(name)

    def mutate(data: bytes, max_size: int, seed: int) -> bytes:
        return mutate_json(data, max_size, seed, atheris.Mutate)

    extra = {"custom_mutator": mutate} if target.json else {}
    atheris.Setup([sys.argv[0], *libfuzzer_args], target.check, **extra)
    atheris.Fuzz()


def _write_seeds(name: str, corpus: Path) -> int:
    """Write the target's seeds into ``corpus`` (named by content); the largest's size."""
    from fuzz.targets import target

    corpus.mkdir(parents=True, exist_ok=True)
    largest = 0
    for seed in target(name).seeds():
        (corpus / f"seed-{hashlib.sha1(seed).hexdigest()}").write_bytes(seed)  # noqa: S324
        largest = max(largest, len(seed))
    return largest


def fuzz_target(
    name: str, corpus: Path, artifacts: Path, *, runs: int | None, seconds: int | None, seed: int
) -> Outcome:
    """Fuzz one target in a process of its own until ``runs`` inputs or ``seconds``."""
    corpus, artifacts = corpus.resolve(), artifacts.resolve()
    largest = _write_seeds(name, corpus)
    artifacts.mkdir(parents=True, exist_ok=True)
    before = set(artifacts.iterdir())
    options = [
        f"-seed={seed}",
        f"-max_len={max(4096, 2 * largest)}",
        f"-timeout={INPUT_TIMEOUT_S}",
        f"-artifact_prefix={artifacts}/{name}-",
        "-print_final_stats=1",
    ]
    if runs is not None:
        options.append(f"-runs={runs}")
    if seconds is not None:
        options.append(f"-max_total_time={seconds}")
    command = [sys.executable, "-m", "fuzz.parsers", "--work", name, "--", *options, str(corpus)]
    started = time.monotonic()
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    log = finished.stdout + finished.stderr
    done = _DONE.findall(log)
    executed = _EXECUTED.findall(log)
    crashes = tuple(sorted(set(artifacts.iterdir()) - before))
    if finished.returncode != 0 and not crashes:
        crashes = (artifacts / f"{name}-(no input saved: exit status {finished.returncode})",)
    return Outcome(
        name,
        int(executed[-1]) if executed else 0,
        elapsed,
        int(done[-1][1]) if done else 0,
        len(list(corpus.iterdir())),
        crashes,
        log,
    )


def describe_crash(outcome: Outcome) -> str:
    """The traceback, the input and the command that reproduces it."""
    marker = outcome.log.find("=== Uncaught Python exception")
    # No Python traceback: a timeout, a memory limit or a crash of the process itself.
    report = outcome.log[marker:] if marker >= 0 else outcome.log[-SHOWN_INPUT_BYTES:]
    lines = [f"{outcome.target}: contract broken", report]
    for path in outcome.crashes:
        if path.is_file():
            data = path.read_bytes()
            shown = base64.b64encode(data[:SHOWN_INPUT_BYTES]).decode()
            cut = " (first bytes)" if len(data) > SHOWN_INPUT_BYTES else ""
            lines += [
                f"input ({len(data)} bytes, base64{cut}): {shown}",
                f"reproduce: {sys.executable} -m fuzz.parsers --reproduce {outcome.target} {path}",
            ]
        else:
            lines.append(f"the fuzzing process failed: {path.name}")
    return "\n".join(lines)


def reproduce(name: str, paths: list[Path]) -> None:
    """Run saved inputs through a target outside libFuzzer; a broken contract raises."""
    from fuzz.targets import target

    check = target(name).check
    for path in paths:
        check(path.read_bytes())
        print(f"{path}: the contract held")


def main(argv: list[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["--work"]:
        _work(arguments[1], arguments[3:])
        return 0
    parser = argparse.ArgumentParser(prog="python -m fuzz.parsers", description=__doc__)
    parser.add_argument("--target", action="append", help="fuzz only these (repeatable)")
    parser.add_argument("--runs", type=int, help="inputs per target")
    parser.add_argument("--seconds", type=int, help="wall time of the whole run, shared")
    parser.add_argument("--seed", type=int, default=1, help="libFuzzer's random seed")
    parser.add_argument("--corpus", type=Path, help="keep each target's corpus in DIR/NAME")
    parser.add_argument(
        "--artifacts", type=Path, help=f"save crashing inputs here (default {DEFAULT_ARTIFACTS})"
    )
    parser.add_argument("--list", action="store_true", help="list the targets and stop")
    parser.add_argument("--reproduce", nargs="+", metavar=("TARGET", "FILE"))
    options = parser.parse_args(arguments)
    if options.reproduce:
        reproduce(options.reproduce[0], [Path(p) for p in options.reproduce[1:]])
        return 0
    from fuzz.targets import targets

    names = options.target or sorted(targets())
    if options.list:
        print("\n".join(names))
        return 0
    if options.runs is None and options.seconds is None:
        parser.error("give --runs, --seconds or both")
    share = None if options.seconds is None else max(1, options.seconds // len(names))
    with tempfile.TemporaryDirectory(prefix="quietline-fuzz-") as scratch:
        corpora = options.corpus or Path(scratch) / "corpus"
        artifacts = options.artifacts or DEFAULT_ARTIFACTS
        print(f"{'target':<24} {'inputs':>10} {'seconds':>8} {'cov':>6} {'corpus':>7}")
        total_runs, total_seconds = 0, 0.0
        for name in names:
            outcome = fuzz_target(
                name,
                corpora / name,
                artifacts,
                runs=options.runs,
                seconds=share,
                seed=options.seed,
            )
            total_runs += outcome.executions
            total_seconds += outcome.seconds
            print(
                f"{name:<24} {outcome.executions:>10} {outcome.seconds:>8.1f} "
                f"{outcome.coverage:>6} {outcome.corpus:>7}",
                flush=True,
            )
            if not outcome.held:
                print(describe_crash(outcome))
                return 1
        print(f"{'all ' + str(len(names)):<24} {total_runs:>10} {total_seconds:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
