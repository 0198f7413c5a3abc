"""The reading room's picture of the archive: the last 30 days, articles per day per source and
alert matches per day per rule, as Vega-Lite heatmaps rendered to SVG on the server.

One row per source (every configured source, those without an article too) and one column per
day: a source that went silent is a row that empties, and a source in trouble (SILENT past its
expected interval, FAILING, never run: the Source health query's judgement) has its name in red
with its state. vl-convert renders the spec with Vega's own JavaScript, bundled in its wheel: no
CDN and no script in the page, so the picture shows offline and in any browser. The spec is
built here from plain rows; `svg(spec)` renders it (~0.8 s for the first chart of a process,
then ~0.1 s; the last few are cached, so a reload with unchanged data costs nothing).
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from functools import lru_cache

DAYS = 30
TROUBLE_COLOR = "#c0392b"


def days_until(today: date, days: int = DAYS) -> list[str]:
    return [(today - timedelta(days=n)).isoformat() for n in range(days - 1, -1, -1)]


def heatmap(
    rows: list[dict], *, row_field: str, count_field: str, names: list[str], today: date, title: str, trouble=None
) -> dict:
    """A Vega-Lite spec: a cell per (day, name) with a count, the last DAYS days to `today`.

    `names`: every row in order (a name without any count keeps its empty row); `trouble`:
    name -> state, shown in red after the name."""
    trouble = trouble or {}
    days = days_until(today)
    values = [r for r in rows if r["day"] in set(days) and r[row_field] in set(names)]
    label = "datum.value"
    if trouble:
        states = json.dumps({name: f"  {state}" for name, state in trouble.items()})
        label = f"datum.value + ({states}[datum.value] || '')"
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": {"text": title, "anchor": "start", "fontSize": 13},
        "width": {"step": 20},
        "height": {"step": 20},
        "data": {"values": values},
        "mark": {"type": "rect", "tooltip": True},
        "encoding": {
            "x": {
                "field": "day",
                "type": "ordinal",
                "scale": {"domain": days},
                "title": None,
                "axis": {"labelAngle": -60, "labelExpr": "substring(datum.value, 5)"},
            },
            "y": {
                "field": row_field,
                "type": "nominal",
                "scale": {"domain": names},
                "title": None,
                "axis": {
                    "labelExpr": label,
                    "labelLimit": 260,
                    "labelColor": {
                        "condition": {
                            "test": f"indexof({json.dumps(sorted(trouble))}, datum.value) >= 0",
                            "value": TROUBLE_COLOR,
                        },
                        "value": "#333",
                    },
                },
            },
            "color": {
                "field": count_field,
                "type": "quantitative",
                "scale": {"scheme": "blues", "domainMin": 0},
                "legend": {"title": count_field},
            },
        },
        "config": {"view": {"stroke": "#ddd"}, "axis": {"grid": False}},
    }


def articles_chart(rows: list[dict], sources: list[str], trouble: dict[str, str], today: date) -> dict:
    return heatmap(
        rows,
        row_field="source",
        count_field="articles",
        names=sources,
        today=today,
        title=f"Articles archived per day, by source (the last {DAYS} days)",
        trouble=trouble,
    )


def matches_chart(rows: list[dict], rules: list[str], today: date) -> dict:
    return heatmap(
        rows,
        row_field="rule",
        count_field="matches",
        names=rules,
        today=today,
        title=f"Alert matches per day, by rule (the last {DAYS} days)",
    )


def svg(spec: dict) -> str:
    """The spec rendered to SVG (vl-convert)."""
    return _render(json.dumps(spec, sort_keys=True))


@lru_cache(maxsize=8)
def _render(spec_json: str) -> str:
    import vl_convert

    return vl_convert.vegalite_to_svg(spec_json)
