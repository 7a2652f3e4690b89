"""A deployment folder as ``quietline admin init`` makes it, at a fixed moment."""

from pathlib import Path

import pytest

from quietline.admin.ceremony import init
from quietline.admin.layout import Layout
from tests.admin.ceremonies import INIT_AT


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return init(tmp_path / "org", INIT_AT, mixing="demo")
