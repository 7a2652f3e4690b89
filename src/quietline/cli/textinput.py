"""Message text from a person: read from standard input or a file, never from an option
(options show in the process list and in shell history).

Every message is one padded compressed string (see :mod:`quietline.protocol.pcs`), so
how much fits depends on how well the text compresses. The limit a person is told is
measured, not guessed: the longest stretch of ordinary English and Chinese prose that
fits, found by compressing it.
"""

# Chinese prose punctuates with full-width commas; they are meant.
# ruff: noqa: RUF001

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, BinaryIO

import typer

from quietline.cli.files import fail
from quietline.protocol.constants import PCS_MAX_DECOMPRESSION_RATIO
from quietline.protocol.errors import QuietlineError
from quietline.protocol.pcs import MAX_STREAM_LEN, PaddedCompressedString

# Nothing longer can fit: MAX_STREAM_LEN bytes never inflate to more than this.
MAX_INPUT_BYTES = MAX_STREAM_LEN * PCS_MAX_DECOMPRESSION_RATIO
STDIN = "-"
MessageFile = Annotated[
    str | None,
    typer.Option(
        "--message-file",
        metavar="PATH",
        help="Read the message from this file (UTF-8); - or leaving it out reads standard "
        "input, typed or piped.",
    ),
]

# Ordinary prose, written for this purpose, to measure how much of each language fits.
ENGLISH_SAMPLE = (
    "I work in the finance office of the regional water company and I have seen the "
    "invoices for the harbour pipeline. Three contractors were paid twice for the same "
    "work last spring, and the second payments went to an account in another country. "
    "When I asked my manager about it she told me it was an accounting error that had "
    "already been fixed, but the money never came back and the audit report leaves the "
    "payments out entirely. I kept copies of the invoices, the bank statements and two "
    "emails in which the director asks for the payments to be approved quickly and "
    "without the usual signatures. I am worried about my job and about my family, so I "
    "cannot meet anyone near the office or call from my own phone. I can read messages "
    "here in the evening, usually after nine. Please tell me what you need from me and "
    "how I can send you the documents without anyone at work finding out that they came "
    "from me. Some of the files are scanned paper, some are spreadsheets, and one is a "
    "recording of a meeting in which the payments were discussed. I do not know whether "
    "the recording is legal to share, and I would like to understand what would happen "
    "to me if it became known that I made it. I have not spoken to any other journalist "
    "and I have not told anyone else what I found. If it helps, I can explain how the "
    "payment system works and who has to approve each step, because the way these "
    "payments went through should not have been possible without help from someone "
    "senior. I will check this app again tomorrow evening and every evening after that "
    "until I hear from you. Thank you for reading this far; it took me a long time to "
    "decide to write at all, and I still am not sure that I am doing the right thing."
)
CHINESE_SAMPLE = (
    "我在市水务公司的财务部门工作，看到了港口管道工程的发票。去年春天，有三家承包商"
    "为同一项工程被付了两次钱，第二笔款项都转到了国外的一个账户。我问过我的经理，她说"
    "那是会计上的错误，已经改正了，可是钱一直没有退回来，审计报告里也完全没有提到这些"
    "付款。我保留了发票、银行对账单，还有两封邮件的副本，邮件里主任要求尽快批准这些"
    "付款，而且不需要通常的签字。我担心自己的工作，也担心家人的安全，所以不能在单位"
    "附近见任何人，也不能用自己的手机打电话。我一般晚上九点以后可以在这里看消息。请"
    "告诉我你们需要什么，以及我怎样才能把文件发给你们，而不让单位里的人发现是我提供的。"
    "有些文件是扫描的纸质材料，有些是电子表格，还有一段会议录音，会上讨论过这些付款。"
    "我不知道分享这段录音是否合法，也想了解如果别人知道是我录的，我会面临什么后果。我"
    "没有跟其他记者联系过，也没有告诉任何人我发现了什么。如果有帮助，我可以解释付款"
    "系统是怎样运作的，每一步需要谁来批准，因为如果没有高层的人帮忙，这些付款根本不"
    "可能通过。我明天晚上会再打开这个应用，之后每天晚上都会看，直到收到你们的回复。谢谢"
    "你们读到这里，我考虑了很久才决定写信，现在也还不确定这样做是不是对的。"
)


class BadMessage(QuietlineError):
    """The text cannot be sent as one message; the message says why and what fits."""


@dataclass(frozen=True, slots=True)
class Capacity:
    """How much ordinary prose fits in one message, in characters."""

    english: int
    chinese: int

    def describe(self) -> str:
        return (
            f"one message holds about {self.english} characters of English text "
            f"or {self.chinese} of Chinese"
        )


def _longest_prefix_that_fits(sample: str) -> int:
    low, high = 0, len(sample)  # sample[:low] fits; the answer is at most high
    while low < high:
        middle = (low + high + 1) // 2
        if PaddedCompressedString.fits(sample[:middle]):
            low = middle
        else:
            high = middle - 1
    if low == len(sample):
        raise ValueError("the sample fits whole: it measures nothing")
    return low


@cache
def capacity() -> Capacity:
    """How much English and Chinese prose fits in one message (measured once)."""
    english = _longest_prefix_that_fits(ENGLISH_SAMPLE)
    chinese = _longest_prefix_that_fits(CHINESE_SAMPLE)
    # Round down to a tidy number: "about" a limit a person can remember.
    return Capacity(english // 50 * 50, chinese // 10 * 10)


def decode_message(raw: bytes) -> str:
    """The message in ``raw`` (UTF-8, trailing line ends dropped), checked to fit in one
    message. Raises BadMessage, saying why, for anything else."""
    if len(raw) > MAX_INPUT_BYTES:
        raise BadMessage(
            f"the message is too long: more than {MAX_INPUT_BYTES:,} bytes, and "
            f"{capacity().describe()}; split it into several messages"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadMessage(
            f"the message is not UTF-8 text (byte {error.start + 1} of {len(raw)} is not "
            "valid): save it as UTF-8 and try again"
        ) from None
    text = text.rstrip("\r\n")
    if not text.strip():
        raise BadMessage("the message is empty: write something to send")
    if not PaddedCompressedString.fits(text):
        needed = PaddedCompressedString.space_needed(text)
        if needed <= 1.0:
            raise BadMessage(
                "the message repeats itself so much that no recipient's app would unpack "
                f"it (more than {PCS_MAX_DECOMPRESSION_RATIO}:1 compression); shorten the "
                "repetition"
            )
        raise BadMessage(
            f"the message is too long: {capacity().describe()}, and this one needs "
            f"{needed:.0%} of the space; shorten it or split it into several messages"
        )
    return text


def read_limited(stream: BinaryIO) -> bytes:
    """Up to one byte more than any message can need: enough to tell it is too long.

    One buffered read, which returns short only at the end of the input: reading again
    after a terminal's Ctrl-D would wait for more typing instead of ending."""
    return stream.read(MAX_INPUT_BYTES + 1)


def read_message(source: str | None) -> str:
    """The message from the file ``source`` or, for ``-`` or None, from standard input
    (with a hint when that is a terminal); exits with a clear error when it cannot be
    read or sent."""
    if source is None or source == STDIN:
        if sys.stdin.isatty():
            typer.echo("Type the message, then Ctrl-D on a line of its own:", err=True)
        raw = read_limited(sys.stdin.buffer)
    else:
        try:
            with Path(source).open("rb") as file:
                raw = read_limited(file)
        except OSError as error:
            raise fail(f"cannot read the message from {source}: {error.strerror}") from None
    try:
        return decode_message(raw)
    except BadMessage as error:
        raise fail(str(error)) from None
