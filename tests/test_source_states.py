"""A source's state run after run (issue 11, item 4): zero yield is a warning, a quiet source is
not. The ingest run as plain code (`flows.pipeline.ingest.ingest_run`, no Prefect) on local sites."""

from __future__ import annotations

from pathlib import Path

from fake_sites import article_page
from httpserver import LocalServer, Reply, html

from flows.config.loader import load_config
from flows.pipeline.ingest import ingest_run

PATHS = [
    "/actualites/accord-sur-la-cooperation-migratoire-signe-a-rabat",
    "/actualites/hausse-des-arrivees-aux-canaries-en-fevrier",
]


def rss(base: str, paths: list[str], etag: str | None = None) -> Reply:
    items = "".join(f"<item><title>T{i}</title><link>{base}{p}</link></item>" for i, p in enumerate(paths))
    return Reply(
        body=f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>{base}/</link>'
        f"{items}</channel></rss>",
        content_type="application/rss+xml",
        etag=etag,
    )


def config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "newswatch.yaml"
    path.write_text(
        f"archive: {tmp_path / 'archive.db'}\nretries: {{attempts: 1}}\nsources:\n"
        f"  - {{name: apr, url: '{url}', kind: feed, profile: aprnews, delay: 0}}\n",
        encoding="utf-8",
    )
    return path


def run(cfg: Path) -> dict:
    [source] = ingest_run(load_config(cfg)).to_dict()["sources"]
    return source


def test_a_source_that_used_to_yield_warns_when_it_finds_no_link_and_not_when_it_is_quiet(
    tmp_path: Path, http_server: LocalServer
) -> None:
    site = http_server
    site.routes.update({p: html(article_page("aprnews", p)) for p in PATHS})
    site.routes["/rss.xml"] = rss(site.base, PATHS)
    cfg = config(tmp_path, site.url("/rss.xml"))

    assert run(cfg)["new"] == 2
    quiet = run(cfg)  # the same items, all archived: nothing new, and that is fine
    assert (quiet["new"], quiet["warning"]) == (0, None)
    site.routes["/rss.xml"] = rss(site.base, [])
    emptied = run(cfg)
    assert emptied["warning"] == (
        "the feed has no items, though 2 article(s) came from it before: has the site "
        "changed? check the profile or the URL"
    )


def test_a_source_that_never_yielded_stays_a_warning_until_it_does(tmp_path: Path, http_server: LocalServer) -> None:
    site = http_server
    # Its pages are shells: the cleaner finds no article in any of them.
    site.routes.update({p: html(article_page("aprnews", p, body=[])) for p in PATHS})
    site.routes["/rss.xml"] = rss(site.base, PATHS, etag='"v1"')
    cfg = config(tmp_path, site.url("/rss.xml"))

    first = run(cfg)
    assert first["warning"] == "all 2 fetched page(s) were not articles"
    again = run(cfg)  # the feed answers 304: still nothing archived from it, still a warning
    assert again["unchanged"] and again["warning"] == first["warning"]
    site.routes["/rss.xml"] = rss(site.base, PATHS, etag='"v2"')
    known = run(cfg)  # the pages were rejected before: not fetched again
    assert known["warning"].startswith("its 2 article link(s) were all rejected or failing in earlier runs")

    site.routes.update({p: html(article_page("aprnews", p)) for p in PATHS})
    site.routes["/rss.xml"] = rss(site.base, [*PATHS, "/actualites/un-article-enfin-publie-en-entier"], etag='"v3"')
    site.routes["/actualites/un-article-enfin-publie-en-entier"] = html(
        article_page("aprnews", "/actualites/un-article-enfin-publie-en-entier")
    )
    fixed = run(cfg)
    assert fixed["new"] == 1 and fixed["warning"] is None
