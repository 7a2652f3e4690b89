"""What a test needs from the machine (a server, a program, a package): the test is
skipped where it is missing, except under CI=true, where every test must run and a
missing one fails it."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing(reason: str, in_ci: str) -> NoReturn:
    """Skip the test for ``reason``; under CI=true fail it with ``in_ci`` instead."""
    if os.environ.get("CI") == "true":
        pytest.fail(in_ci)
    pytest.skip(reason)
