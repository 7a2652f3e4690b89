"""The web desk in a real deployment: ``quietline edge``, ``quietline mixer``, ``quietline
desk serve`` and a ``quietline source run`` as processes on loopback, and a person at
the desk using Chromium. A message a source client sent through the mixer is read in
the page; the reply queued there reaches the source client through the mixer."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from playwright.sync_api import Error as BrowserError

from quietline.processes import free_port
from tests.support.browser import chromium
from tests.support.deployment import PASSPHRASE, Deployment, deploy, wait_for

# Real processes: left out of `make check`, run by `make test`.
pytestmark = pytest.mark.slow

SENT = "the minutes of the board meeting are in the shared drive"
REPLY = "thank you: can you say which drive?"


@pytest.fixture
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Deployment, str]]:
    port = free_port()
    with deploy(tmp_path, 1, desk_args=("serve", "--port", str(port))) as deployment:
        yield deployment, f"http://127.0.0.1:{port}"


def test_a_message_through_the_mixer_is_read_and_answered_in_the_browser(
    served: tuple[Deployment, str], browser: Browser
) -> None:
    deployment, url = served
    deployment.start("source-0")
    wait_for("the source's first message", lambda: deployment.write(0, SENT), deployment)
    page: Page = browser.new_page()
    wait_for("the desk's pages", lambda: _answers(page, url), deployment)
    page.get_by_label("Desk vault passphrase").fill(PASSPHRASE)
    page.get_by_role("button", name="Unlock").click()
    expect(page).to_have_url(re.compile(r"/inbox$"))

    def arrived() -> bool:
        page.reload()
        return page.locator("table.sources tbody tr").count() == 1

    wait_for("the message at the desk", arrived, deployment)
    page.locator("table.sources tbody a").click()
    expect(page.get_by_text(SENT)).to_be_visible()
    page.get_by_label("Your reply").fill(REPLY)
    expect(page.locator("#space-text")).to_contain_text("% of the space left")
    page.get_by_role("button", name="Queue the reply").click()

    def replied() -> bool:
        replies = deployment.inbox(0)
        return replies is not None and any(r.get("text") == REPLY for r in replies)

    wait_for("the reply at the source", replied, deployment)
    page.reload()
    expect(page.locator(".thread li.out")).to_contain_text("sent")
    page.get_by_role("button", name="Lock the desk").click()
    expect(page).to_have_url(re.compile(r"/unlock$"))


def _answers(page: Page, url: str) -> bool:
    try:
        page.goto(url + "/unlock")
    except BrowserError:  # not listening yet
        return False
    return True
