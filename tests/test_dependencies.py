"""The dependency floors that keep known vulnerabilities out."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def _floor(name: str) -> tuple[int, ...]:
    dependencies = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["dependencies"]
    (spec,) = [d for d in dependencies if re.match(rf"{name}\s*[<>=]", d)]
    match = re.search(r">=\s*([0-9.]+)", spec)
    assert match is not None, spec
    return tuple(int(part) for part in match.group(1).split("."))


def test_h11_is_required_from_the_release_that_fixed_request_smuggling() -> None:
    # CVE-2025-43859: h11 before 0.16.0 accepts a malformed chunked-encoding trailer, which
    # lets a request be smuggled past a proxy. uvicorn itself asks only for h11>=0.8.
    assert _floor("h11") >= (0, 16)
    assert _floor("uvicorn") >= (0, 34, 3)
    assert tuple(int(part) for part in version("h11").split(".")[:2]) >= (0, 16)
