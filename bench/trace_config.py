"""How one run's `config` travels through the code: a reproducible trace (issue 24, item 2).

    .venv/bin/python bench/trace_config.py [--json]

One offline ingest run without Prefect (`ingest_run`) on the bundled demo site (served on
127.0.0.1, as `newswatch demo` serves it, with its SMTP sink and its alert rule), traced with
`sys.setprofile` / `threading.setprofile`. Only newswatch's own modules are looked at.

Terms:
- **the config**: the run's `Config` object and its sections: every non-scalar, non-empty value
  of one of its fields (smtp, alerts, health_alerts, schedules, timeouts, retries, the sources
  list) and every element of a list or tuple field (a source, a rule). Empty containers and
  scalars are left out: Python shares them (every `()` is one object).
- a call **carries the config** when one of its arguments is the config, or an object holding
  it (or a section) in an attribute, one level deep (a run object, a context).
- a **stay**: a maximal sequence of consecutive config-carrying calls, in one thread, made in
  the same module.
- a **return to a module already left**: a stay in a module that had an earlier stay in the
  same thread (the config went elsewhere, then came back).
- a **climb back up**: a stay whose call depth is smaller than the previous stay's in the same
  thread: the config went back up the stack to be handed down again from higher up.

Also counted: archive opens (`sqlite3.connect` on the archive file), schema migration checks
(`storage.schema.migrate`), source-spec builds (`SourceSpec.__init__`), and URL identity
computations (`canonical_url` calls) per URL discovered. Works on the layout of the base
commit (2c4a976) and on the current one, so both can be measured with the same script.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sqlite3
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
OURS = ("flows", "scrapers", "storage", "alerts", "core", "errors")


def _imports():
    """(load_config, ingest_run, LocalServer, SmtpServer, site_files, demo site dir) of either layout."""
    try:
        from flows.config.loader import load_config
        from flows.demo.servers import LocalServer, SmtpServer, site_files
        from flows.pipeline.ingest import ingest_run

        site = REPO / "flows" / "demo" / "site"
    except ImportError:  # the layout of 2c4a976, before issue 24 (module names as strings: they are gone)
        load_config = importlib.import_module("flows.config").load_config
        servers = importlib.import_module("flows.localhost")
        LocalServer, SmtpServer, site_files = servers.LocalServer, servers.SmtpServer, servers.site_files
        ingest_run = importlib.import_module("flows.pipeline").ingest_run
        site = REPO / "flows" / "demo_site"
    return load_config, ingest_run, LocalServer, SmtpServer, site_files, site


CONFIG = """\
archive: archive.db
user_agent: "newswatch-trace/0.1"
clean_processes: 0  # cleaning in this process, where the trace sees it (1 is a process of its own now)
timeouts: {{connect: 5, read: 10, total: 30}}
retries: {{attempts: 2, backoff: 0.2, max_backoff: 1}}
sources:
  - name: iom-demo
    url: {iom}/fr/news
    kind: listing
    profile: iom
    delay: 0
    max_pages: 1
  - name: apr-demo
    url: {apr}/international/rss.xml
    kind: feed
    profile: aprnews
    delay: 0
smtp: {{host: 127.0.0.1, port: {port}, security: none, password_env: null, sender: newswatch@demo.example, timeout: 10}}
alerts:
  - {{name: passeurs, query: 'passeurs OR "réseaux de passeurs"', to: [analyst@example.org], mode: immediate}}
"""


def _empty(value) -> bool:
    return isinstance(value, (list, tuple, dict, set, frozenset)) and not value


def config_parts(config) -> set[int]:
    parts = {id(config)}
    fields = getattr(type(config), "model_fields", {})
    for name in fields:
        value = getattr(config, name, None)
        if value is None or isinstance(value, (str, int, float, bool, Path)) or _empty(value):
            continue
        parts.add(id(value))
        if isinstance(value, (list, tuple)):
            parts |= {id(v) for v in value}
    return parts


class Tracer:
    def __init__(self, parts: set[int], archive: Path) -> None:
        self.parts = parts
        self.archive = str(archive)
        self.lock = threading.Lock()
        self.calls: dict[int, list[tuple[str, int]]] = {}  # thread -> (module, depth) of carrying calls
        self.counts: Counter = Counter()

    def carries(self, frame) -> bool:
        code = frame.f_code
        n = code.co_argcount + code.co_kwonlyargcount + bool(code.co_flags & 4) + bool(code.co_flags & 8)
        local = frame.f_locals
        for name in code.co_varnames[:n]:
            value = local.get(name)
            if value is None or isinstance(value, (str, int, float, bool, bytes)) or _empty(value):
                continue
            if id(value) in self.parts:
                return True
            if isinstance(value, (list, tuple)) and any(id(v) in self.parts for v in value[:50]):
                return True
            attrs = getattr(value, "__dict__", None)
            if isinstance(attrs, dict) and any(id(v) in self.parts for v in list(attrs.values()) if not _empty(v)):
                return True
        return False

    def profile(self, frame, event, arg):
        if event != "call":
            return
        module = frame.f_globals.get("__name__", "")
        if module.split(".")[0] not in OURS:
            return
        name = frame.f_code.co_name
        if module == "storage.schema" and name == "migrate":
            self.counts["migrate"] += 1
        elif name == "__init__" and type(frame.f_locals.get("self")).__name__ == "SourceSpec":
            self.counts["spec builds"] += 1
        elif name == "canonical_url":
            self.counts["canonical_url"] += 1
        if not self.carries(frame):
            return
        depth, f = 0, frame
        while f is not None:
            depth, f = depth + 1, f.f_back
        with self.lock:
            self.calls.setdefault(threading.get_ident(), []).append((module, depth))


def figures(calls: dict[int, list[tuple[str, int]]]) -> dict:
    stays = returns = climbs = 0
    modules: set[str] = set()
    for seq in calls.values():
        left: set[str] = set()
        current = None
        previous_depth = None
        for module, depth in seq:
            modules.add(module)
            if module == current:
                continue
            stays += 1
            if module in left:
                returns += 1
            if previous_depth is not None and depth < previous_depth:
                climbs += 1
            if current is not None:
                left.add(current)
            current, previous_depth = module, depth
    return {
        "stays": stays,
        "modules": len(modules),
        "returns to a module already left": returns,
        "climbs back up": climbs,
        "module list": sorted(modules),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    load_config, ingest_run, LocalServer, SmtpServer, site_files, site = _imports()
    work = Path(tempfile.mkdtemp(prefix="newswatch-trace-"))
    iom = LocalServer(fallback=site_files(site / "iom")).start()
    apr = LocalServer(fallback=site_files(site / "apr")).start()
    sink = SmtpServer().start()
    try:
        path = work / "newswatch.yaml"
        path.write_text(CONFIG.format(iom=iom.base, apr=apr.base, port=sink.port), encoding="utf-8")
        config = load_config(path)
        tracer = Tracer(config_parts(config), work / "archive.db")
        real_connect = sqlite3.connect

        def counting_connect(database, *a, **kw):
            if str(database) == tracer.archive or str(database).startswith(f"file:{tracer.archive}"):
                tracer.counts["archive opens"] += 1
            return real_connect(database, *a, **kw)

        sqlite3.connect = counting_connect  # type: ignore[assignment]
        threading.setprofile(tracer.profile)
        sys.setprofile(tracer.profile)
        try:
            summary = ingest_run(config)
        finally:
            sys.setprofile(None)
            threading.setprofile(None)  # type: ignore[arg-type]
            sqlite3.connect = real_connect  # type: ignore[assignment]
    finally:
        sink.stop()
        iom.stop()
        apr.stop()
    sources = len(summary.sources)
    discovered = sum(s.discovered for s in summary.sources)
    result = figures(tracer.calls) | {
        "sources": sources,
        "new articles": sum(s.new for s in summary.sources),
        "emails": len(sink.messages),
        "archive opens": tracer.counts["archive opens"],
        "archive opens per source": round(tracer.counts["archive opens"] / sources, 1),
        "migration checks": tracer.counts["migrate"],
        "spec builds per source": round(tracer.counts["spec builds"] / sources, 1),
        "canonical_url calls per URL discovered": round(tracer.counts["canonical_url"] / max(1, discovered), 1),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    os.environ.pop("NEWSWATCH_TRACE", None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
