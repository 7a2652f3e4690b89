"""``quietline edge`` with ``[edge] store``: a store it cannot open stops it at once with
the reason, the URL shown without its password."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from quietline.cli import app
from quietline.processes import free_port


def test_an_unreachable_store_stops_the_edge_without_showing_its_password(
    tmp_path: Path,
) -> None:
    runner = CliRunner()
    folder = tmp_path / "org"
    assert runner.invoke(app, ["admin", "init", str(folder), "--mixing", "demo"]).exit_code == 0
    config = folder / "quietline.toml"
    port = free_port()  # nothing listens there
    url = f"postgresql://edge:s3cret-word@127.0.0.1:{port}/quietline"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("retention_days = 14", f'retention_days = 14\nstore = "{url}"'))

    result = runner.invoke(app, ["edge", "--config", str(folder)])

    assert result.exit_code != 0
    assert "cannot open or migrate the edge's store" in result.output
    assert f"postgresql://edge:***@127.0.0.1:{port}/quietline" in result.output
    assert "s3cret-word" not in result.output
