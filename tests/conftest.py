"""Shared fixtures: where CoverDrop's published vectors live, and a fixed clock."""

from pathlib import Path

import pytest

VECTORS = Path(__file__).resolve().parents[1].parent / "shared" / "vectors" / "coverdrop"


@pytest.fixture
def coverdrop_vectors() -> Path:
    """The CoverDrop vector folder; skips the test when this checkout has none beside it."""
    if not VECTORS.is_dir():
        pytest.skip(
            f"CoverDrop test vectors not found at {VECTORS} (a clone outside the workplace)"
        )
    return VECTORS
