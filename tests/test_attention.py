"""A run that completed but whose alerts did not go out needs attention (`newswatch run` exits
3), like one with a failed source: SMTP down, an alert rule set aside, alert rules and no
`smtp:` section. Real local web and SMTP servers, real archives; the `newswatch` commands run
in a subprocess, recording their flow runs on the session's Prefect server."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from fake_sites import article_page, rss_feed
from httpserver import LocalServer, Reply, html
from smtpserver import SmtpServer, closed_port

ROOT = Path(__file__).resolve().parent.parent
NEWSWATCH = ROOT / ".venv" / "bin" / "newswatch"
ARTICLES = ["/actualites/accord-sur-la-cooperation-migratoire", "/actualites/hausse-des-arrivees-a-lampedusa"]
BROKEN_RULE = "  - {name: broken, query: 'migrants OR', to: ana@example.org}\n"


def newswatch(*args: str, cwd: Path, api_url: str | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NEWSWATCH_"))}
    env.update(PREFECT_HOME=str(cwd / "prefect-home"), DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false")
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return subprocess.run([str(NEWSWATCH), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)


def feed_site(server: LocalServer, paths: list[str]) -> None:
    server.routes.update({p: html(article_page("aprnews", p)) for p in paths})
    server.routes["/rss.xml"] = Reply(
        body=rss_feed(server.base, [(p, p.rsplit("/", 1)[1]) for p in paths]),
        content_type="application/rss+xml; charset=utf-8",
    )


def write_config(directory: Path, server: LocalServer, *, smtp_port: int | None, rules: str) -> Path:
    text = (
        f"archive: {directory / 'archive.db'}\n"
        'user_agent: "newswatch-test/0.1 (+mailto:tests@example.org)"\n'
        "timeouts: {connect: 2, read: 5, total: 20}\n"
        "retries: {attempts: 1, backoff: 0.05, max_backoff: 0.1}\n"
        f"sources:\n  - {{name: apr, url: '{server.url('/rss.xml')}', profile: aprnews, delay: 0}}\n"
    )
    if smtp_port is not None:
        text += (
            f"smtp: {{host: 127.0.0.1, port: {smtp_port}, security: none, password_env: null, "
            "sender: newswatch@test.example, timeout: 5}\n"
        )
    path = directory / "newswatch.yaml"
    path.write_text(text + "alerts:\n" + rules, encoding="utf-8")
    return path


@pytest.mark.flow
def test_smtp_down_and_a_rule_set_aside_exit_3_then_delivered_exits_0(
    tmp_path: Path, http_server: LocalServer, prefect_api_url: str
) -> None:
    feed_site(http_server, ARTICLES)
    rules = "  - {name: all-news, query: 'a*', to: ana@example.org}\n" + BROKEN_RULE
    config = write_config(tmp_path, http_server, smtp_port=closed_port(), rules=rules)

    done = newswatch("run", "--config", str(config), cwd=tmp_path, api_url=prefect_api_url)
    assert done.returncode == 3, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[1].split() == ["apr", "2", "2", "0", "0", "0", "ok"]  # every source is fine
    pending = [line for line in lines if line.startswith("alerts: 1 alert email(s) pending (2 match(es)): ")]
    assert len(pending) == 1 and "cannot reach SMTP server" in pending[0] and "next run" in pending[0]
    assert (
        "alerts: alert rule 'broken' set aside: bad query at column 12: OR needs a word on each side "
        "(e.g. Frontex OR Europol); it matches nothing until it is fixed in the config, and the articles "
        "archived meanwhile will never alert (`newswatch rules test QUERY` shows what a query matches)"
    ) in lines

    # Nothing new to fetch, the email still not sent: still exit 3, and --json says why.
    done = newswatch("run", "--json", "--config", str(config), cwd=tmp_path, api_url=prefect_api_url)
    assert done.returncode == 3, done.stderr
    summary = json.loads(done.stdout)
    assert [s["state"] for s in summary["sources"]] == ["ok"]
    assert summary["attention"] == ["1 email(s) not sent", "1 alert rule(s) set aside"]

    # The SMTP server back, the rule fixed: the pending email goes out, nothing needs attention.
    smtp = SmtpServer().start()
    try:
        rules = "  - {name: all-news, query: 'a*', to: ana@example.org}\n"
        write_config(tmp_path, http_server, smtp_port=smtp.port, rules=rules)
        done = newswatch("run", "--json", "--config", str(config), cwd=tmp_path, api_url=prefect_api_url)
        assert done.returncode == 0, done.stdout + done.stderr
        assert json.loads(done.stdout)["attention"] == []
        assert [m["To"] for m in smtp.messages] == ["ana@example.org"]
    finally:
        smtp.stop()


@pytest.mark.flow
def test_rules_without_an_smtp_section_leave_the_run_needing_attention(
    tmp_path: Path, http_server: LocalServer
) -> None:
    from flows.cli.run import run_exit_status
    from flows.config.loader import load_config
    from flows.pipeline.ingest import ingest_run
    from flows.pipeline.summary import format_summary

    feed_site(http_server, ARTICLES[:1])
    config = write_config(
        tmp_path, http_server, smtp_port=None, rules="  - {name: all-news, query: 'a*', to: ana@example.org}\n"
    )
    summary = ingest_run(load_config(config)).to_dict()
    assert summary["attention"] == ["1 email(s) not sent"] and run_exit_status(summary) == 3
    assert (
        "alerts: 1 alert email(s) pending (1 match(es)): not sent: the config has no smtp: section (or no "
        "alert rule); add it, then `newswatch alerts retry` sends them"
    ) in format_summary(summary).splitlines()


def test_sources_and_status_name_a_rule_set_aside(tmp_path: Path, http_server: LocalServer) -> None:
    config = write_config(tmp_path, http_server, smtp_port=closed_port(), rules=BROKEN_RULE)
    problem = (
        "PROBLEM: alert rule 'broken' set aside: bad query at column 12: OR needs a word on each side "
        "(e.g. Frontex OR Europol); it matches nothing until it is fixed in the config"
    )
    listed = newswatch("sources", "--config", str(config), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert any(line.startswith(problem) for line in listed.stdout.splitlines())
    status = newswatch("status", "--config", str(config), cwd=tmp_path)
    assert status.returncode == 3, status.stderr  # needs attention
    assert any(line.startswith(problem) for line in status.stdout.splitlines())
    as_json = newswatch("sources", "--json", "--config", str(config), cwd=tmp_path)
    assert [json.loads(line)["name"] for line in as_json.stdout.splitlines()] == ["apr"]
    assert any(line.startswith(problem) for line in as_json.stderr.splitlines())


@pytest.mark.flow
@pytest.mark.parametrize(
    "rules",
    ["  []\n", "  - {name: all-news, query: 'a*', to: ana@example.org}\n"],
    ids=["completed", "needing-attention"],
)
def test_a_final_state_read_back_from_the_server_still_gives_the_runs_summary(
    prefect_harness: None, tmp_path: Path, http_server: LocalServer, rules: str
) -> None:
    """The state Prefect hands back when setting the final state had to be tried again (a Prefect
    server on SQLite, its database locked for 60 s) is the server's copy, without the flow's
    return value: `newswatch run` printed a MissingResult traceback and exited 1 for a run that
    had stored every page. The summary comes from the run itself, Completed or needing attention."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import MissingResult

    from flows.orchestration.ingest_flow import ingest, summary_of

    feed_site(http_server, ARTICLES)
    config = write_config(tmp_path, http_server, smtp_port=None, rules=rules)
    state = ingest(config_path=str(config), return_state=True)
    with get_client(sync_client=True) as client:
        from_server = client.read_flow_run(state.state_details.flow_run_id).state
    assert from_server.type == state.type and from_server.is_completed() == (rules == "  []\n")
    if from_server.is_completed():
        with pytest.raises(MissingResult):
            from_server.result()
    summary = summary_of(from_server)
    assert summary is not None and [(s["source"], s["new"]) for s in summary["sources"]] == [("apr", 2)]
    assert summary["attention"] == ([] if rules == "  []\n" else ["1 email(s) not sent"])
