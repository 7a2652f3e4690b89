"""The in-memory round trip: a message goes through the whole protocol and a reply comes back."""

from datetime import UTC, datetime

from quietline.protocol.mixing import DEMO_J2U, DEMO_U2J
from quietline.tour import run_tour


def test_round_trip_delivers_and_replies() -> None:
    lines: list[str] = []
    result = run_tour(
        datetime(2026, 1, 1, tzinfo=UTC), 12, "ünïcode message", "réponse", lines.append
    )
    assert result.received_text == "ünïcode message"
    assert result.reply_text == "réponse"
    assert result.u2c_sent == 13
    assert result.journalist_dead_drop_entries == DEMO_U2J.output_size
    assert result.user_dead_drop_entries == DEMO_J2U.output_size
    assert len(lines) == 6
