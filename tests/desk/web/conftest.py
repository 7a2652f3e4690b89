"""The desk's pages served for real (uvicorn on loopback) over the desk of the test world,
and a real Chromium to use them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page

from quietline.desk.web.app import DeskWeb, create_app
from tests.desk.world import World
from tests.support.browser import chromium
from tests.support.edge_server import serve

IDLE = timedelta(minutes=10)


@dataclass
class Served:
    world: World
    web: DeskWeb
    url: str


@pytest.fixture
def served(world: World) -> Iterator[Served]:
    web = DeskWeb(world.desk, world.clock, IDLE, poll_seconds=0.2)
    with serve(create_app(web)) as url:
        yield Served(world, web, url)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()
