"""What one step of the desk did, as data and as the status line ``desk run`` prints."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from quietline.runner import StepReport


class Sent(enum.Enum):
    NOTHING = "nothing"  # the period was not due
    REPLY = "reply"
    COVER = "cover"
    FAILED = "failed"


@dataclass
class DeskReport(StepReport):
    """What one step did; for the desk's own screen (it is trusted), never for a log.
    Its notes are the problems the recipients should know about."""

    dead_drops_read: int = 0
    messages_received: int = 0
    sent: Sent = Sent.NOTHING
    reply_to: str | None = None
    keys_rotated: int = 0
    keys_published: int = 0
    waiting_for_epoch: int | None = None
    next_send_at: datetime | None = None
    messages_forgotten: int = 0  # deleted for being older than the desk keeps them
    edge_reached: bool = True  # False when the published keys could not be fetched

    def summary(self) -> list[str]:
        """Dead drops read, messages received, what was sent, then keys and waiting."""
        sent = {
            Sent.NOTHING: "nothing due",
            Sent.REPLY: f"sent reply to {self.reply_to}",
            Sent.COVER: "sent cover",
            Sent.FAILED: "send failed (reply kept in outbox)",
        }[self.sent]
        parts = [
            f"dead drops read {self.dead_drops_read}",
            f"messages received {self.messages_received}",
            sent,
        ]
        if self.keys_rotated or self.keys_published:
            parts.append(f"keys rotated {self.keys_rotated}, published {self.keys_published}")
        if self.messages_forgotten:
            parts.append(f"old messages deleted {self.messages_forgotten}")
        if self.waiting_for_epoch is not None:
            parts.append(f"waiting for keys of epoch {self.waiting_for_epoch}")
        return parts
