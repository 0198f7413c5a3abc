"""The reading room in a real headless browser: `newswatch browse` as a user starts it, then
Chromium (driven by Playwright) loads the home page, searches, and opens an article.

Needs Debian's Chromium (`apt-get install -y chromium`; `.ci/run` installs it) and Playwright
(a dev dependency; it drives the system browser, it downloads none). Without Chromium the
test is skipped on a developer machine, and fails in CI (CI set), where it must run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from reading_room_archive import PASSEURS, PASSEURS_TITLE, add_history, build
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


def _playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _require("Playwright", "pip install -e '.[dev]' (it drives the system Chromium)")
    if CHROMIUM is None:
        _require("Chromium", "apt-get install -y chromium (or set CHROMIUM to a Chromium binary)")
    return sync_playwright


@contextlib.contextmanager
def browse(config: Path):
    """`newswatch browse` on a free port, as a user starts it; yields its home URL."""
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
        yield home
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.mark.slow  # starts Chromium
def test_home_search_and_article_in_a_real_browser(tmp_path):
    sync_playwright = _playwright()
    config = build(tmp_path)
    archive = tmp_path / "archive.db"
    before = files_digest(archive)
    with browse(config) as home:
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
    assert files_digest(archive) == before  # browsing wrote nothing


@pytest.mark.slow  # starts Chromium
def test_the_home_pictures_the_last_30_days_in_a_real_browser(tmp_path):
    """Articles per day per source and matches per day per rule, as charts, and the sources in
    trouble at a glance. NEWSWATCH_SCREENSHOTS=DIR saves the page as DIR/reading-room-picture.png
    (docs/img's is one)."""
    sync_playwright = _playwright()
    config = build(tmp_path)
    add_history(tmp_path)
    with sqlite3.connect(tmp_path / "archive.db") as db:  # what the charts must show, read apart
        per_day = db.execute(
            "SELECT count(DISTINCT substr(fetched_at, 1, 10) || source) FROM articles"
            " WHERE fetched_at >= date('now', '-29 days')"
        ).fetchone()[0]
        rule_days = db.execute(
            "SELECT count(DISTINCT substr(matched_at, 1, 10) || rule) FROM alert_matches"
            " WHERE matched_at >= date('now', '-29 days')"
        ).fetchone()[0]
        last_iom_fr = db.execute(
            "SELECT max(substr(fetched_at, 1, 10)) FROM articles WHERE source = 'iom-fr' AND fetched_at < date('now')"
        ).fetchone()[0]
    with browse(config) as home, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 900})
            page.goto(home)
            charts = page.locator("figure.nw-chart svg")
            assert charts.count() == 2
            cells = charts.nth(0).locator('path[aria-roledescription="rect mark"]')
            assert cells.count() == per_day > 40
            assert charts.nth(1).locator('path[aria-roledescription="rect mark"]').count() == rule_days > 5
            labels = {
                " ".join((t.text_content() or "").split()): t.get_attribute("fill")
                for t in charts.nth(0).locator("g.role-axis-label text").all()
            }
            # the sources in trouble in red, with their state
            assert labels["iom-fr SILENT"] == labels["apr FAILING"] != labels["iom-en"], labels
            box = page.locator(".nw-trouble").inner_text()
            assert "2 sources need attention" in box
            assert "apr FAILING" in box and "iom-fr SILENT" in box
            # a chart really drawn: its cells have a size on the screen
            first = cells.first.bounding_box()
            assert first and first["width"] >= 10 and first["height"] >= 10
            # iom-fr's silence: its row empties after its last day in the history (today's is build's)
            today = datetime.now(UTC).date().isoformat()
            iom_fr_days = sorted(
                label.split(";")[0].removeprefix("day: ")
                for label in (c.get_attribute("aria-label") or "" for c in cells.all())
                if "; source: iom-fr;" in label
            )
            assert [d for d in iom_fr_days if d != today][-1] == last_iom_fr
            assert last_iom_fr <= (datetime.now(UTC) - timedelta(days=12)).date().isoformat()
            if os.environ.get("NEWSWATCH_SCREENSHOTS"):
                page.screenshot(path=str(Path(os.environ["NEWSWATCH_SCREENSHOTS"]) / "reading-room-picture.png"))
        finally:
            browser.close()
