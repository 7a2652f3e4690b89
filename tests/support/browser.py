"""Debian's Chromium, headless, driven by Playwright: never a browser build Playwright
downloads (``scripts/install-chromium.sh`` installs the package; ``make setup`` runs it).

Without /usr/bin/chromium the browser tests skip with the reason, except under CI=true,
where they fail: CI must run them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

from tests.support.required import missing

CHROMIUM = Path("/usr/bin/chromium")


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium for the block (skips or, under CI=true, fails without it)."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is absent (make setup installs Debian's chromium as root)"
        missing(reason, f"CI must run the browser tests: {reason}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield browser
        finally:
            browser.close()
