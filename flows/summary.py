"""The summary printed at the end of `newswatch run` (plain text, one line per source)."""
from __future__ import annotations


def format_summary(summary: dict) -> str:
    rows = [("source", "discovered", "new", "dupl.", "not art.", "errors", "state")]
    for s in summary["sources"]:
        state = ("SKIPPED" if s.get("skipped") else "FAILED" if s["failed"]
                 else "unchanged" if s["unchanged"] else "ok")
        rows.append((s["source"], str(s["discovered"]), str(s["new"]), str(sum(s["duplicates"].values())),
                     str(s["not_articles"]), str(len(s["errors"])), state))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i in (0, 6) else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in rows]
    failures = [(s["source"], s["failed"]) for s in summary["sources"] if s["failed"]]
    failures += [(s["source"], s["skipped"]) for s in summary["sources"] if s.get("skipped")]
    errors = [(s["source"], e) for s in summary["sources"] for e in s["errors"]]
    if failures or errors:
        lines.append("")
        lines += [f"{src}: {msg}" if msg.startswith("skipped") else f"{src}: FAILED: {msg}"
                  for src, msg in failures]
        lines += [f"{src}: {msg}" for src, msg in errors[:50]]
        if len(errors) > 50:
            lines.append(f"... and {len(errors) - 50} more errors (newswatch sources shows the state per source)")
    new = [a for s in summary["sources"] for a in s["new_articles"]]
    if new:
        lines += ["", f"{len(new)} new article(s):"]
        lines += [f"  #{a['id']} {a['title'] or a['url']}" for a in new[:30]]
    if summary.get("alerts_sent") or summary.get("alert_errors"):
        lines += ["", f"alerts: {summary['alerts_sent']} email(s) sent"]
    if summary.get("health_alerts_sent"):
        lines.append(f"source health: {summary['health_alerts_sent']} email(s) sent about unhealthy sources")
    lines += [f"alerts: FAILED: {e} (pending; the next run or `newswatch alerts retry` sends it)"
              for e in summary.get("alert_errors", [])]
    if summary.get("feeds_written"):
        lines.append(f"feeds: {summary['feeds_written']} Atom feed(s) rewritten")
    lines += [f"FAILED: {e}" for e in summary.get("feed_errors", [])]
    for e in summary.get("rule_errors", []):
        lines.append(f"alert rule skipped: {e}")
    return "\n".join(lines)
