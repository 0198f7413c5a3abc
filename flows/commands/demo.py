"""`newswatch demo`: one real ingest run against a bundled local site and a local SMTP sink.

Nothing here re-implements a stage: the demo serves the pages of `flows/demo_site/` on
127.0.0.1 (two "sites": an IOM-like news listing and an apr-news-like RSS feed), starts an SMTP
server that keeps what it receives, writes a config file pointing at both, and runs the same
`ingest` flow as `newswatch run` (through Prefect: a temporary server unless `PREFECT_API_URL`
names one). It then reads the archive with the archive API and prints what happened. No network.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import socket
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

HELP = "run the ingest flow once against a bundled local site and SMTP sink (no network) and show the result"
EXAMPLE = """\
newswatch demo
newswatch demo --keep demo/      # keep the archive and config: newswatch search --archive demo/archive.db passeurs
PREFECT_API_URL=http://127.0.0.1:4200/api newswatch demo   # record the run on a running Prefect server"""

SITE_DIR = Path(__file__).resolve().parent.parent / "demo_site"
RULE_QUERY = 'passeurs OR "réseaux de passeurs"'
RECIPIENT = "analyst@example.org"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keep", metavar="DIR", type=Path,
                        help="write the archive (archive.db) and the config (newswatch-demo.yaml) in DIR "
                             "and keep them; default: a temporary directory, removed at the end")


# --------------------------------------------------------------------------- local site ---


class _SiteServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client closing its keep-alive connection
        super().handle_error(request, client_address)


def _handler(root: Path) -> type[BaseHTTPRequestHandler]:
    types = {".html": "text/html; charset=utf-8", ".xml": "application/rss+xml; charset=utf-8",
             ".txt": "text/plain; charset=utf-8"}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "newswatch-demo"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

        def _file(self) -> Path | None:
            path = unquote(urlsplit(self.path).path).strip("/")
            if ".." in path.split("/"):
                return None
            base = root / path if path else root / "index"
            for candidate in (base, base.with_name(base.name + ".html"), base / "index.html"):
                if candidate.is_file():
                    return candidate
            return None

        def do_GET(self) -> None:  # noqa: N802
            file = self._file()
            if file is None:
                self._send(404, b"not found\n", "text/plain; charset=utf-8")
                return
            data = file.read_bytes()
            if file.suffix == ".xml":  # feeds hold absolute links: this server's address
                host, port = self.server.server_address[:2]
                data = data.replace(b"@SITE@", f"http://{host}:{port}".encode())
            etag = '"' + hashlib.sha1(data).hexdigest()[:16] + '"'
            if self.headers.get("If-None-Match") == etag:
                self._send(304, b"", None, etag)
                return
            self._send(200, data, types.get(file.suffix, "application/octet-stream"), etag)

        def _send(self, status: int, data: bytes, content_type: str | None, etag: str | None = None) -> None:
            self.send_response(status)
            if content_type:
                self.send_header("Content-Type", content_type)
            if etag:
                self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_HEAD = do_GET

    return Handler


class LocalSite:
    """One directory of `flows/demo_site/` served on 127.0.0.1 (a free port), in a thread."""

    def __init__(self, root: Path) -> None:
        self._httpd = _SiteServer(("127.0.0.1", 0), _handler(root))
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.1})

    @property
    def base(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LocalSite:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


# ------------------------------------------------------------------------------ SMTP sink ---


@dataclass
class _Received:
    rcpt_tos: list[str]
    data: bytes


@dataclass
class _SinkHandler:
    received: list[_Received] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.received.append(_Received(list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 2.0.0 OK: kept by the newswatch demo"


class SmtpSink:
    """An SMTP server on 127.0.0.1 that accepts every message and keeps it (aiosmtpd)."""

    def __init__(self) -> None:
        try:
            from aiosmtpd.controller import Controller
        except ImportError:
            from errors import NewswatchError

            raise NewswatchError("the demo's SMTP sink needs aiosmtpd: pip install aiosmtpd") from None
        with socket.socket() as s:  # aiosmtpd checks readiness by connecting: it needs a real port
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.handler = _SinkHandler()
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def messages(self) -> list:
        import email
        import email.policy

        return [email.message_from_bytes(r.data, policy=email.policy.default) for r in self.handler.received]


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
    from flows.commands.run import prepare_prefect_environment
    from flows.config import load_config
    from storage.archive import Archive

    if args.keep:
        workdir = args.keep
        workdir.mkdir(parents=True, exist_ok=True)
        if (workdir / "archive.db").exists():
            print(f"newswatch demo: {workdir / 'archive.db'} exists: already seen pages are folded "
                  "as duplicates, not archived again", file=sys.stderr)
    else:
        workdir = Path(tempfile.mkdtemp(prefix="newswatch-demo-"))
    iom = LocalSite(SITE_DIR / "iom").start()
    apr = LocalSite(SITE_DIR / "apr").start()
    sink = None
    try:
        sink = SmtpSink().start()
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
            print("Prefect:    no PREFECT_API_URL: a temporary Prefect server is started for this run (~15-20 s)")
        print(flush=True)
        prepare_prefect_environment()
        from flows.ingest import ingest

        state = ingest(config_path=str(config_file), return_state=True)
        flow_run_id = state.state_details.flow_run_id
        if not state.is_completed():
            try:
                state.result()
            except Exception as e:
                print(f"newswatch demo: the run could not complete: {e}", file=sys.stderr)
            return 1
        summary = state.result()
        with Archive.open(config.archive) as archive:
            print(report(summary, archive, sink.messages(), flow_run_id))
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
    from flows.summary import format_summary

    # The summary's table; its list of new articles is replaced by the fuller one below.
    table = {**summary, "sources": [{**s, "new_articles": []} for s in summary["sources"]]}
    lines = [format_summary(table), "", "== articles archived by this run (newswatch show ID)"]
    new = sorted(((s["source"], a) for s in summary["sources"] for a in s["new_articles"]),
                 key=lambda pair: pair[1]["id"])
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
        return ("  this run used a temporary Prefect server, now stopped. To see runs in the UI:\n"
                "    prefect server start          # in another terminal; UI at http://127.0.0.1:4200\n"
                "    PREFECT_API_URL=http://127.0.0.1:4200/api newswatch demo")
    from prefect.settings import get_current_settings

    ui = os.environ.get("PREFECT_UI_URL") or get_current_settings().ui_url or api.rstrip("/").removesuffix("/api")
    return (f"  {ui.rstrip('/')}/runs/flow-run/{flow_run_id}\n"
            f"  artifact: {ui.rstrip('/')}/artifacts/key/ingest-summary")
