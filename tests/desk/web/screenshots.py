"""The screenshots in docs/desk.md, taken from the real pages in Chromium over a real desk
and a real edge (both on loopback) holding made-up conversations:
``python -m tests.desk.web.screenshots docs/images``."""

from __future__ import annotations

import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from playwright.sync_api import Page

from quietline.clock import FixedClock
from quietline.desk.web.app import DeskWeb, create_app
from quietline.edge_client import EdgeClient
from quietline.protocol.keys import EncryptionKeyPair
from tests.desk.world import NOW, PASSPHRASE, World, make_desk, real_edge
from tests.support.browser import chromium
from tests.support.edge_server import serve
from tests.support.organisation import Organisation

WIDTH, HEIGHT = 1100, 820


def _morning(world: World) -> None:
    """Two sources who wrote overnight to the shared desk's two recipients."""
    world.add("alice")
    world.add("bob")
    harbour, clinic = EncryptionKeyPair.generate(), EncryptionKeyPair.generate()
    world.write("alice", harbour, "I work at the harbour authority. Containers are being "
                "re-labelled at night before inspection.")  # fmt: skip
    world.desk.step(world.now)
    world.clock.advance(timedelta(hours=2))
    world.desk.reply(harbour.public.hex(), "Thank you. Can you say which berth?", world.now)
    world.desk.step(world.now)
    world.clock.advance(timedelta(hours=9))
    world.write("alice", harbour, "Berth 7, mostly on Tuesdays. I have photos of the seals.")
    world.write("bob", clinic, "The clinic's waiting-list figures sent to the ministry are "
                "not the ones we keep.")  # fmt: skip
    world.desk.step(world.now)
    with world.desk.store.transaction() as transaction:
        for conversation in transaction.state.conversations.values():
            if conversation.recipient_id == "alice":
                conversation.alias = "Harbour"
                conversation.notes = "Knows the night shift. Asked for no calls."


def _shoot(page: Page, url: str, name: str, folder: Path) -> None:
    page.goto(url)
    page.screenshot(path=str(folder / f"desk-{name}.png"), full_page=True)


def main(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    clock = FixedClock(NOW + timedelta(hours=8))
    org = Organisation.create(NOW, ("alice", "bob", "carol"))
    with (
        tempfile.TemporaryDirectory() as scratch,
        real_edge(Path(scratch), org, clock) as (url, store),
        EdgeClient(url) as edge,
        EdgeClient(url) as desk_edge,
    ):
        org.publish(edge, clock.now(), recipients=("alice", "bob", "carol"), messaging=False)
        world = World(clock, org, edge, store, make_desk(Path(scratch), desk_edge, org))
        _morning(world)
        web = DeskWeb(world.desk, clock, timedelta(minutes=10))
        web.report = world.desk.step(world.now)
        with serve(create_app(web)) as desk_url, chromium() as browser:
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
            _shoot(page, desk_url + "/unlock", "unlock", folder)
            page.get_by_label("Desk vault passphrase").fill(PASSPHRASE)
            page.get_by_role("button", name="Unlock").click()
            page.screenshot(path=str(folder / "desk-inbox.png"), full_page=True)
            page.get_by_role("link", name="Harbour").click()
            page.get_by_label("Your reply").fill(
                "Photos would help. Please send them one at a time, and remove the "
                "camera's location data first."
            )
            page.locator("#space-text").filter(has_text="left").wait_for()
            page.screenshot(path=str(folder / "desk-thread.png"), full_page=True)
            _shoot(page, desk_url + "/status", "status", folder)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/images"))
