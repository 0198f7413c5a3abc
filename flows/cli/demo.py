"""`newswatch demo`: one real ingest run against a bundled local site and a local SMTP sink.

Nothing here re-implements a stage: the demo serves the pages of `flows/demo/site/` on
127.0.0.1 (two "sites": an IOM-like news listing and an apr-news-like RSS feed), starts an SMTP
server that keeps what it receives, writes a config file pointing at both, and runs the same
`ingest` flow as `newswatch run` (through Prefect: a temporary server unless `PREFECT_API_URL`
names one). It then reads the archive with the archive API and prints what happened. No network.
The servers are `flows.demo.servers`'s, the ones the test suite runs too.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

HELP = "run the ingest flow once against a bundled local site and SMTP sink (no network) and show the result"
EXAMPLE = """\
newswatch demo
newswatch demo --keep demo/      # keep the archive and config: newswatch search --archive demo/archive.db passeurs
PREFECT_API_URL=http://127.0.0.1:4200/api newswatch demo   # record the run on a running Prefect server"""

SITE_DIR = Path(__file__).resolve().parent.parent / "demo" / "site"
RULE_QUERY = 'passeurs OR "réseaux de passeurs"'
RECIPIENT = "analyst@example.org"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keep",
        metavar="DIR",
        type=Path,
        help="write the archive (archive.db) and the config (newswatch-demo.yaml) in DIR "
        "and keep them; default: a temporary directory, removed at the end",
    )


# ------------------------------------------------------------------------------- config ---


def demo_config(iom_base: str, apr_base: str, smtp_port: int) -> str:
    """The config file of the demo: the two local sites, the SMTP sink, one immediate rule."""
    return f"""\
# Written by `newswatch demo`: the sources are the demo's local sites (gone once it ends).
archive: archive.db
user_agent: "newswatch-demo/0.1 (+mailto:demo@example.org)"
timeouts: {{connect: 5, read: 10, total: 30}}
retries: {{attempts: 2, backoff: 0.2, max_backoff: 1}}
sources:
  - name: iom-demo           # an IOM-like news listing: three French press releases
    url: {iom_base}/fr/news
    kind: listing
    profile: iom
    delay: 0
    max_pages: 1
  - name: apr-demo           # an apr-news-like RSS feed: one republication, one original
    url: {apr_base}/international/rss.xml
    kind: feed
    profile: aprnews
    delay: 0
smtp:
  host: 127.0.0.1
  port: {smtp_port}
  security: none
  password_env: null
  sender: newswatch@demo.example
  timeout: 10
alerts:
  - name: passeurs
    query: '{RULE_QUERY}'
    to: [{RECIPIENT}]
    mode: immediate
"""


# ---------------------------------------------------------------------------------- run ---


def run(args: argparse.Namespace) -> int:
    from flows.config.loader import load_config
    from flows.demo.servers import LocalServer, SmtpServer, site_files
    from flows.orchestration.server import check_server
    from storage.archive import Archive

    if os.environ.get("PREFECT_API_URL"):  # one that does not answer: one line, before anything
        check_server(os.environ["PREFECT_API_URL"], temporary_hint=True)
    if args.keep:
        workdir = args.keep
        workdir.mkdir(parents=True, exist_ok=True)
        if (workdir / "archive.db").exists():
            print(
                f"newswatch demo: {workdir / 'archive.db'} exists: already seen pages are folded "
                "as duplicates, not archived again",
                file=sys.stderr,
            )
    else:
        workdir = Path(tempfile.mkdtemp(prefix="newswatch-demo-"))
    iom = LocalServer(fallback=site_files(SITE_DIR / "iom")).start()
    apr = LocalServer(fallback=site_files(SITE_DIR / "apr")).start()
    sink = None
    try:
        sink = SmtpServer().start()
        config_file = workdir / "newswatch-demo.yaml"
        config_file.write_text(demo_config(iom.base, apr.base, sink.port), encoding="utf-8")
        config = load_config(config_file)
        print(f"demo site:  {iom.base}/fr/news (iom-demo), {apr.base}/international/rss.xml (apr-demo)")
        print(f"SMTP sink:  127.0.0.1:{sink.port}")
        print(f"config:     {config_file}")
        print(f"archive:    {config.archive}")
        if os.environ.get("PREFECT_API_URL"):
            print(f"Prefect:    {os.environ['PREFECT_API_URL']}")
        else:
            print("Prefect:    no PREFECT_API_URL: a temporary Prefect server is started for this run (~5 s)")
        print(flush=True)
        from flows.orchestration.ingest_flow import run_ingest_flow  # imports Prefect: only now

        summary, flow_run_id = run_ingest_flow("demo", str(config_file))
        if summary is None:
            return 1
        with Archive.open(config.archive) as archive:
            print(report(summary, archive, sink.messages, flow_run_id))
    finally:
        if sink is not None:
            sink.stop()
        iom.stop()
        apr.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.keep:
        print(f"\nkept in {workdir}: newswatch search --archive {workdir / 'archive.db'} passeurs")
    return 0


def report(summary: dict, archive, messages: list, flow_run_id) -> str:
    """What the demo prints after the run: summary, archived articles, folds, email, the UI."""
    from flows.pipeline.summary import format_summary

    # The summary's table; its list of new articles is replaced by the fuller one below.
    table = {**summary, "sources": [{**s, "new_articles": []} for s in summary["sources"]]}
    lines = [format_summary(table), "", "== articles archived by this run (newswatch show ID)"]
    new = sorted(
        ((s["source"], a) for s in summary["sources"] for a in s["new_articles"]), key=lambda pair: pair[1]["id"]
    )
    for source, a in new:
        lines.append(f"  #{a['id']:<3} {source:<9} {a['title'] or a['url']}")
    if not new:
        lines.append("  none")
    lines += ["", "== duplicates folded (a sighting of the archived article, not a new row)"]
    folds = 0
    for article in archive.iter_articles():
        for s in archive.sightings(article.id):
            if s.kind == "original" or s.last_seen < summary["started_at"]:
                continue
            folds += 1
            similarity = f", similarity {s.similarity:.2f}" if s.similarity is not None else ""
            lines.append(f"  {s.source}: {s.url}")
            lines.append(f"    folded into #{article.id} ({article.source}) as a {s.kind} duplicate{similarity}:")
            lines.append(f"    {article.title}")
    if not folds:
        lines.append("  none")
    lines += ["", f"== email received by the SMTP sink: {len(messages)}"]
    for m in messages:
        plain = m.get_body(preferencelist=("plain",))
        lines += [f"Subject: {m['Subject']}", f"From:    {m['From']}", f"To:      {m['To']}", ""]
        lines += ["  " + line for line in (plain.get_content() if plain else "").rstrip().splitlines()]
        lines.append("")
    lines += ["== the run in the Prefect UI", ui_hint(flow_run_id)]
    return "\n".join(lines)


def ui_hint(flow_run_id) -> str:
    api = os.environ.get("PREFECT_API_URL")
    if not api:
        return (
            "  this run used a temporary Prefect server, now stopped. To see runs in the UI:\n"
            "    prefect server start          # in another terminal; UI at http://127.0.0.1:4200\n"
            "    PREFECT_API_URL=http://127.0.0.1:4200/api newswatch demo"
        )
    from prefect.settings import get_current_settings

    ui = os.environ.get("PREFECT_UI_URL") or get_current_settings().ui_url or api.rstrip("/").removesuffix("/api")
    return f"  {ui.rstrip('/')}/runs/flow-run/{flow_run_id}\n  artifact: {ui.rstrip('/')}/artifacts/key/ingest-summary"
