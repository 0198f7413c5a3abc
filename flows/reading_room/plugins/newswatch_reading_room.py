"""The newswatch reading room: Datasette plugin hooks, loaded by `newswatch browse` only
(its `--plugins-dir`), never by other Datasette instances of the same environment.

- every connection is `query_only`: browsing cannot write to the archive, whatever is asked;
- `newswatch_query(text)` in SQL compiles `newswatch search`'s query language to FTS5, and
  `newswatch_admits(text, source, url)` applies its `site:` and `source:` filters;
- links show the clean canonical URL (no tracking parameters, scheme as served);
- the articles table opens on title, source, date, language and link, each title linking to
  the article page; it (and sightings) leaves the forgotten articles out (`filters_from_request`);
  the article page (templates/row.html) gets its body, contacts, sightings, translations and
  matched rules from `extra_template_vars`.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlencode

from datasette import hookimpl
from markupsafe import Markup, escape

ARTICLE_COLUMNS = ("title", "source", "published", "language", "canonical_url")
LINK_COLUMNS = {"url", "canonical_url", "link"}


# An FTS5 expression that matches no row: an empty phrase.
MATCH_NOTHING = '""'


def _compile_query(text):
    """`newswatch_query(text)`: the FTS5 expression of a search. It never raises: SQLite would
    only say "user-defined function raised exception" (and log a traceback). An empty search
    (the saved query opened before anything is typed) and a bad one match nothing; the HTML page
    says what is wrong with a bad one (extra_template_vars), the JSON API answers 400 with the
    same message (asgi_wrapper)."""
    from errors import QuerySyntaxError
    from storage.query import parse

    if not (text or "").strip():
        return MATCH_NOTHING
    try:
        return parse(text).fts
    except QuerySyntaxError:
        return MATCH_NOTHING


def _query_error(query: list[tuple[str, str]]) -> str | None:
    """What is wrong with the `q` of a request (None: nothing, or no q)."""
    from errors import QuerySyntaxError
    from storage.query import parse

    text = next((v for k, v in query if k == "q"), "")
    if not text.strip():
        return None
    try:
        parse(text)
    except QuerySyntaxError as e:
        return str(e)
    return None


@hookimpl
def prepare_connection(conn, database):
    if database == "_internal":  # Datasette's own in-memory catalogue, not the archive
        return
    from storage.query import register_functions

    conn.execute("PRAGMA query_only = 1")
    conn.create_function("newswatch_query", 1, _compile_query, deterministic=True)
    register_functions(conn)  # newswatch_admits: the query's site: and source:


def _clean(url: str) -> str:
    from core.urls import canonical_url
    from scrapers.profiles import profile_for_url

    if not url.startswith(("http://", "https://")):
        return url  # a local file: no web address to clean
    return canonical_url(url, tracking_params=profile_for_url(url).tracking_params) or url


def _story_versions(value: str, database: str, datasette) -> Markup | None:
    """The `versions` of the Stories query ([[id, language, source, title], ...]) as links to
    the articles' pages."""
    try:
        versions = json.loads(value)
    except ValueError:
        return None
    if not isinstance(versions, list):
        return None
    items = []
    for version in versions:
        if not (isinstance(version, list) and len(version) == 4):
            return None
        article_id, language, source, title = version
        target = datasette.urls.row(database, "articles", str(article_id))
        items.append(
            f'<li><a href="{escape(target)}">{escape(title or "(untitled)")}</a>'
            f" <small>{escape(language or '??')} · {escape(source or '?')}</small></li>"
        )
    return Markup("<ul>" + "".join(items) + "</ul>")


def _article_id(row) -> int | None:
    """The article id of a saved query's row (its `id` column), None if it has none."""
    try:
        value = row["id"]
    except (IndexError, KeyError, TypeError):
        return None
    return value if isinstance(value, int) else None


@hookimpl
def render_cell(row, value, column, table, database, datasette):
    if column in LINK_COLUMNS and isinstance(value, str) and value.startswith(("http://", "https://")):
        link = _clean(value)
        return Markup(f'<a href="{escape(link)}">{escape(link)}</a>')
    if table == "articles" and column == "title" and "id" in row.keys():
        target = datasette.urls.row(database, "articles", str(row["id"]))
        return Markup(f'<a href="{escape(target)}">{escape(value or "(untitled)")}</a>')
    # The saved queries' rows are articles (their `id`: New today, Search, an alert rule's matches,
    # Near-duplicate groups): the title and the id lead to the article page.
    if table is None and column in ("title", "id") and _article_id(row) is not None:
        target = datasette.urls.row(database, "articles", str(_article_id(row)))
        text = f"#{value}" if column == "id" else value or "(untitled)"
        return Markup(f'<a href="{escape(target)}">{escape(text)}</a>')
    if table is None and column == "story" and isinstance(value, int):  # the Stories and Story queries
        target = f"{datasette.urls.database(database)}/story?{urlencode({'id': value})}"
        return Markup(f'<a href="{escape(target)}">story {value}</a>')
    if table is None and column == "article" and isinstance(value, int):
        return Markup(f'<a href="{escape(datasette.urls.row(database, "articles", str(value)))}">#{value}</a>')
    if table is None and column == "versions" and isinstance(value, str) and value.startswith("["):
        return _story_versions(value, database, datasette)
    return None


# The tables whose rows are articles, or the places they were seen: a forgotten article's rows are
# left out of their pages, JSON, facets and counts (storage/forget.py). Its own page stays (it says
# "Forgotten"), and the table `forgotten` lists them.
FORGOTTEN_LEFT_OUT = {"articles": "id", "sightings": "article_id"}


@hookimpl
def filters_from_request(request, database, table, datasette):
    from datasette.filters import FilterArguments

    column = FORGOTTEN_LEFT_OUT.get(table)
    if column is None or database == "_internal":
        return None
    return FilterArguments(
        [f"{column} NOT IN (SELECT article_id FROM forgotten)"],
        human_descriptions=["not forgotten (newswatch forget: the table forgotten lists them)"],
    )


@hookimpl
def asgi_wrapper(datasette):
    def wrap(app):
        async def reading_room(scope, receive, send):
            if scope["type"] == "http" and scope.get("method") == "GET":
                parts = scope["path"].strip("/").split("/")
                query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
                if len(parts) == 2 and parts[1] == "search.json" and (error := _query_error(query)):
                    body = json.dumps({"ok": False, "error": error, "status": 400, "title": "Bad query"}).encode()
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 400,
                            "headers": [(b"content-type", b"application/json; charset=utf-8")],
                        }
                    )
                    await send({"type": "http.response.body", "body": body})
                    return
                if len(parts) == 2 and parts[1] == "articles" and not any(k in ("_col", "_nocol") for k, _ in query):
                    target = scope["path"] + "?" + urlencode(query + [("_col", c) for c in ARTICLE_COLUMNS])
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 302,
                            "headers": [(b"location", target.encode("latin-1")), (b"content-type", b"text/plain")],
                        }
                    )
                    await send({"type": "http.response.body", "body": b""})
                    return
            await app(scope, receive, send)

        return reading_room

    return wrap


async def _rows(db, sql: str, params: dict) -> list[dict]:
    result = await db.execute(sql, params)
    return [dict(r) for r in result.rows]


async def _picture(datasette, db, queries: dict) -> dict:
    """The home's last 30 days: the sources in trouble (the Source health query's judgement),
    and the two charts as SVG (flows/reading_room/charts.py)."""
    import asyncio
    from datetime import UTC, datetime

    from flows.reading_room import charts
    from storage.reading import ARTICLES_PER_DAY_SQL, MATCHES_PER_DAY_SQL

    configured = datasette.plugin_config("newswatch") or {}
    health = await _rows(db, queries["source_health"]["sql"], {}) if "source_health" in queries else []
    trouble = {r["source"]: r["state"] for r in health if r["state"] != "ok"}
    articles = await _rows(db, ARTICLES_PER_DAY_SQL, {})
    matches = await _rows(db, MATCHES_PER_DAY_SQL, {})
    sources = list(configured.get("sources") or [])
    sources += sorted({r["source"] for r in articles} - set(sources))  # removed sources, imports
    rules = list(configured.get("rules") or [])
    rules += sorted({r["rule"] for r in matches} - set(rules))
    today = datetime.now(UTC).date()
    specs = [charts.articles_chart(articles, sources, trouble, today)]
    if rules:
        specs.append(charts.matches_chart(matches, rules, today))
    try:  # ~0.8 s for the first chart of the process: off the event loop
        svgs = await asyncio.get_running_loop().run_in_executor(None, lambda: [charts.svg(s) for s in specs])
    except ImportError:
        svgs = []  # vl-convert-python is part of newswatch[browse]; the page says so
    return {
        "trouble": [r for r in health if r["state"] != "ok"],
        "charts": [Markup(svg) for svg in svgs],
        "charts_missing": not svgs,
    }


@hookimpl
def extra_template_vars(template, database, table, view_name, request, datasette):
    if view_name == "index":

        async def home():
            from storage.reading import HOME_COUNTS_SQL

            db = datasette.get_database()
            counts = (await _rows(db, HOME_COUNTS_SQL, {}))[0]
            queries = await datasette.get_canned_queries(db.name, request.actor if request else None)
            return {
                "newswatch_home": {
                    "database": db.name,
                    "counts": counts,
                    "queries": [{"name": k, "title": v.get("title") or k} for k, v in queries.items()],
                    **await _picture(datasette, db, queries),
                }
            }

        return home
    if request is not None and request.args.get("q") is not None:
        # A bad query matches nothing (_compile_query): the page says what is wrong, and where.
        error = _query_error([("q", request.args.get("q"))])
        return {"newswatch_query_error": error} if error else {}
    if view_name != "row" or table != "articles" or request is None:
        return {}

    async def article():
        from datasette.utils import tilde_decode

        from storage.archive_reads import SIGHTINGS_SQL, TRANSLATIONS_SQL
        from storage.reading import ARTICLE_PAGE_SQL, ARTICLE_RULES_SQL, ARTICLE_STORY_SQL, STORY_SQL

        db = datasette.get_database(database)
        try:
            article_id = int(tilde_decode(request.url_vars["pks"]))
        except (KeyError, ValueError):
            return {}
        found = await _rows(db, ARTICLE_PAGE_SQL, {"id": article_id})
        if not found:
            return {}
        a = found[0]
        try:
            contacts = json.loads(a.get("contacts") or "[]")
        except ValueError:
            contacts = []
        sightings = [s for s in await _rows(db, SIGHTINGS_SQL, {"id": article_id}) if s["kind"] != "original"]
        translations = await _rows(db, TRANSLATIONS_SQL, {"id": article_id})
        for t in translations:
            t["page"] = datasette.urls.row(database, "articles", str(t["article_id"])) if t["article_id"] else None
        story = None
        for found_story in await _rows(db, ARTICLE_STORY_SQL, {"id": article_id}):
            others = [v for v in await _rows(db, STORY_SQL, {"id": found_story["story"]}) if v["article"] != article_id]
            for v in others:
                v["page"] = datasette.urls.row(database, "articles", str(v["article"]))
            story = {
                **found_story,
                "page": f"{datasette.urls.database(database)}/story?{urlencode({'id': found_story['story']})}",
                "others": others,
            }
        return {
            "newswatch_article": {
                **a,
                "link": _clean(a["link"]),
                "paragraphs": [p for p in (a["body"] or "").split("\n\n") if p.strip()],
                "contacts": [c for c in contacts if isinstance(c, dict)],
                "sightings": [{**s, "link": _clean(s["canonical_url"] or s["url"])} for s in sightings],
                "translations": translations,
                "rules": [r["rule"] for r in await _rows(db, ARTICLE_RULES_SQL, {"id": article_id})],
                "story": story,
            }
        }

    return article


# What an error page says next, by status: a reader who followed a stale link or typed an
# address should know where to go (Datasette's own page says "Error 404" and the exception's words).
_ERROR_HINTS = {
    404: "Nothing here: the page, table or article does not exist (an article's number may have"
    " been mistyped, or it was taken out of the archive).",
    400: "The request could not be read: check the address, or the query's words.",
    403: "This reading room does not allow that.",
}


def _without_datasette_error_handler() -> None:
    """Datasette's own error hook prints a rich traceback, with every frame's locals, for any
    error, a 404 included (~150 lines on the terminal of `newswatch browse`); every hook's
    answer is computed, so ours alone cannot keep it quiet: it is unregistered, and ours
    (below) answers every error."""
    from datasette.plugins import pm

    if pm.get_plugin("datasette.handle_exception") is not None:
        pm.unregister(name="datasette.handle_exception")


_without_datasette_error_handler()


@hookimpl
def handle_exception(datasette, request, exception):
    """Errors are pages (or JSON for .json), never a traceback on the terminal: a 4xx is one
    line on stderr; an unexpected error one line with where it happened."""
    import sys
    import traceback

    from datasette import Response
    from datasette.utils.asgi import Base400
    from datasette.views.base import DatasetteError

    if isinstance(exception, Base400 | DatasetteError):
        status = exception.status
        message = exception.args[0] if isinstance(exception, Base400) else exception.message
        print(f"reading room: {status} {request.path}: {message}", file=sys.stderr)
    else:
        status, message = 500, f"{type(exception).__name__}: {exception}"
        frames = traceback.extract_tb(exception.__traceback__)
        where = f" ({frames[-1].filename}:{frames[-1].lineno})" if frames else ""
        print(f"reading room: 500 {request.path}: {message}{where}", file=sys.stderr)

    async def inner():
        info = {"ok": False, "error": str(message), "status": status, "title": f"Error {status}"}
        if request.path.endswith(".json"):
            return Response.json(info, status=status)
        template = datasette.jinja_env.select_template(["newswatch_error.html"])
        html = await template.render_async(
            dict(
                info,
                hint=_ERROR_HINTS.get(status, "The reading room could not show this page."),
                urls=datasette.urls,
                app_css_hash=datasette.app_css_hash(),
                menu_links=lambda: [],
            )
        )
        return Response.html(html, status=status)

    return inner
