"""The desk's pages in a real Chromium, over a real desk reading a real edge (both served
by uvicorn on loopback), with the desk's clock moved by hand."""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Iterator

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from playwright.sync_api import Page, expect

from quietline.desk.state import DeskState
from quietline.desk.web.pseudonyms import pseudonym
from quietline.protocol.keys import EncryptionKeyPair, ReplyKey
from quietline.protocol.messages import J2UType
from tests.desk.web.conftest import IDLE, Served
from tests.desk.world import PASSPHRASE, PERIOD, open_j2c, sent_j2c


def unlock(page: Page, served: Served, passphrase: str = PASSPHRASE) -> None:
    page.goto(served.url + "/")
    expect(page).to_have_url(re.compile(r"/unlock$"))
    page.get_by_label("Desk vault passphrase").fill(passphrase)
    page.get_by_role("button", name="Unlock").click()


def a_source_wrote(served: Served, text: str) -> tuple[EncryptionKeyPair, str]:
    """A source writes to alice; the desk reads it. Returns the source and its name."""
    world = served.world
    source = EncryptionKeyPair.generate()
    world.write("alice", source, text)
    world.desk.step(world.now)
    world.tick()
    state = world.desk.store.read()
    return source, pseudonym(state.pseudonym_key, ReplyKey.of(source)).name


def test_a_recipients_day_unlock_read_reply_hand_over_lock(served: Served, page: Page) -> None:
    world = served.world
    sender = world.add("alice")
    source, name = a_source_wrote(served, "the files are in locker 12")

    unlock(page, served)
    expect(page).to_have_url(re.compile(r"/inbox$"))
    row = page.get_by_role("row").filter(has_text=name)
    expect(row).to_contain_text("1 new")
    expect(row).to_contain_text("alice")
    row.get_by_role("link", name=name).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(page.get_by_text("the files are in locker 12")).to_be_visible()

    reply = page.get_by_label("Your reply")
    reply.fill("thank you: we will look")
    expect(page.locator("#space-text")).to_contain_text("% of the space left")
    reply.fill("".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(400)))
    expect(page.locator("#space-text")).to_have_text("Too long: it does not fit in one message")
    page.get_by_role("button", name="Queue the reply").click()
    expect(page.get_by_role("alert")).to_contain_text("too long")
    reply.fill("thank you: we will look")
    page.get_by_role("button", name="Queue the reply").click()
    expect(page.locator(".thread li.out")).to_contain_text("queued")

    assert world.desk.step(world.now).reply_to is not None
    real, j2u = open_j2c(world.org, sent_j2c(world.store)[-1], source, sender)
    assert real
    assert j2u is not None
    assert j2u.body.text() == "thank you: we will look"
    page.reload()
    expect(page.locator(".thread li.out")).to_contain_text("sent")

    # Handing over lists only recipients the organisation publishes: bob, not carol.
    options = page.get_by_label("Recipient who takes this source over").locator("option")
    expect(options).to_have_text(["Desk bob (bob)"])
    page.get_by_role("button", name="Hand over").click()
    expect(page.locator(".thread li.out").last).to_contain_text("bob")
    world.tick()
    world.desk.step(world.now)
    _, handover = open_j2c(world.org, sent_j2c(world.store)[-1], source, sender)
    assert handover is not None
    assert (handover.type, handover.body.text()) == (J2UType.HANDOVER, "bob")

    page.get_by_role("button", name="Lock the desk").click()
    expect(page).to_have_url(re.compile(r"/unlock$"))
    page.goto(served.url + "/inbox")
    expect(page).to_have_url(re.compile(r"/unlock$"))
    expect(page.get_by_text(name)).to_have_count(0)


def test_a_wrong_passphrase_opens_nothing_and_the_right_one_starts_the_loop(
    served: Served, page: Page
) -> None:
    served.world.add("alice")
    loop_started = threading.Event()
    served.web.on_unlock = loop_started.set  # what desk serve hands its loop's start
    unlock(page, served, "not the passphrase")
    expect(page.get_by_role("alert")).to_have_text("That passphrase does not open this desk.")
    page.goto(served.url + "/status")
    expect(page).to_have_url(re.compile(r"/unlock$"))
    assert not loop_started.is_set()
    unlock(page, served)
    expect(page).to_have_url(re.compile(r"/inbox$"))
    assert loop_started.is_set()


def test_pages_lock_after_sitting_idle(served: Served, page: Page) -> None:
    served.world.add("alice")
    unlock(page, served)
    expect(page).to_have_url(re.compile(r"/inbox$"))
    # Leave the inbox first: its poll would find the session locked and take the page to
    # the unlock screen itself, aborting the navigation this test makes.
    page.goto("about:blank")
    served.world.clock.advance(IDLE + PERIOD)
    page.goto(served.url + "/status")
    expect(page).to_have_url(re.compile(r"/unlock$"))


def test_alias_notes_mute_and_a_new_message_told_while_the_page_is_open(
    served: Served, page: Page
) -> None:
    served.world.add("alice")
    _, name = a_source_wrote(served, "first")
    unlock(page, served)
    page.get_by_role("link", name=name).click()
    page.get_by_label("Alias (only this desk sees it)").fill("Harbour contact")
    notes = page.get_by_label("Private notes (never sent)")
    notes.fill("met once; careful on the phone")
    page.get_by_role("button", name="Save alias and notes").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Harbour contact")
    expect(page.get_by_label("Private notes (never sent)")).to_have_value(
        "met once; careful on the phone"
    )

    page.goto(served.url + "/inbox")
    expect(page.locator("#notice")).to_be_hidden()
    a_source_wrote(served, "second source, new")
    expect(page.locator("#notice")).to_contain_text("1 unread message")
    expect(page).to_have_title(re.compile(r"^\(1\) "))

    page.get_by_role("link", name="Harbour contact").click()
    page.get_by_role("button", name="Mute this source").click()
    expect(page.locator(".meta")).to_contain_text("muted")


def test_the_status_page_shows_keys_and_warns_when_the_edge_is_unreachable(
    served: Served, page: Page
) -> None:
    world = served.world
    world.add("alice")
    unlock(page, served)
    page.get_by_role("link", name="Status").click()
    expect(page.get_by_role("heading", name="Status")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="alice")).to_be_visible()
    digest = page.locator(".digest code")
    expect(digest).to_have_count(1)
    expect(page.get_by_text("Last dead drop read")).to_be_visible()
    # The loop's last report (what DeskLoop keeps) says the edge was out of reach.
    report = world.desk.step(world.now)
    report.edge_reached = False
    served.web.report = report
    page.reload()
    expect(page.get_by_role("alert")).to_contain_text("The edge could not be reached")


def _key_material(state: DeskState, served: Served) -> Iterator[bytes]:
    org = served.world.org
    yield state.pseudonym_key
    yield org.anchor.key
    for conversation in state.conversations.values():
        yield conversation.reply_key.raw
    for recipient in state.recipients:
        yield recipient.identity.pair.seed
        yield recipient.identity.pair.public.raw
        for key in recipient.messaging:
            yield key.pair.secret
            yield key.pair.public.raw


def _forms_of(raw: bytes) -> list[str]:
    std, url = base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()
    return [raw.hex(), raw.hex().upper(), raw.hex()[:8], std.rstrip("="), url.rstrip("="), std[:12]]


def test_no_page_shows_any_key(served: Served, page: Page) -> None:
    served.world.add("alice")
    served.world.add("bob")
    _, name = a_source_wrote(served, "keys are not for pages")
    seen: list[str] = []
    unlock(page, served)
    seen.append(page.content())
    page.get_by_role("link", name=name).click()
    seen.append(page.content())
    page.goto(served.url + "/status")
    seen.append(page.content())
    seen.append(page.request.get(served.url + "/api/updates").text())
    state = served.world.desk.store.read()
    for raw in _key_material(state, served):
        for form in _forms_of(raw):
            assert not any(form in html for html in seen), "a key shows in a page"


def test_forms_and_the_space_endpoint_need_the_sessions_csrf_token(
    served: Served, page: Page
) -> None:
    served.world.add("alice")
    unlock(page, served)
    expect(page).to_have_url(re.compile(r"/inbox$"))
    request = page.request
    no_token = request.post(served.url + "/lock", form={"csrf": "forged"})
    assert no_token.status == 403
    assert "form has expired" in no_token.text()
    space = request.post(served.url + "/api/space", data={"text": "hi"})
    assert space.status == 403
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert token is not None
    space = request.post(
        served.url + "/api/space", data={"text": "hi"}, headers={"X-CSRF-Token": token}
    )
    assert space.status == 200
    assert space.json()["fits"] is True
    # The forged lock did nothing: the session is still unlocked.
    page.goto(served.url + "/inbox")
    expect(page).to_have_url(re.compile(r"/inbox$"))


def test_a_locked_session_reads_nothing(served: Served) -> None:
    served.world.add("alice")
    a_source_wrote(served, "for unlocked eyes only")
    with httpx.Client(base_url=served.url) as client:
        for path in ("/inbox", "/status"):
            answer = client.get(path)
            assert answer.status_code == 303
            assert answer.headers["location"] == "/unlock"
        assert client.get("/api/updates").status_code == 401
        assert "for unlocked eyes only" not in client.get("/unlock").text


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(["/unlock", "/lock", "/api/space", "/sources/x/reply", "/sources/x"]),
    body=st.binary(max_size=300) | st.text(max_size=300).map(str.encode),
    kind=st.sampled_from(["application/x-www-form-urlencoded", "application/json", "text/plain"]),
)
def test_any_body_to_any_form_gets_an_answer_never_a_crash(
    served: Served, path: str, body: bytes, kind: str
) -> None:
    answer = httpx.post(served.url + path, content=body, headers={"Content-Type": kind})
    assert answer.status_code in {303, 400, 401, 403, 405}


def test_an_oversized_form_or_space_request_is_refused_unread(served: Served, page: Page) -> None:
    served.world.add("alice")
    unlock(page, served)
    expect(page).to_have_url(re.compile(r"/inbox$"))
    token = page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert token is not None
    huge = "x" * (70 * 1024)
    lock = page.request.post(served.url + "/lock", form={"csrf": token, "pad": huge})
    assert lock.status == 403
    space = page.request.post(
        served.url + "/api/space", data={"text": huge}, headers={"X-CSRF-Token": token}
    )
    assert space.status == 400
