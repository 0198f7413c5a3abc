"""The reading room: the archive in Datasette with newswatch's metadata, plugin and templates.

`make_datasette(archive_path, config)` builds the Datasette instance that `newswatch browse`
serves (and the tests query through Datasette's JSON API). Datasette is an optional extra
(from the checkout: `.venv/bin/pip install -c constraints.txt -e '.[browse]'`); nothing here is
imported by other commands.

What it sets up:
- metadata: articles first (title, source, date, language, link), newest first, facets by
  source, language and publication date, full-text search over title and body through the
  archive's own FTS5 index (`unicode61 remove_diacritics 2`: the accent folding of
  `newswatch search`); the internal tables hidden; the forgotten articles (`newswatch forget`)
  left out of the articles and sightings tables by the plugin (a table's rows cannot be hidden
  by metadata; the raw SQL page still reads everything);
- canned queries (SQL in `storage/reading.py`): new today, a `newswatch search`-language
  search, one query per alert rule of the config, the stories (one row per story, its versions
  inside) and a story's versions, near-duplicate groups, rejected pages by reason, source
  health;
- the plugin (`plugins/`) and templates (`templates/`) of this package.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alerts.settings import AlertRule

HERE = Path(__file__).resolve().parent
PLUGINS_DIR = HERE / "plugins"
TEMPLATES_DIR = HERE / "templates"

# Tables an analyst has no use for: indexes, bookkeeping, the outbox's machinery.
HIDDEN_TABLES = (
    "near_keys",
    "near_signatures",
    "archive_meta",
    "schema_version",
    "alert_matches",
    "sent_emails",
    "discovery_documents",
    "source_leases",
    "health_notices",
    "waiting_pages",
    "prepared_emails",
    "prepared_health_emails",
    # stories: the saved queries Stories and Story show them (storage/stories.py keeps these)
    "stories",
    "story_members",
    "story_article_facts",
    "story_postings",
    "story_fact_df",
    "story_apart",
)

SETTINGS = {
    "truncate_cells_html": 200,
    "default_page_size": 50,
    "facet_time_limit_ms": 500,
    "suggest_facets": False,
    "sql_time_limit_ms": 3000,
    "allow_download": False,
}


def metadata(config=None, database: str = "archive") -> dict:
    """Datasette metadata for the archive; `config` (flows.config.model.Config) gives the alert rules
    and the sources' expected intervals."""
    from storage.reading import canned_queries

    rules: list[AlertRule] = []
    sources: list[tuple[str, float | None]] = []
    if config is not None:
        rules = list(config.alerts)
        sources = [
            (s.name, s.expected_interval.total_seconds() if s.expected_interval else None) for s in config.sources
        ]
    tables: dict[str, dict[str, Any]] = {name: {"hidden": True} for name in HIDDEN_TABLES}
    tables["articles"] = {
        "title": "Articles",
        "description": "One row per story kept, newest first. Search covers title and body "
        "(accents and case ignored). Open an article to read it.",
        "sort_desc": "id",
        "facets": ["source", "language", {"date": "published"}],
        "fts_table": "articles_fts",
        "fts_pk": "id",
        "label_column": "title",
    }
    tables["sightings"] = {
        "description": "Every place and time a story was seen: the original, "
        "and the copies folded into it (same URL, exact, near).",
        "facets": ["source", "kind"],
        "sort_desc": "last_seen",
    }
    tables["forgotten"] = {
        "description": "The articles taken out by hand (newswatch forget ID --reason ...): left out of the "
        "articles and sightings tables, the saved queries and the counts; `newswatch forget --undo ID` "
        "brings one back.",
        "sort_desc": "forgotten_at",
    }
    tables["story_overrides"] = {
        "description": "The stories' splits and merges made by hand (newswatch stories split / merge): "
        "later runs never undo them.",
        "sort_desc": "id",
    }
    tables["pages"] = {
        "description": "URLs fetched that did not become an article, and why.",
        "facets": ["source", "outcome", "error_kind"],
        "sort_desc": "last_attempt",
    }
    tables["source_runs"] = {
        "description": "One row per source and ingest run.",
        "facets": ["source", "ok"],
        "sort_desc": "id",
    }
    return {
        "title": "newswatch reading room",
        "description": "The newswatch archive, read-only.",
        # The home's picture of the last 30 days: a row per configured source and per rule.
        "plugins": {"newswatch": {"sources": [name for name, _ in sources], "rules": [r.name for r in rules]}},
        "databases": {
            database: {
                "tables": tables,
                "queries": canned_queries([(r.name, r.query, r.sources) for r in rules], sources),
            }
        },
    }


def make_datasette(archive_path: Path, config=None):
    """The Datasette instance serving `archive_path` read-only (startup hooks not yet run)."""
    from datasette.app import Datasette

    return Datasette(
        [str(archive_path)],
        metadata=metadata(config, Path(archive_path).stem),
        plugins_dir=str(PLUGINS_DIR),
        template_dir=str(TEMPLATES_DIR),
        settings=SETTINGS,
    )
