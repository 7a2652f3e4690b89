"""The source UI driven by Textual's pilot, in English and in Simplified Chinese: in
front of a run loop's socket (a LinkServer serving a Handoff, as `source run` does), and
end to end in front of a real `source run` process and a real edge (slow)."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import Button, Input, ProgressBar, Static, TextArea

from quietline.client import SourceStorage, vault
from quietline.client.errors import ClientNotRunning, SourceClientError
from quietline.client.handoff import Handoff
from quietline.client.ipc import LinkServer, SocketLink
from quietline.client.storage import Cache
from quietline.clock import SystemClock
from quietline.protocol.hierarchy import JournalistStatus
from quietline.ui import forget_textual_settings, i18n
from quietline.ui.app import (
    ConversationScreen,
    DigestScreen,
    PassphraseScreen,
    SourceApp,
    UnlockScreen,
)
from quietline.ui.session import Session, digest_of, fill
from quietline.vault import INTERACTIVE
from tests.client.edge_server import published_edge
from tests.client.replies import reply_to_the_message
from tests.client.source_process import source_run, wait_for
from tests.support.organisation import Organisation

BLOCKS = 48
LANGUAGES = [i18n.Language.english, i18n.Language.chinese]
SIZE = (100, 32)


@pytest.fixture(scope="module")
def org() -> Organisation:
    return Organisation.create(
        datetime.now(UTC) - timedelta(hours=1), ("news_desk", "investigations")
    )


@pytest.fixture
def session(tmp_path: Path, org: Organisation) -> Iterator[Session]:
    cache = Cache(anchors=[org.anchor], published=org.published_keys())
    handoff = Handoff(vault.install(BLOCKS, INTERACTIVE), cache.to_json())
    with LinkServer(handoff, tmp_path / "socket"):
        yield Session(SocketLink(tmp_path / "socket"), [org.anchor], SystemClock())


def run(app: SourceApp, steps: Callable[[Pilot[None]], Awaitable[None]]) -> None:
    async def drive() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await steps(pilot)

    asyncio.run(drive())


async def until(pilot: Pilot[None], what: str, condition: Callable[[], bool]) -> None:
    for _ in range(400):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def click(pilot: Pilot[None], selector: str) -> None:
    """Click a button once the screen it is on has settled (laid out where it shows)."""
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    assert await pilot.click(selector), selector


async def submit(pilot: Pilot[None], selector: str, text: str) -> None:
    """Type ``text`` into the field and press Enter, as a person would."""
    field = pilot.app.screen.query_one(selector, Input)
    field.focus()
    field.value = text
    await pilot.press("enter")


def shown(app: SourceApp, selector: str) -> str:
    widget = app.screen.query_one(selector, Static)
    content = widget.render()
    return str(content.plain if isinstance(content, Text) else content)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_wrong_digest_is_refused_and_the_right_one_unlocks_nothing_but_the_next_screen(
    session: Session, org: Organisation, language: i18n.Language
) -> None:
    app = SourceApp(session, i18n.translations(language))
    digest = digest_of(org.anchor)

    async def steps(pilot: Pilot[None]) -> None:
        await click(pilot, "#read")
        assert isinstance(app.screen, DigestScreen)
        groups = digest.split()
        groups[1] = groups[1][::-1]
        app.screen.query_one("#typed", Input).value = " ".join(groups)
        await click(pilot, "#check")
        assert isinstance(app.screen, DigestScreen)
        assert "2" in shown(app, "#verdict")
        await submit(pilot, "#typed", digest.replace(" ", ""))
        await until(pilot, "the unlock screen", lambda: isinstance(app.screen, UnlockScreen))

    run(app, steps)


async def to_unlock(pilot: Pilot[None], digest: str) -> None:
    await click(pilot, "#read")
    await submit(pilot, "#typed", digest)
    await until(pilot, "the unlock screen", lambda: isinstance(pilot.app.screen, UnlockScreen))


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_typo_and_a_wrong_passphrase_are_told_apart_and_neither_unlocks(
    session: Session, org: Organisation, language: i18n.Language
) -> None:
    app = SourceApp(session, i18n.translations(language))
    translate = i18n.translations(language).gettext

    async def steps(pilot: Pilot[None]) -> None:
        await to_unlock(pilot, digest_of(org.anchor))
        await submit(pilot, "#passphrase", "abacus abdomenn abdominal abide abiding")
        assert shown(app, "#problem") == translate(
            "Word {position} is not one of the passphrase words: a typo?"
        ).format(position=2)
        assert app.screen.query_one("#passphrase", Input).value == ""
        await submit(pilot, "#passphrase", "abacus abdomen abdominal abide abiding")
        wrong = translate("The passphrase did not open the vault.")
        await until(pilot, "the refusal", lambda: shown(app, "#problem") == wrong)
        assert isinstance(app.screen, UnlockScreen)
        assert not session.unlocked

    run(app, steps)


CHINESE = (
    "我在市水务公司的财务部门工作，看到了港口管道工程的发票。去年春天，有三家承包商"  # noqa: RUF001
    "为同一项工程被付了两次钱，第二笔款项都转到了国外的一个账户。"  # noqa: RUF001
)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_first_message_shows_the_passphrase_once_is_queued_and_lock_forgets_it(
    session: Session, org: Organisation, language: i18n.Language
) -> None:
    app = SourceApp(session, i18n.translations(language))
    translate = i18n.translations(language).gettext

    async def steps(pilot: Pilot[None]) -> None:
        await to_unlock(pilot, digest_of(org.anchor))
        await click(pilot, "#new")
        await submit(pilot, "#answer", translate("replace the vault"))
        await until(pilot, "the conversation", lambda: isinstance(app.screen, ConversationScreen))
        compose = app.screen.query_one("#compose", TextArea)
        meter = app.screen.query_one("#meter", ProgressBar)
        # The meter moves as the text grows, and the figure is the exact fill.
        compose.text = CHINESE
        await pilot.pause()
        first = meter.progress
        assert 0 < first < 100
        compose.text = CHINESE * 2
        await pilot.pause()
        assert meter.progress > first
        left = shown(app, "#space")
        assert left == translate("Space left: {share:.0%}").format(share=fill(CHINESE * 2).left)
        # Text that does not fit cannot be sent.
        compose.text = CHINESE * 6 + "".join(chr(0x4E00 + i * 37 % 20000) for i in range(400))
        await pilot.pause()
        assert app.screen.query_one("#send", Button).disabled
        assert shown(app, "#space").startswith(
            translate("Too long: it needs {share:.0%} of the space")[:3]
        )
        compose.text = "meet me at the usual place"
        await until(
            pilot, "a recipient", lambda: not app.screen.query_one("#send", Button).disabled
        )
        await click(pilot, "#send")
        await until(pilot, "the passphrase", lambda: isinstance(app.screen, PassphraseScreen))
        words = shown(app, "#words")
        assert len(words.split()) == 5
        await click(pilot, "#done")
        await until(
            pilot, "the passphrase gone", lambda: isinstance(app.screen, ConversationScreen)
        )
        queued = translate(
            "Message queued: it leaves with your next regular message, in place of cover."
        )
        await until(pilot, "queued", lambda: shown(app, "#status") == queued)
        await until(
            pilot,
            "the message in the conversation",
            lambda: "meet me at the usual place" in text_on_screen(app),
        )
        assert session.unlocked
        await pilot.press("ctrl+l")
        await until(pilot, "the lock", lambda: isinstance(app.screen, UnlockScreen))
        assert not session.unlocked
        assert "meet me at the usual place" not in text_on_screen(app)
        assert words not in text_on_screen(app)
        # The passphrase shown once unlocks again.
        await submit(pilot, "#passphrase", words.upper())
        await until(pilot, "the conversation", lambda: isinstance(app.screen, ConversationScreen))
        await until(
            pilot, "the message", lambda: "meet me at the usual place" in text_on_screen(app)
        )

    run(app, steps)


def text_on_screen(app: SourceApp) -> str:
    """Everything the terminal shows now, as text (from the SVG screenshot's text)."""
    svg = app.export_screenshot()
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")


@pytest.mark.slow
@pytest.mark.parametrize("language", LANGUAGES)
def test_a_message_written_in_the_ui_leaves_with_a_regular_send_and_its_reply_shows(
    tmp_path: Path, org: Organisation, language: i18n.Language
) -> None:
    # A real `source run` process against a real edge: the UI only talks to its socket.
    translate = i18n.translations(language).gettext
    folder = tmp_path / "client"
    with published_edge(tmp_path / "edge", org) as edge, source_run(edge.url, folder, org):
        link = SocketLink(SourceStorage(folder).socket_path)
        session = Session(link, [org.anchor], SystemClock())
        wait_for("the client's keys", lambda: _has_recipients(session))
        app = SourceApp(session, i18n.translations(language))

        async def steps(pilot: Pilot[None]) -> None:
            await to_unlock(pilot, digest_of(org.anchor))
            await click(pilot, "#new")
            await submit(pilot, "#answer", translate("replace the vault"))
            await until(
                pilot, "the conversation", lambda: isinstance(app.screen, ConversationScreen)
            )
            app.screen.query_one("#compose", TextArea).text = CHINESE
            await until(
                pilot, "a recipient", lambda: not app.screen.query_one("#send", Button).disabled
            )
            await click(pilot, "#send")
            await until(pilot, "the passphrase", lambda: isinstance(app.screen, PassphraseScreen))
            await click(pilot, "#done")
            await until(
                pilot, "the conversation", lambda: isinstance(app.screen, ConversationScreen)
            )
            await until(pilot, "sent", lambda: shown(app, "#status") == translate("Sent."))
            assert translate("sent") in text_on_screen(app)
            reply_to_the_message(edge, org, CHINESE, "收到，谢谢", "news_desk")  # noqa: RUF001

            async def reply_shown() -> bool:
                await pilot.press("ctrl+r")
                await pilot.pause(0.3)
                return "收到，谢谢" in text_on_screen(app)  # noqa: RUF001

            # Every other download asks for the newest window (window_back), and a loaded
            # machine skips some: allow for many.
            for _ in range(300):
                if await reply_shown():
                    break
            else:
                raise AssertionError("the reply never showed")

        run(app, steps)


def _has_recipients(session: Session) -> bool:
    try:
        return bool(session.recipients()[0])
    except ClientNotRunning:
        return False


def test_the_app_refuses_textual_settings_that_would_record_it(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEXTUAL", "debug")
    with pytest.raises(SourceClientError, match="TEXTUAL=debug"):
        SourceApp(session, i18n.translations(i18n.Language.english))


def test_forgetting_textual_settings_leaves_every_other_variable() -> None:
    environment = {"TEXTUAL": "devtools", "TEXTUAL_LOG": "x", "LANG": "zh_CN", "TERM": "xterm"}
    forget_textual_settings(environment)
    assert environment == {"LANG": "zh_CN", "TERM": "xterm"}


def test_a_recipient_hidden_from_the_list_is_offered_only_to_who_already_writes_to_them(
    tmp_path: Path, org: Organisation
) -> None:
    published = org.published_keys()
    profiles = tuple(
        replace(profile, status=JournalistStatus.HIDDEN_FROM_UI)
        if profile.id == "investigations"
        else profile
        for profile in published.profiles
    )
    cache = Cache(anchors=[org.anchor], published=replace(published, profiles=profiles))
    handoff = Handoff(vault.install(BLOCKS, INTERACTIVE), cache.to_json())
    with LinkServer(handoff, tmp_path / "socket"):
        session = Session(SocketLink(tmp_path / "socket"), [org.anchor], SystemClock())

        listed, _ = session.recipients()
        assert [profile.id for profile in listed] == ["news_desk"]
        listed, _ = session.recipients(known={"investigations"})
        assert sorted(profile.id for profile in listed) == ["investigations", "news_desk"]
