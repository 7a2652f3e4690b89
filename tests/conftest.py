"""Shared set-up: where CoverDrop's published vectors live, and a light Hypothesis profile."""

from pathlib import Path

import pytest
from hypothesis import settings

# `make check` picks this with --hypothesis-profile=check for a fast inner loop; `make test`
# keeps Hypothesis's default strength. No deadline: parallel workers on a busy machine make
# single examples slow without anything being wrong.
settings.register_profile("check", max_examples=10, deadline=None)

VECTORS = Path(__file__).resolve().parents[1].parent / "shared" / "vectors" / "coverdrop"


@pytest.fixture
def coverdrop_vectors() -> Path:
    """The CoverDrop vector folder; skips the test when this checkout has none beside it."""
    if not VECTORS.is_dir():
        pytest.skip(
            f"CoverDrop test vectors not found at {VECTORS} (a clone outside the workplace)"
        )
    return VECTORS
