"""Screenshots of the source UI's main screens in both languages, for docs/images:

    .venv/bin/python -m tests.ui.screenshots docs/images

Each language's app runs under Textual's pilot in front of a real socket (a LinkServer
serving a Handoff, as ``quietline source run`` does), with a test organisation; this
script plays the run loop's part (it takes the queued message as a send would) and puts
a reply in the cached dead drops, so the conversation screen shows both. The clock is
fixed, so the times shown are the same at every run; the passphrase is new every time.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from quietline.client import vault
from quietline.client.handoff import Handoff
from quietline.client.ipc import LinkServer, SocketLink
from quietline.client.records import SourceRecords
from quietline.client.storage import Cache
from quietline.clock import FixedClock
from quietline.protocol.keys import ReplyKey
from quietline.protocol.messages import text_reply
from quietline.ui import i18n
from quietline.ui.app import ConversationScreen, PassphraseScreen, SourceApp, UnlockScreen
from quietline.ui.session import Session, digest_of
from quietline.vault import INTERACTIVE
from tests.client.replies import reply_entry, user_dead_drop
from tests.support.organisation import Organisation

NOW = datetime(2026, 12, 2, 21, 40, tzinfo=UTC)
SIZE = (100, 30)
FIRST = {
    i18n.Language.english: (
        "I work in the finance office of the regional water company. Three contractors "
        "were paid twice for the same work last spring."
    ),
    i18n.Language.chinese: (
        "我在市水务公司的财务部门工作。去年春天，有三家承包商为同一项工程被付了两次钱。"  # noqa: RUF001
    ),
}
REPLY = {
    i18n.Language.english: "Thank you. Can you tell us which year the audit report covers?",
    i18n.Language.chinese: "谢谢你。能告诉我们审计报告是哪一年的吗？",  # noqa: RUF001
}
DRAFT = {
    i18n.Language.english: "The audit report covers last year; I have the scanned copies",
    i18n.Language.chinese: "审计报告是去年的，我有扫描件",  # noqa: RUF001
}


async def _settle(pilot: Pilot[None], condition: object = None) -> None:
    for _ in range(200):
        await pilot.pause(0.05)
        if condition is None or (callable(condition) and condition()):
            break
    await pilot.wait_for_scheduled_animations()
    await pilot.pause(0.2)


async def _shoot(
    language: i18n.Language, org: Organisation, handoff: Handoff, link: SocketLink, out: Path
) -> None:
    clock = FixedClock(NOW)
    app = SourceApp(Session(link, [org.anchor], clock), i18n.translations(language))
    name = language.value

    def save(screen: str) -> None:
        app.save_screenshot(f"source-ui-{screen}-{name}.svg", str(out))

    async with app.run_test(size=SIZE) as pilot:
        await _settle(pilot)
        save("safety")
        await pilot.click("#read")
        await _settle(pilot)
        typed = digest_of(org.anchor).split()
        typed[2] = typed[2].swapcase()
        app.screen.query_one("#typed", Input).value = " ".join(typed)
        await pilot.click("#check")
        await _settle(pilot)
        save("digest")
        await pilot.click("#matches")
        await _settle(pilot, lambda: isinstance(app.screen, UnlockScreen))
        save("unlock")
        await pilot.click("#new")
        await _settle(pilot)
        app.screen.query_one("#answer", Input).value = app.screen.answer  # type: ignore[attr-defined]
        await pilot.click("#start")
        await _settle(pilot, lambda: isinstance(app.screen, ConversationScreen))
        app.screen.query_one("#compose", TextArea).text = FIRST[language]
        await _settle(pilot)
        await pilot.click("#send")
        await _settle(pilot, lambda: isinstance(app.screen, PassphraseScreen))
        save("passphrase")
        words = str(app.screen.query_one("#words").render())
        await pilot.click("#done")
        await _settle(pilot, lambda: isinstance(app.screen, ConversationScreen))
        _send(handoff)
        _reply(org, handoff, words, REPLY[language])
        clock.advance(timedelta(minutes=3))
        await pilot.press("ctrl+r")
        app.screen.query_one("#compose", TextArea).text = DRAFT[language]
        await _settle(pilot)
        save("conversation")


def _send(handoff: Handoff) -> None:
    """What the run loop does at its next send: write the vault, send the message."""
    _, version = handoff.vault_to_write(vault.rerandomise(handoff.snapshot().vault))
    handoff.wrote(version)
    taken = handoff.next_message()
    if taken is not None:
        handoff.sent(taken[0])


def _reply(org: Organisation, handoff: Handoff, words: str, text: str) -> None:
    """A reply from news_desk in the client's cached dead drops."""
    raw = handoff.snapshot().vault
    records = SourceRecords.parse(vault.open_vault(vault.VaultKey.derive(words, raw), raw))
    entry = reply_entry(org, "news_desk", ReplyKey.of(records.user_key), text_reply(text))
    cache = Cache.from_json(handoff.snapshot().cache)
    drop = user_dead_drop(org, [entry], NOW + timedelta(minutes=2)).published(1)
    cache.dead_drops = [drop]
    handoff.publish_cache(cache.to_json())


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    org = Organisation.create(NOW - timedelta(hours=1), ("news_desk", "investigations"))
    for language in i18n.Language:
        with tempfile.TemporaryDirectory() as folder:
            cache = Cache(anchors=[org.anchor], published=org.published_keys())
            handoff = Handoff(vault.install(48, INTERACTIVE), cache.to_json())
            socket = Path(folder) / "socket"
            with LinkServer(handoff, socket):
                asyncio.run(_shoot(language, org, handoff, SocketLink(socket), out))
        print(f"{language.value}: screenshots in {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/images"))
