#!/usr/bin/env bash
# Screenshots for docs/ (docs/img/), after one `newswatch demo` run (the reading room's home,
# docs/img/reading-room-picture.png, needs a month of history: tests/test_reading_room_browser.py
# makes it, NEWSWATCH_SCREENSHOTS=docs/img .venv/bin/python -m pytest tests/test_reading_room_browser.py -k pictures):
#   docs/img/flow-run.png               the ingest flow run in the Prefect UI (task runs, logs)
#   docs/img/ingest-summary.png         its `ingest-summary` markdown artifact
#   docs/img/runs-needs-attention.png   the runs list with a run that needs attention (Failed)
#   docs/img/reading-room-search.png    a search in the articles, with facets
#   docs/img/reading-room-article.png   an article page: text, contacts, sightings
#
# Starts `prefect server start` on a free port with a temporary PREFECT_HOME, runs the demo
# against it (keeping its archive), serves the archive with `newswatch browse`, takes
# headless-Chromium screenshots, then stops both servers. No network needed.
# Usage: docs/screenshots.sh [OUTDIR]     (default docs/img; needs chromium: apt-get install chromium,
#        and the browse extra: .venv/bin/pip install -c constraints.txt -e '.[browse]')
# Env:   CHROMIUM (browser binary), BUDGET_MS (virtual time given to the UI to render, default 20000)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/docs/img}
BIN=$ROOT/.venv/bin
[ -x "$BIN/newswatch" ] || BIN=$(dirname "$(command -v newswatch)")
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
BUDGET_MS=${BUDGET_MS:-20000}
[ -n "$CHROMIUM" ] || { echo "screenshots.sh: chromium not found (apt-get install chromium, or set CHROMIUM)" >&2; exit 1; }
mkdir -p "$OUT"

WORK=$(mktemp -d -t newswatch-screenshots-XXXXXX)
SERVER_PID=
BROWSE_PID=
cleanup() {
    for pid in "$SERVER_PID" "$BROWSE_PID"; do
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

export PREFECT_HOME=$WORK/prefect-home DO_NOT_TRACK=1 PREFECT_SERVER_ANALYTICS_ENABLED=false
PORT=$(cd "$ROOT" && "$BIN/python" -c 'from core.ports import free_port; print(free_port())')
API=http://127.0.0.1:$PORT/api
UI=http://127.0.0.1:$PORT

echo "starting a Prefect server on $UI (log: $WORK/server.log)"
# The UI's pages call the API at PREFECT_UI_API_URL (default http://127.0.0.1:4200/api).
PREFECT_UI_API_URL=$API "$BIN/prefect" server start --host 127.0.0.1 --port "$PORT" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 120); do
    if "$BIN/python" -c "import sys, urllib.request; urllib.request.urlopen('$API/health', timeout=2)" 2>/dev/null; then
        break
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
    sleep 1
done

echo "running the demo against it"
PREFECT_API_URL=$API "$BIN/newswatch" demo --keep "$WORK/demo" >"$WORK/demo.out" 2>"$WORK/demo.err" \
    || { cat "$WORK/demo.out" "$WORK/demo.err" >&2; exit 1; }
RUN_ID=$(grep -o '/runs/flow-run/[0-9a-f-]*' "$WORK/demo.out" | head -1 | sed 's,.*/,,')
[ -n "$RUN_ID" ] || { echo "screenshots.sh: no flow run id in the demo's output" >&2; cat "$WORK/demo.out" >&2; exit 1; }
echo "flow run $RUN_ID"

shot() {  # shot URL FILE [WIDTH,HEIGHT]
    "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run --disable-quic \
        --user-data-dir="$WORK/chromium" --window-size="${3:-1600,1000}" --hide-scrollbars \
        --virtual-time-budget="$BUDGET_MS" --screenshot="$2" "$1" >>"$WORK/chromium.log" 2>&1
    echo "wrote $2"
}
shot "$UI/runs/flow-run/$RUN_ID" "$OUT/flow-run.png"
# /artifacts/key/ingest-summary lists the versions of the key without their content: the
# page of the run's own artifact renders the markdown.
ARTIFACT_ID=$("$BIN/python" - "$API" "$RUN_ID" <<'PY'
import json, sys, urllib.request
api, run_id = sys.argv[1:]
query = {"artifacts": {"key": {"any_": ["ingest-summary"]}, "flow_run_id": {"any_": [run_id]}},
         "sort": "CREATED_DESC", "limit": 1}
request = urllib.request.Request(f"{api}/artifacts/filter", data=json.dumps(query).encode(),
                                 headers={"Content-Type": "application/json"})
found = json.load(urllib.request.urlopen(request, timeout=10))
print(found[0]["id"] if found else "")
PY
)
[ -n "$ARTIFACT_ID" ] || { echo "screenshots.sh: the run published no ingest-summary artifact" >&2; exit 1; }
shot "$UI/artifacts/artifact/$ARTIFACT_ID" "$OUT/ingest-summary.png"

# A run that needs attention (a source whose host does not answer): its flow run ends Failed,
# and the runs list shows it red next to the demo's green one.
echo "running a source that is down against it (exit 3 expected)"
printf 'archive: %s\nsources:\n  - {name: iom-fr, url: "http://127.0.0.1:9/fr/news", profile: iom, delay: 0}\n' \
    "$WORK/down.db" >"$WORK/down.yaml"
set +e
PREFECT_API_URL=$API "$BIN/newswatch" run --config "$WORK/down.yaml" >"$WORK/down.out" 2>"$WORK/down.err"
status=$?
set -e
[ "$status" = 3 ] || { echo "screenshots.sh: the run of a source that is down exited $status, not 3" >&2; cat "$WORK/down.out" "$WORK/down.err" >&2; exit 1; }
shot "$UI/runs" "$OUT/runs-needs-attention.png" 1600,1000

echo "serving the demo's archive with newswatch browse"
BROWSE_PORT=$(cd "$ROOT" && "$BIN/python" -c 'from core.ports import free_port; print(free_port())')
ROOM=http://127.0.0.1:$BROWSE_PORT
"$BIN/newswatch" browse --config "$WORK/demo/newswatch-demo.yaml" --port "$BROWSE_PORT" --no-open \
    >"$WORK/browse.log" 2>&1 &
BROWSE_PID=$!
for _ in $(seq 1 60); do
    "$BIN/python" -c "import urllib.request; urllib.request.urlopen('$ROOM/', timeout=2)" 2>/dev/null && break
    kill -0 "$BROWSE_PID" 2>/dev/null || { cat "$WORK/browse.log" >&2; exit 1; }
    sleep 0.5
done
# The story the demo folded a republication into: its page shows "Also published by".
ARTICLE=$("$BIN/python" - "$WORK/demo/archive.db" <<'PY'
import sqlite3, sys
conn = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
row = conn.execute("SELECT article_id FROM sightings WHERE kind = 'near' LIMIT 1").fetchone() \
    or conn.execute("SELECT min(id) FROM articles").fetchone()
print(row[0])
PY
)
shot "$ROOM/archive/articles?_search=migrants&_col=title&_col=source&_col=published&_col=language&_col=canonical_url" \
    "$OUT/reading-room-search.png" 1280,900
shot "$ROOM/archive/articles/$ARTICLE" "$OUT/reading-room-article.png" 1280,1000
