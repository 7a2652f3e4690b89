"""What every command shares: a service step's status lines, stamped with the step's time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from quietline.cli.files import print_report
from quietline.desk.report import DeskReport, Sent
from quietline.runner import StepReport

AT = datetime(2026, 3, 1, 9, 5, 7, 250_000, tzinfo=UTC)


def test_notes_come_first_then_the_status_line_each_stamped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = DeskReport(
        AT,
        notes=["recipient alice has no messaging key", "a dead drop was skipped"],
        dead_drops_read=2,
        messages_received=1,
        sent=Sent.COVER,
    )
    print_report(report)
    assert capsys.readouterr().out.splitlines() == [
        "[09:05:07] recipient alice has no messaging key",
        "[09:05:07] a dead drop was skipped",
        "[09:05:07] dead drops read 2 · messages received 1 · sent cover",
    ]


def test_a_step_cut_short_ends_its_line_with_the_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_report(StepReport(AT, error="the edge is unreachable; trying again"))
    assert capsys.readouterr().out == "[09:05:07] the edge is unreachable; trying again\n"
