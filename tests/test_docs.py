"""The commands shown in README.md and docs/*.md are real, and some of their outputs are checked.

What this checks, and what it does not (keep in step with docs/internals.md "Development"):
- every command line of a ```console block (`$ ...`) and of a ```sh block, and every inline
  `newswatch ...` span without placeholders, split at `;`, `&&`, `||`, `|`, `&` and `for` loops:
  a `newswatch` invocation parses with the real parser (`flows.cli.main.build_parser`), a
  `make TARGET` names a Makefile target, a `python bench/X.py --opt` names an existing bench
  script that declares `--opt`. Other programs (`prefect`, `curl`, `git`, ...) are not checked.
- the README's two commands are `make run` and `make test`, and CI (`.ci/run`) runs `make test`.
- every relative link of README.md and docs/*.md names an existing file, and its `#anchor` a
  heading of that file.
- the console blocks of some sections (RUNNABLE below) are run, in order, in a temporary
  directory with a fresh archive, and each command's shown output must appear in what it
  prints, line by line and in order (whitespace folded; `…` and `[...]` in a shown line stand for
  any text; lines `[… N more …]` are not compared; `127.0.0.1:PORT` matches any port). Those
  are the commands that need no network, no Prefect and no server but a local web site
  (`_site`, for `sources add`). The rest of the outputs shown (runs, `demo`, `serve`, `status`,
  emails, Prefect UI pages) are real runs' transcripts, not re-run here.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from helpers import newswatch

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@dataclass
class Command:
    doc: Path
    line: int
    text: str  # the command line as shown, without `$ `
    output: list[str] = field(default_factory=list)  # the lines shown after it (console blocks)
    section: str = ""
    block: int = 0  # index of its code block in the doc

    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


def _commands(doc: Path) -> list[Command]:
    """Every command line of the doc's console and sh code blocks, with the output shown."""
    found: list[Command] = []
    lang: str | None = None
    section = ""
    block = 0
    current: Command | None = None
    for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("```"):
            if lang is None:
                lang = line[3:].strip() or "text"
                block += 1
            else:
                lang, current = None, None
            continue
        if lang is None:
            if line.startswith("## ") or line.startswith("### "):
                section = line.lstrip("#").strip()
            continue
        if lang == "console":
            if line.startswith("$ "):
                current = Command(doc, number, line[2:], section=section, block=block)
                found.append(current)
            elif current is not None:
                current.output.append(line)
        elif lang in ("sh", "bash", "shell") and line.strip() and not line.lstrip().startswith("#"):
            found.append(Command(doc, number, line.strip(), section=section, block=block))
    return found


INLINE_PLACEHOLDER = re.compile(r"\[|\||…|\.\.\.|\b[A-Z][A-Z_]{1,}\b|<|\bN\b")


def _inline_commands(doc: Path) -> list[Command]:
    """Inline `newswatch ...` spans of the prose that name no placeholder (NAME, [--opt], ...)."""
    found = []
    in_code = False
    for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            continue
        for span in re.findall(r"`(newswatch [^`]+)`", line):
            if not INLINE_PLACEHOLDER.search(span):
                found.append(Command(doc, number, span))
    return found


ALL = [c for doc in DOCS for c in _commands(doc)]
INLINE = [c for doc in DOCS for c in _inline_commands(doc)]


def _expand_for(text: str) -> str:
    """`for v in a b; do CMD $v; done` -> `CMD a; CMD b`."""
    m = re.fullmatch(r"\s*for (\w+) in ([^;]+); do (.+); done(.*)", text)
    if not m:
        return text
    var, values, body, rest = m.groups()
    return "; ".join(body.replace("$" + var, v) for v in values.split()) + rest


def simple_commands(text: str) -> list[list[str]]:
    """The argv of each simple command of a shell line (redirections and env prefixes dropped)."""
    lexer = shlex.shlex(_expand_for(text), posix=True, punctuation_chars=";&|<>")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    commands: list[list[str]] = [[]]
    skip_next = False
    for token in lexer:
        if skip_next:
            skip_next = False
            continue
        if token in (";", "&&", "||", "|", "&"):
            commands.append([])
        elif token in (">", ">>", "<", "2>", "&>"):
            skip_next = True
        elif not commands[-1] and re.fullmatch(r"\w+=.*", token):
            continue  # an environment assignment before the command
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def _parser():
    from flows.cli.main import build_parser

    return build_parser()


def _check_invocation(argv: list[str], parser, naming: bool = False) -> str | None:
    """None when argv is a valid invocation of a program this project defines, else why not.

    `naming`: the prose names a command (`newswatch search`) without its required arguments."""
    prog = argv[0]
    if prog in ("newswatch", ".venv/bin/newswatch"):
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err):
                parser.parse_args(argv[1:])
        except SystemExit as e:
            if e.code == 0:
                return None
            said = err.getvalue().strip().splitlines()[-1:]
            if naming and re.search(r"arguments are required|expected one argument", err.getvalue()):
                return None
            return f"newswatch refuses {argv[1:]!r} (exit {e.code}): {' '.join(said)}"
        return None
    if prog == "make":
        targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))
        for arg in argv[1:]:
            if "=" not in arg and arg not in targets:
                return f"no Makefile target {arg!r}"
        return None
    if prog in ("python", "python3", ".venv/bin/python") and len(argv) > 1 and argv[1].startswith("bench/"):
        script = ROOT / argv[1]
        if not script.is_file():
            return f"no file {argv[1]}"
        source = script.read_text(encoding="utf-8")
        for arg in argv[2:]:
            opt = arg.split("=", 1)[0]
            if opt.startswith("--") and f'"{opt}"' not in source:
                return f"{argv[1]} declares no option {opt}"
        return None
    return None  # another program: not ours to check


def test_the_docs_show_commands_at_all():
    # The extraction itself: if it found nothing, every other test here would pass vacuously.
    newswatch = [c for c in ALL if any(a[0].endswith("newswatch") for a in simple_commands(c.text))]
    assert len(newswatch) > 60, len(newswatch)
    assert len(INLINE) > 30, len(INLINE)
    assert any(c.text.startswith("make ") for c in ALL)


@pytest.mark.parametrize("kind", ["blocks", "inline"])
def test_every_command_shown_is_a_valid_invocation(kind):
    parser = _parser()
    wrong = []
    checked = 0
    for command in ALL if kind == "blocks" else INLINE:
        for argv in simple_commands(command.text):
            if argv[0] in ("newswatch", ".venv/bin/newswatch", "make") or argv[0].startswith("python"):
                checked += 1
            problem = _check_invocation(argv, parser, naming=kind == "inline")
            if problem:
                wrong.append(f"{command.where()}: {command.text}\n    {problem}")
    assert checked > 30
    assert not wrong, "commands in the docs that do not run as shown:\n" + "\n".join(wrong)


def test_the_invocation_check_refuses_what_is_wrong():
    parser = _parser()
    assert _check_invocation(["newswatch", "search", "--nosuch"], parser)
    assert _check_invocation(["newswatch", "nosuch"], parser)
    assert _check_invocation(["newswatch", "search"], parser)
    assert _check_invocation(["newswatch", "search"], parser, naming=True) is None
    assert _check_invocation(["newswatch", "nosuch"], parser, naming=True)
    assert _check_invocation(["make", "nosuch"], parser)
    assert _check_invocation(["python", "bench/ingest.py", "--nosuch"], parser)
    assert _check_invocation(["newswatch", "search", "--since", "2024-01-01", "x"], parser) is None
    assert simple_commands("for o in a b; do newswatch import x/$o/ --source $o; done") == [
        ["newswatch", "import", "x/a/", "--source", "a"],
        ["newswatch", "import", "x/b/", "--source", "b"],
    ]
    assert simple_commands('X=1 newswatch run; echo "exit $?" > f') == [["newswatch", "run"], ["echo", "exit $?"]]


def test_the_readme_starts_with_the_two_commands_ci_runs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = readme.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in first_block.splitlines()]
    assert commands == ["make run", "make test"]
    assert readme.index("```sh") < readme.index("\n## ")  # before any section
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)
    targets = re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M)
    assert "run" in targets and "test" in targets


def _anchor(heading: str) -> str:
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(doc: Path) -> set[str]:
    anchors, in_code = set(), False
    for line in doc.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and re.match(r"#{1,6} ", line):
            anchors.add(_anchor(line.lstrip("#")))
    return anchors


def test_every_link_of_the_docs_leads_somewhere():
    broken = []
    links = 0
    for doc in DOCS:
        text = re.sub(r"```.*?```", "", doc.read_text(encoding="utf-8"), flags=re.S)
        text = re.sub(r"`[^`\n]*`", "", text)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # http:, https:, mailto:
            links += 1
            path, _, anchor = target.partition("#")
            dest = (doc.parent / path).resolve() if path else doc
            if not dest.exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target}: no such file")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                broken.append(f"{doc.relative_to(ROOT)}: {target}: no such heading")
    assert links > 30
    assert not broken, "\n".join(broken)


# --- running a cheap subset ------------------------------------------------------------------

# (doc, section): the sections whose console blocks run, in order, in one temporary directory.
# `skip`: commands that need what the directory does not have (a page of the reader's, a server):
# they are parsed by the test above, not run, and their output (if shown) is not compared.
RUNNABLE = {
    ("docs/internals.md", "Cleaning pages: `newswatch clean`"): {"setup": ["touch empty.html"], "skip": []},
    ("docs/user-guide.md", "Searching the archive: `newswatch search`, `show`, `export`"): {
        "setup": [],
        "skip": ["newswatch import page.html", "newswatch browse"],
    },
    ("docs/user-guide.md", "Stories: `newswatch stories`"): {"setup": [], "skip": []},
    ("docs/user-guide.md", "Sources and rules from the command line"): {
        "setup": [
            "cat > newswatch.yaml <<'EOF'\n"
            "archive: archive.db\n"
            "allow_private_networks: true\n"  # the site is a local server
            "smtp: {host: 127.0.0.1, port: 2525, sender: newswatch@example.org}\n"
            "sources:\n"
            "  - name: iom-fr\n"
            "    url: https://www.iom.int/fr/news\n"
            "  - name: apr\n"
            "    url: https://www.apr-news.fr/\n"
            "  - name: lexisveille\n"
            "    url: https://www.lexisveille.fr/\n"
            "alerts:\n"
            "  - name: frontex\n"
            "    query: Frontex\n"
            "    to: [ana@example.org, ben@example.org]\n"
            "    mode: digest\n"
            "    sources: [apr]\n"
            "EOF",
            "cat > freshrss-export.opml <<'EOF'\n"
            '<?xml version="1.0"?><opml version="2.0"><body>\n'
            '<outline text="Le Monde Afrique" xmlUrl="https://www.lemonde.fr/afrique/rss_full.xml"/>\n'
            '<outline text="OIM" xmlUrl="https://www.iom.int/fr/news"/>\n'
            "</body></opml>\n"
            "EOF",
        ],
        # `sources add` checks its URL: the site is a local server (`_site`), on another port
        # than the transcript's (ports are compared as PORT)
        "site": True,
        "skip": [],
    },
}


def _site():
    """The local site the sources-and-rules transcript adds: an RSS feed of two articles, and an
    English listing page advertising a French and an English feed."""
    from fake_sites import rss_feed
    from httpserver import LocalServer, Reply, html

    server = LocalServer().start()
    rss = "application/rss+xml; charset=utf-8"
    server.routes["/international/rss.xml"] = Reply(
        body=rss_feed(server.base, [(f"/actualites/article-{i}", f"Article {i}") for i in range(2)]), content_type=rss
    )
    server.routes["/en/news"] = html(
        '<!doctype html><html lang="en"><head><title>News</title>'
        '<link rel="alternate" type="application/rss+xml" href="/fr/rss.xml">'
        '<link rel="alternate" type="application/rss+xml" href="/en/rss.xml"></head><body></body></html>'
    )
    for lang, n in (("fr", 2), ("en", 3)):
        entries = [(f"/{lang}/news/article-{i}", f"Article {lang} {i}") for i in range(n)]
        server.routes[f"/{lang}/rss.xml"] = Reply(body=rss_feed(server.base, entries), content_type=rss)
    return server


LOCAL = re.compile(r"127\.0\.0\.1:\d+")


def _shown(line: str) -> re.Pattern[str] | None:
    """A shown output line as a pattern (None: not compared)."""
    line = " ".join(LOCAL.sub("127.0.0.1:PORT", line).split())
    if not line or line.startswith("[…") or line in ("…", "..."):
        return None
    parts = re.split(r"…|\[\.\.\.\]", line)
    return re.compile(".*".join(re.escape(p) for p in parts))


def _compare(shown: list[str], printed: str) -> list[str]:
    """The shown lines not found in what was printed, in order."""
    actual = [" ".join(LOCAL.sub("127.0.0.1:PORT", line).split()) for line in printed.splitlines()]
    missing, at = [], 0
    for line in shown:
        pattern = _shown(line)
        if pattern is None:
            continue
        for i in range(at, len(actual)):
            if pattern.fullmatch(actual[i]):
                at = i + 1
                break
        else:
            missing.append(line)
    return missing


def test_compare_reads_ellipses_as_any_text_and_keeps_the_order():
    printed = "#9  x  import  Calais : le\n    file:///tmp/a/pages/c.txt\n1 result\n"
    assert _compare(["#9 x import Calais : le", "    file:///…/pages/c.txt", "1 result"], printed) == []
    assert _compare(["1 result", "#9 x import Calais : le"], printed) == ["#9 x import Calais : le"]
    assert _compare(["2 results"], printed) == ["2 results"]
    assert _compare(["[… 2 more …]"], "") == []


@pytest.mark.parametrize("doc,section", list(RUNNABLE), ids=[s.split(":")[0] for _, s in RUNNABLE])
def test_the_outputs_shown_are_what_the_commands_print(doc, section, tmp_path):
    spec = RUNNABLE[(doc, section)]
    commands = [c for c in ALL if c.doc == ROOT / doc and c.section == section and c.output is not None]
    commands = [c for c in commands if c.doc.read_text(encoding="utf-8").splitlines()[c.line - 1].startswith("$ ")]
    assert commands, f"no console command in {doc} {section!r}"
    (tmp_path / "tests").symlink_to(ROOT / "tests")
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["NEWSWATCH_ARCHIVE"] = str(tmp_path / "archive.db")
    env.pop("NEWSWATCH_CONFIG", None)  # ./newswatch.yaml, in tmp_path: never the checkout's
    env.pop("PREFECT_API_URL", None)
    for line in spec["setup"]:
        subprocess.run(line, shell=True, cwd=tmp_path, check=True)
    site = _site() if spec.get("site") else None
    failures, compared = [], 0
    try:
        for command in commands:
            if any(command.text.startswith(s) for s in spec["skip"]):
                continue  # parsed by the test above, its output not compared
            text = LOCAL.sub(site.base.removeprefix("http://"), command.text) if site else command.text
            compared += _run_and_compare(command, text, tmp_path, env, failures)
    finally:
        if site:
            site.stop()
    assert compared >= 5, compared
    assert not failures, "\n\n".join(failures)


# What only a shell understands: pipes, redirections, lists, expansions, globs.
SHELL_SYNTAX = re.compile(r"[|&;<>$`*?~]|\\")
HEAD = re.compile(r"\s*\|\s*head -(\d+)\s*$")


def _in_process(text: str, cwd: Path, env: dict) -> str | None:
    """What a line of plain newswatch commands prints (a `for` loop over words, `| head -N`),
    run through the command's entry point in this process as the CLI tests run it: a bash and
    a Python start per line cost most of this test's time. None for any other shell line."""
    head = HEAD.search(text)
    lines = _expand_for(text[: head.start()] if head else text).split("; ")
    if any(SHELL_SYNTAX.search(line) or not line.startswith("newswatch ") for line in lines):
        return None
    printed = "".join(
        newswatch(*shlex.split(line)[1:], cwd=cwd, env=env, stderr_to_stdout=True).stdout for line in lines
    )
    return "".join(printed.splitlines(keepends=True)[: int(head.group(1))]) if head else printed


def _run_and_compare(command: Command, text: str, cwd: Path, env: dict, failures: list[str]) -> int:
    """Run one command line; note what of its shown output it did not print. The lines compared."""
    printed = _in_process(text, cwd, env)
    if printed is None:
        printed = subprocess.run(
            ["bash", "-c", text],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
        ).stdout
    missing = _compare(command.output, printed)
    if missing:
        failures.append(
            f"{command.where()}: $ {command.text}\n  shown, not printed:\n"
            + "\n".join("    " + line for line in missing)
            + "\n  printed:\n"
            + "\n".join("    " + line for line in printed.splitlines()[:40])
        )
    return len([line for line in command.output if _shown(line)])
