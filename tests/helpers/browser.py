"""Headless Chromium for browser tests: Debian's ``chromium`` driven by Playwright.

Playwright cannot download its own browser here, so the tests use the system one
(``CHROMIUM_PATH``, else ``/usr/bin/chromium``). When none is found the browser tests are
reported as skipped with the reason; ``.ci/run`` installs it, so CI always runs them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

# the flags the machine's own probe uses: without the background-networking ones Chromium keeps
# trying to reach Google's hosts through a closed network
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str | None:
    """The Chromium executable to drive, or None when this machine has none."""
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        return configured if Path(configured).exists() else None
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if Path(candidate).exists():
            return candidate
    return shutil.which("chromium")


def browser_report_header() -> str:
    """One line for pytest's header: whether the browser tests run."""
    path = chromium_path()
    if path:
        return f"chromium: {path}; browser tests run"
    return "chromium: NOT found; every browser test will be SKIPPED (apt-get install chromium)"


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    """A fresh headless Chromium (playwright.async_api.Browser) for one test."""
    path = chromium_path()
    if path is None:
        pytest.skip("Chromium not found (apt-get install chromium, or set CHROMIUM_PATH)")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


async def screenshot(page: Any, name: str, tmp_path: Path) -> Path:
    """A full-page PNG in ``tmp_path``; copied to docs/images/ only when UPDATE_SCREENSHOTS=1
    (``make screenshots``), so a test run never changes the checkout."""
    path = tmp_path / name
    await page.screenshot(path=str(path), full_page=True)
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_IMAGES / name)
    return path
