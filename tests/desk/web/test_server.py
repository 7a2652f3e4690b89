"""``desk serve``: loopback only, and the desk's loop keeping its schedule while no page
is unlocked."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from quietline.cli import app
from quietline.desk.report import DeskReport, Sent
from quietline.desk.web.app import DeskWeb
from quietline.desk.web.server import DeskLoop, NotLoopback, require_loopback
from tests.desk.world import PERIOD, World, sent_j2c


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "localhost"])
def test_loopback_addresses_are_served(host: str) -> None:
    assert require_loopback(host) == host


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "desk.example", ""])
def test_any_other_address_is_refused_with_the_way_to_reach_a_desk(host: str) -> None:
    with pytest.raises(NotLoopback, match="SSH tunnel"):
        require_loopback(host)


def test_desk_serve_refuses_a_public_address_before_anything_starts(tmp_path: object) -> None:
    result = CliRunner().invoke(
        app, ["desk", "serve", "--config", "/nonexistent", "--host", "0.0.0.0"]
    )
    assert result.exit_code != 0
    assert "loopback address only" in result.output
    assert "Traceback" not in result.output


def test_the_loop_sends_one_j2c_per_period_while_no_page_is_unlocked(world: World) -> None:
    world.add("alice")
    web = DeskWeb(world.desk, world.clock, timedelta(minutes=10))
    reports: list[DeskReport] = []
    enough = threading.Event()

    def next_period(report: DeskReport) -> None:
        reports.append(report)
        world.clock.advance(PERIOD)  # time moves by hand: the next step is due at once
        if len(reports) >= 3:
            enough.set()

    loop = DeskLoop(web, next_period)
    loop.start()
    loop.start()  # a second unlock starts nothing more
    assert enough.wait(timeout=60)
    loop.stop()
    assert web.report is reports[-1]
    assert all(report.sent is Sent.COVER for report in reports)
    assert len(sent_j2c(world.store)) == len(reports)


# The loop's thread ends with the error, as it should (its traceback goes to the terminal).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_loop_that_fails_says_so_so_the_server_can_stop(world: World) -> None:
    world.add("alice")
    web = DeskWeb(world.desk, world.clock, timedelta(minutes=10))
    world.desk.store.path.unlink()  # the vault is gone: no step can run
    ended = threading.Event()
    loop = DeskLoop(web, lambda _report: None, on_exit=ended.set)
    loop.start()
    assert ended.wait(timeout=60)
    loop.stop()
