"""``quietline source ui``: a terminal app in front of the running source client.

The screens, in order: what the channel protects and what it does not (every time: no
file may record that it was read), the organisation's key digest checked against the
published one, unlock or start over, then the conversation (recipients, messages, a
compose box with its space-left meter). Ctrl-L locks (the key is forgotten and every
screen that showed the conversation is closed), Ctrl-Q locks and quits.

The app is another front end to ``quietline source run``, like ``source send`` and
``source inbox``: it reaches the run loop through its socket (:class:`Session`), so
nothing done here changes when or how much the client sends or downloads, nor what it
writes and when. Text from the network or the person (messages, replies, profiles) is
always shown as plain text, never read as markup.
"""

from __future__ import annotations

import gettext
from collections.abc import Callable
from datetime import UTC, datetime
from typing import ClassVar, TypeVar

from rich.text import Text
from textual import constants, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, OptionList, ProgressBar, Static, TextArea
from textual.widgets.option_list import Option

from quietline.client.errors import (
    ClientNotRunning,
    Conflict,
    NoVerifiedKeys,
    QueueFull,
    SourceClientError,
    WrongPassphrase,
)
from quietline.client.handoff import LOST, SENT
from quietline.client.passphrase import NotAPassphrase
from quietline.protocol.errors import QuietlineError, UnknownRecipient
from quietline.protocol.hierarchy import JournalistProfile
from quietline.ui.session import Entry, Session, fill, groups_that_differ, typo_in

# How long a wait for "sent" blocks before it checks whether the session was locked.
WAIT_STEP_S = 1.0
# How often the conversation is read again while unlocked (new replies), and the
# recipients while the client has no keys yet: reads over the socket, never a send.
REFRESH_S = 60.0
WAITING_FOR_KEYS_S = 5.0

T = TypeVar("T")


class _Catalogue:
    """The running app's translations (one app runs in a process)."""

    current: gettext.NullTranslations = gettext.NullTranslations()


def _(message: str) -> str:
    return _Catalogue.current.gettext(message)


def N_(message: str) -> str:
    """Marks a message for the catalogue where it is defined; ``_`` translates it later."""
    return message


# What to tell the person about an error from the client, by the error's kind.
PROBLEMS: tuple[tuple[type[Exception], str], ...] = (
    (WrongPassphrase, N_("The passphrase did not open the vault.")),
    (
        ClientNotRunning,
        N_("The client is not running. Start it again (quietline source run) and keep it running."),
    ),
    (
        NoVerifiedKeys,
        N_(
            "The client has no verified keys from the organisation yet. Keep it running "
            "until it has downloaded them, then try again."
        ),
    ),
    (UnknownRecipient, N_("This recipient cannot be written to now. Choose another one.")),
    (
        QueueFull,
        N_("Several messages are already waiting. Send this one after the next has left."),
    ),
    (Conflict, N_("Something else changed the vault at the same moment. Try again.")),
)


def problem(error: Exception) -> str:
    """What to tell the person about an error from the client, in their language."""
    for kind, message in PROBLEMS:
        if isinstance(error, kind):
            return _(message)
    return _("Something went wrong: {error}").format(error=error)


def _point(line: str) -> ComposeResult:
    """A bullet point with a hanging indent. The bullet is a widget of its own: a line of
    Chinese has no spaces to break at, so after a "• " in the same text it would start
    on the next line, leaving the bullet alone on its own."""
    with Horizontal(classes="point"):
        yield Label("•", classes="bullet")
        yield Static(Text(line))


class SafetyScreen(Screen[None]):
    """What the channel protects and what it does not, before anything else."""

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="page"):
            yield Label(_("Before you start"), classes="title")
            yield Label(_("What this protects"), classes="heading")
            for line in (
                _(
                    "Anyone watching the network (a firewall, your internet provider, the "
                    "organisation's hosting) sees this app talk to the organisation on a fixed "
                    "schedule, the same whether or not you ever write. They cannot tell that "
                    "you wrote, or to whom."
                ),
                _(
                    "Your messages are encrypted for the person you choose. The "
                    "organisation's servers cannot read them."
                ),
                _(
                    "On this device your conversation is kept in a vault that is rewritten on "
                    "the same schedule whether you use it or not. Without your passphrase "
                    "nobody can read it or tell whether you used it."
                ),
            ):
                yield from _point(line)
            yield Label(_("What it does not protect"), classes="heading")
            for line in (
                _(
                    "That this app is installed and running: anyone who examines the device "
                    "or watches its network can see that."
                ),
                _(
                    "Malware on the device, a keylogger, a screen recording, or someone who "
                    "sees your screen."
                ),
                _(
                    "Anyone who gets your passphrase, by force or from where you wrote it "
                    "down, can read the conversation kept here."
                ),
                _(
                    "Backups and snapshots of the device keep old vaults that open with "
                    "your passphrase."
                ),
                _(
                    "What you write can identify you. A message waits in the running client "
                    "until its next regular send: if the client stops first, it is lost."
                ),
            ):
                yield from _point(line)
            yield Button(_("I have read this"), id="read", variant="primary")

    @on(Button.Pressed, "#read")
    def read(self) -> None:
        self.app.switch_screen(DigestScreen())


class DigestScreen(Screen[None]):
    """The organisation's key digest, checked against the one it published."""

    def __init__(self) -> None:
        super().__init__()
        self.digests = self._session.digests()

    @property
    def _session(self) -> Session:
        return source_app(self).session

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="page"):
            yield Label(_("Check the organisation's key"), classes="title")
            yield Static(
                Text(
                    _(
                        "The organisation publishes the digest of its key in its videos and "
                        "posters. This app trusts the key with this digest:"
                    )
                )
            )
            for digest in self.digests:
                groups = "   ".join(f"{n}: {group}" for n, group in enumerate(digest.split(), 1))
                yield Static(Text(groups), classes="digest")
            yield Static(
                Text(
                    _(
                        "Type the digest you saw (spaces do not matter, capital letters do), "
                        "or compare it group by group."
                    )
                )
            )
            yield Input(placeholder=_("The published digest"), id="typed")
            with Horizontal(classes="buttons"):
                yield Button(_("Check"), id="check", variant="primary")
                yield Button(_("Every group matches"), id="matches")
            yield Static("", id="verdict")

    @on(Input.Submitted, "#typed")
    @on(Button.Pressed, "#check")
    def check(self) -> None:
        typed = self.query_one("#typed", Input).value
        verdict = self.query_one("#verdict", Static)
        differs = [groups_that_differ(typed, digest) for digest in self.digests]
        if any(not groups for groups in differs):
            self.app.switch_screen(UnlockScreen())
            return
        # The list's separator is the language's: a space would break a Chinese line.
        wrong = _(", ").join(str(n) for n in min(differs, key=len))
        verdict.update(
            Text(
                _(
                    "It does not match (group {groups}). Do not write with this app: it may "
                    "not be the organisation's. Check that you typed it from the "
                    "organisation's own video or poster."
                ).format(groups=wrong)
            )
        )
        verdict.set_class(True, "error")

    @on(Button.Pressed, "#matches")
    def matches(self) -> None:
        self.app.switch_screen(UnlockScreen())


class UnlockScreen(Screen[None]):
    """The passphrase, or starting over."""

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="page"):
            yield Label(_("Unlock"), classes="title")
            yield Static(
                Text(_("Type the five-word passphrase this app gave you when you first wrote."))
            )
            yield Input(placeholder=_("Passphrase"), password=True, id="passphrase")
            with Horizontal(classes="buttons"):
                yield Button(_("Unlock"), id="unlock", variant="primary")
                yield Button(_("First time: start new"), id="new")
            yield Static("", id="problem")

    def on_mount(self) -> None:
        self.query_one("#passphrase", Input).focus()

    @on(Input.Submitted, "#passphrase")
    @on(Button.Pressed, "#unlock")
    def unlock(self) -> None:
        field = self.query_one("#passphrase", Input)
        typed, field.value = field.value, ""
        typo = typo_in(typed)
        if typo is not None and typo.position == 0:
            self.say(
                _(
                    "A passphrase is five words; this has {count}. Check for a missing or "
                    "extra word."
                ).format(count=typo.words)
            )
            return
        if typo is not None:
            self.say(
                _("Word {position} is not one of the passphrase words: a typo?").format(
                    position=typo.position
                )
            )
            return
        self.say(_("Unlocking…"), error=False)
        self.query_one("#unlock", Button).disabled = True
        self._unlock(typed)

    @work(thread=True, exclusive=True)
    def _unlock(self, typed: str) -> None:
        app = source_app(self)
        try:
            app.session.unlock(typed)
        except (NotAPassphrase, QuietlineError) as error:
            app.call_from_thread(self._failed, error)
            return
        app.call_from_thread(app.switch_screen, ConversationScreen(new=False))

    def _failed(self, error: Exception) -> None:
        self.query_one("#unlock", Button).disabled = False
        self.say(problem(error))

    def say(self, text: str, *, error: bool = True) -> None:
        shown = self.query_one("#problem", Static)
        shown.update(Text(text))
        shown.set_class(error, "error")

    @on(Button.Pressed, "#new")
    def new(self) -> None:
        self.app.push_screen(StartOverScreen())


class StartOverScreen(ModalScreen[None]):
    """Starting over destroys the old vault: the person says so in words."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(
                Text(
                    _(
                        "Starting new makes a new passphrase for you. If you have written from "
                        "this device before, the old conversation and the key its replies "
                        "need are destroyed for good. On a device nobody used, nothing is lost."
                    )
                )
            )
            yield Static(Text(_("Type '{answer}' to go on:").format(answer=self.answer)))
            yield Input(id="answer")
            with Horizontal(classes="buttons"):
                yield Button(_("Start new"), id="start", variant="error")
                yield Button(_("Back"), id="back")
            yield Static("", id="problem")

    @property
    def answer(self) -> str:
        return _("replace the vault")

    @on(Input.Submitted, "#answer")
    @on(Button.Pressed, "#start")
    def start(self) -> None:
        if self.query_one("#answer", Input).value.strip() != self.answer:
            shown = self.query_one("#problem", Static)
            shown.update(Text(_("Nothing was replaced: type the words exactly.")))
            shown.set_class(True, "error")
            return
        self.app.pop_screen()
        self.app.switch_screen(ConversationScreen(new=True))

    @on(Button.Pressed, "#back")
    def back(self) -> None:
        self.app.pop_screen()


class PassphraseScreen(ModalScreen[None]):
    """A new passphrase, shown this once."""

    def __init__(self, words: str) -> None:
        super().__init__()
        self._words = words

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(
                Text(
                    _(
                        "Your passphrase, shown only this once. Write it down and keep it apart "
                        "from this device; without it nobody, you included, can read the replies:"
                    )
                )
            )
            yield Static(Text(self._words), id="words", classes="digest")
            yield Button(_("I have written it down"), id="done", variant="primary")

    @on(Button.Pressed, "#done")
    def done(self) -> None:
        self._words = ""
        self.app.pop_screen()


class ConversationScreen(Screen[None]):
    """Recipients, the conversation and the compose box."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+r", "refresh", show=False)]

    def __init__(self, *, new: bool) -> None:
        super().__init__()
        # A new person has no vault of theirs yet: their first message makes it.
        self.new = new
        self.entries: list[Entry] = []
        self.states: dict[datetime, str] = {}
        self.recipient: str | None = None

    @property
    def session(self) -> Session:
        return source_app(self).session

    def compose(self) -> ComposeResult:
        with Horizontal():
            with Vertical(id="side"):
                yield Label(_("Write to"), classes="heading")
                yield OptionList(id="recipients")
                yield Static("", id="keys")
                yield Button(_("Lock"), id="lock")
            with Vertical(id="main"):
                yield VerticalScroll(id="conversation")
                yield TextArea(id="compose", placeholder=_("Write your message here"))
                with Horizontal(id="meter-row"):
                    yield ProgressBar(total=100, show_eta=False, show_percentage=False, id="meter")
                    yield Label("", id="space")
                    yield Button(_("Send"), id="send", variant="primary", disabled=True)
                yield Static("", id="status")
                yield Static(
                    Text(_("Ctrl-L locks · Ctrl-R reads new replies · Ctrl-Q locks and quits")),
                    classes="help",
                )

    def on_mount(self) -> None:
        self.measure()
        self.load_recipients()
        if not self.new:
            self.load_conversation()
        self.set_interval(REFRESH_S, self.action_refresh)
        self.show_conversation()

    def action_refresh(self) -> None:
        if self.session.unlocked:
            self.load_conversation()

    # --- recipients ------------------------------------------------------------------------

    @work(thread=True, group="recipients")
    def load_recipients(self) -> None:
        known = {entry.who for entry in self.entries}
        self._in_background(lambda: self.session.recipients(known), self._show_recipients)

    def _show_recipients(self, found: tuple[list[JournalistProfile], str | None]) -> None:
        profiles, default = found
        listing = self.query_one("#recipients", OptionList)
        keys = self.query_one("#keys", Static)
        if not profiles:
            keys.update(
                Text(
                    _(
                        "Waiting for the organisation's keys: the client downloads them on "
                        "its schedule."
                    )
                )
            )
            self.set_timer(WAITING_FOR_KEYS_S, self.load_recipients)
            return
        keys.update("")
        listing.clear_options()
        for profile in profiles:
            label = Text(profile.display_name, style="bold")
            label.append("\n" + profile.description, style="dim")
            listing.add_option(Option(label, id=str(profile.id)))
        ids = [str(profile.id) for profile in profiles]
        chosen = default if default in ids else ids[0]
        listing.highlighted = ids.index(chosen)
        self.recipient = chosen
        self.measure()

    @on(OptionList.OptionHighlighted, "#recipients")
    def choose(self, event: OptionList.OptionHighlighted) -> None:
        self.recipient = event.option.id
        self.measure()

    # --- conversation ----------------------------------------------------------------------

    @work(thread=True, group="conversation", exclusive=True)
    def load_conversation(self) -> None:
        self._in_background(self.session.conversation, self._show_entries)

    def _show_entries(self, entries: list[Entry]) -> None:
        newcomers = {entry.who for entry in entries} - {entry.who for entry in self.entries}
        self.entries = entries
        if newcomers:
            self.load_recipients()  # whoever is in the conversation stays choosable
        self.show_conversation()

    def show_conversation(self) -> None:
        view = self.query_one("#conversation", VerticalScroll)
        view.remove_children()
        if not self.entries:
            view.mount(Static(Text(_("No messages yet.")), classes="empty"))
            return
        for entry in self.entries:
            view.mount(Static(self._header(entry), classes="header"))
            body = entry.text
            if entry.handover:
                body = _("{old} handed the conversation over to {new}.").format(
                    old=entry.who, new=entry.text
                )
            view.mount(Static(Text(body), classes="mine" if entry.mine else "reply"))
        view.scroll_end(animate=False)

    def _header(self, entry: Entry) -> Text:
        when = entry.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        if entry.mine:
            header = _("You to {who} · {when}").format(who=entry.who, when=when)
            state = self.states.get(entry.at)
            if state == "queued":
                header += " · " + _("queued")
            elif state == SENT:
                header += " · " + _("sent")
            elif state == LOST:
                header += " · " + _("not sent")
        else:
            header = _("{who} · {when}").format(who=entry.who, when=when)
        return Text(header, style="bold")

    # --- compose ---------------------------------------------------------------------------

    @on(TextArea.Changed, "#compose")
    def measure(self) -> None:
        text = self.query_one("#compose", TextArea).text
        measured = fill(text)
        self.query_one("#meter", ProgressBar).update(progress=min(100.0, measured.used * 100))
        space = self.query_one("#space", Label)
        if not measured.fits and measured.used > 1:
            space.update(
                _("Too long: it needs {share:.0%} of the space").format(share=measured.used)
            )
        elif not measured.fits:
            space.update(_("It repeats itself too much to send"))
        else:
            space.update(_("Space left: {share:.0%}").format(share=measured.left))
        space.set_class(not measured.fits, "error")
        ready = measured.fits and bool(text.strip()) and self.recipient is not None
        self.query_one("#send", Button).disabled = not ready

    @on(Button.Pressed, "#send")
    def send(self) -> None:
        compose = self.query_one("#compose", TextArea)
        text = compose.text.rstrip("\r\n")
        measured = fill(text)
        if not text.strip() or not measured.fits or self.recipient is None:
            return
        self.query_one("#send", Button).disabled = True
        self.query_one("#status", Static).update(Text(_("Queuing…")))
        self._send(self.recipient, text)

    @work(thread=True, group="send")
    def _send(self, recipient: str, text: str) -> None:
        app = source_app(self)
        session = self.session
        generation = session.generation
        words: str | None = None
        try:
            if self.new:
                words, queued = session.begin(recipient, text)
            else:
                queued = session.send(recipient, text)
        except (NotAPassphrase, QuietlineError) as error:
            app.call_from_thread(self._failed_send, problem(error))
            return
        app.call_from_thread(self._queued, words, queued.at)
        self._wait(queued.ticket, generation, queued.at)

    def _failed_send(self, text: str) -> None:
        self._say(text, True)
        self.measure()

    def _queued(self, words: str | None, at: datetime) -> None:
        self.query_one("#compose", TextArea).clear()
        self._say(
            _("Message queued: it leaves with your next regular message, in place of cover."),
            False,
        )
        if words is not None:
            self.new = False
            self.app.push_screen(PassphraseScreen(words))
        self.states[at] = "queued"
        self.load_conversation()

    def _wait(self, ticket: int, generation: int, at: datetime) -> None:
        session = self.session
        app = source_app(self)
        # Until the message left, the session was locked or the app ended.
        while session.generation == generation and app.is_running:
            try:
                state = session.wait_sent(ticket, WAIT_STEP_S)
            except QuietlineError as error:
                app.call_from_thread(self._say, problem(error), True)
                return
            if state in (SENT, LOST) and session.generation == generation:
                app.call_from_thread(self._done, state, at)
                return

    def _done(self, state: str, at: datetime) -> None:
        if state == SENT:
            self._say(_("Sent."), False)
        else:
            self._say(
                _(
                    "The client stopped before your message left: it was not sent. Start it "
                    "again and send the message again."
                ),
                True,
            )
        self.states[at] = state
        self.load_conversation()

    def _say(self, text: str, error: bool) -> None:
        status = self.query_one("#status", Static)
        status.update(Text(text))
        status.set_class(error, "error")

    def _in_background(self, call: Callable[[], T], then: Callable[[T], None]) -> None:
        """Run ``call`` (in a worker thread) and hand its result to ``then`` on the event
        loop, unless the session was locked meanwhile; errors are said on the screen."""
        session = self.session
        generation = session.generation
        app = source_app(self)
        try:
            result = call()
        except (NotAPassphrase, QuietlineError) as error:
            if session.generation == generation:
                app.call_from_thread(self._say, problem(error), True)
            return
        if session.generation == generation:
            app.call_from_thread(then, result)

    @on(Button.Pressed, "#lock")
    def lock_pressed(self) -> None:
        source_app(self).action_lock()


def recording_settings(features: frozenset[str]) -> list[str]:
    """The Textual settings in force that would write what the app shows or what is
    typed to a file or a debugging server, or type for the person."""
    found = [f"TEXTUAL={feature}" for feature in sorted(features & {"devtools", "debug"})]
    if constants.LOG_FILE is not None:
        found.append("TEXTUAL_LOG")
    if constants.SCREENSHOT_DELAY >= 0:
        found.append("TEXTUAL_SCREENSHOT")
    if constants.PRESS:
        found.append("TEXTUAL_PRESS")
    return found


class SourceApp(App[None]):
    """The source UI over one :class:`Session`, in one language."""

    TITLE = "Quietline"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+l", "lock", show=False, priority=True),
        Binding("ctrl+q", "end", show=False, priority=True),
    ]
    CSS = """
    .page { padding: 1 2; }
    .title { text-style: bold; margin-bottom: 1; }
    .heading { text-style: bold; margin-top: 1; }
    .point { margin-left: 1; height: auto; }
    .bullet { width: 2; }
    .digest { text-style: bold; margin: 1 2; }
    .buttons { height: auto; margin-top: 1; }
    .buttons Button { margin-right: 2; }
    .error { color: $error; text-style: bold; }
    .dialog { width: 70; height: auto; padding: 1 2; border: thick $primary; background: $surface; }
    ModalScreen { align: center middle; }
    #side { width: 30; padding: 0 1; }
    #recipients { height: 1fr; }
    #main { padding: 0 1; }
    #conversation { height: 1fr; border: round $primary; }
    #compose { height: 8; }
    #meter-row { height: 3; align-vertical: middle; }
    #meter { width: 24; }
    #space { width: 1fr; padding: 0 1; }
    .header { margin-top: 1; }
    .mine { margin-left: 2; }
    .reply { margin-left: 2; color: $success; }
    .help { color: $text-muted; }
    """

    def __init__(self, session: Session, translations: gettext.NullTranslations) -> None:
        super().__init__()
        recording = recording_settings(self.features)
        if recording:
            raise SourceClientError(
                f"Textual settings would record what the app shows or is typed "
                f"({', '.join(recording)}): unset them (quietline.ui.forget_textual_settings)"
            )
        self.session = session
        _Catalogue.current = translations

    def on_mount(self) -> None:
        self.push_screen(SafetyScreen())

    def action_lock(self) -> None:
        """Forget the key and close every screen that showed the conversation."""
        if not self.session.unlocked and not isinstance(self.screen, ConversationScreen):
            return
        self.session.lock()
        self.workers.cancel_all()
        while len(self.screen_stack) > 2:
            self.pop_screen()
        self.switch_screen(UnlockScreen())
        self.refresh(layout=True)

    def action_end(self) -> None:
        self.session.lock()
        self.exit()


def source_app(node: Widget) -> SourceApp:
    """The app a screen of the UI runs in."""
    app = node.app
    assert isinstance(app, SourceApp)
    return app
