"""`newswatch demo`: the whole offline demo, run as a user runs it (one subprocess)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PASSEURS_TITLE = "L’OIM appelle à protéger les migrants exposés aux réseaux de passeurs en Méditerranée centrale"


@pytest.mark.flow
def test_demo_archives_folds_a_duplicate_and_emails_the_matching_article(tmp_path: Path) -> None:
    env = dict(
        os.environ,
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        DO_NOT_TRACK="1",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PYTHONIOENCODING="utf-8",
    )
    env.pop("PREFECT_API_URL", None)  # the demo's own temporary Prefect server
    newswatch = Path(sys.executable).with_name("newswatch")
    keep = tmp_path / "kept"
    proc = subprocess.run(
        [str(newswatch), "demo", "--keep", str(keep)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=280,
    )
    out = proc.stdout
    assert proc.returncode == 0, proc.stdout + proc.stderr

    archived = out.split("== articles archived by this run", 1)[1].split("\n== ", 1)[0]
    rows = re.findall(r"^\s+#(\d+)\s+(\S+)\s+(.+)$", archived, re.M)
    assert len(rows) == 4, archived
    assert {source for _, source, _ in rows} == {"iom-demo", "apr-demo"}
    assert PASSEURS_TITLE in [title for _, _, title in rows]

    folded = out.split("== duplicates folded", 1)[1].split("\n== ", 1)[0]
    assert re.search(
        r"^\s+apr-demo: http://127\.0\.0\.1:\d+/actualites/niger-|^\s+iom-demo: http://127\.0\.0\.1:\d+/fr/news/loim-et-le-niger",
        folded,
        re.M,
    ), folded
    assert len(re.findall(r"as a near duplicate, similarity 0\.\d\d", folded)) == 1, folded

    mail = out.split("== email received by the SMTP sink: ", 1)[1].split("\n== ", 1)[0]
    assert mail.startswith("1\n"), mail
    assert f"Subject: [newswatch] 1 new article for passeurs: {PASSEURS_TITLE}" in mail
    assert "To:      analyst@example.org" in mail
    assert re.search(r"^\s+iom-demo · 2024-03-12$", mail, re.M), mail  # the plain-text part

    assert "prefect server start" in out.split("== the run in the Prefect UI", 1)[1]
    # --keep: the archive and the config stay, and the archive holds what was printed.
    from storage.archive import Archive

    assert (keep / "newswatch-demo.yaml").is_file()
    with Archive.open(keep / "archive.db") as archive:
        stored = {a.id: a.title for a in archive.iter_articles()}
    assert stored == {int(i): title for i, _, title in rows}
