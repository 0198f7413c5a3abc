"""The reading room in a real headless browser: `newswatch browse` as a user starts it, then
Chromium (driven by Playwright) loads the home page, searches, and opens an article.

Needs Debian's Chromium (`apt-get install -y chromium`; `.ci/run` installs it) and Playwright
(a dev dependency; it drives the system browser, it downloads none). Without Chromium the
test is skipped on a developer machine, and fails in CI (CI set), where it must run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from reading_room_archive import PASSEURS, PASSEURS_TITLE, build
from test_reading_room import files_digest

from core.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
# The flags this machine needs (no sandbox as root; no background networking: the network is closed).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def _require(what: str, how: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing in CI: {how}")
    pytest.skip(f"{what} is not installed: {how}")


@pytest.mark.slow  # starts Chromium
def test_home_search_and_article_in_a_real_browser(tmp_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _require("Playwright", "pip install -e '.[dev]' (it drives the system Chromium)")
    if CHROMIUM is None:
        _require("Chromium", "apt-get install -y chromium (or set CHROMIUM to a Chromium binary)")
    config = build(tmp_path)
    archive = tmp_path / "archive.db"
    before = files_digest(archive)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "browse", "--config", str(config), "--port", str(port), "--no-open"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        home = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(home, timeout=5).read()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    server.kill()
                    pytest.fail(f"newswatch browse did not start: {server.communicate()[0]}")
                time.sleep(0.3)

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.goto(home)
                assert page.locator("h1").first.inner_text() == "newswatch reading room"
                # Search without accents or capitals, as an analyst types.
                page.fill("form.nw-search input[name=_search]", "mediterranee passeurs")
                with page.expect_navigation():
                    page.press("form.nw-search input[name=_search]", "Enter")
                assert "/archive/articles?" in page.url and "_col=title" in page.url
                results = page.locator("table.rows-and-columns tbody tr")
                assert results.count() == 1
                # Open the article from its title.
                with page.expect_navigation():
                    page.click(f"text={PASSEURS_TITLE}")
                assert page.url.endswith("/archive/articles/1")
                assert page.locator("article.nw-article h1").inner_text() == PASSEURS_TITLE
                assert page.locator(".nw-body p").all_inner_texts() == PASSEURS
                assert "apr (near" in page.locator(".nw-sightings").inner_text()
                assert "(archived: #2)" in page.locator(".nw-translations").inner_text()
                assert "Flavio Di Giacomo" in page.locator(".nw-contacts").inner_text()
            finally:
                browser.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert files_digest(archive) == before  # browsing wrote nothing
