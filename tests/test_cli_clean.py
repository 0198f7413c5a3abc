"""`newswatch clean` on the fixture page dumps, through the command's entry point (a process for -X importtime)."""

from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path

from helpers import newswatch as run_newswatch
from helpers import newswatch_process

ROOT = Path(__file__).resolve().parent.parent
PAGES = Path(__file__).resolve().parent / "fixtures" / "pages"
APRNEWS = PAGES / "aprnews-fr-saisonniers.txt"
IOM = PAGES / "iom-fr-wrapped-haiti.txt"


def newswatch(*args: str | Path, python_flags: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    if python_flags:
        return newswatch_process("clean", *args, python_flags=python_flags)
    return run_newswatch("clean", *args, cwd=ROOT)


def json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_json_one_object_per_page_for_a_directory():
    result = newswatch(PAGES, "--json")
    assert result.returncode == 0, result.stderr
    pages = json_lines(result.stdout)
    assert [Path(p["path"]).name for p in pages] == sorted(p.name for p in PAGES.glob("*.txt"))
    for page in pages:
        assert {"title", "date", "body", "paragraphs", "contacts", "language", "url", "is_article", "path"} <= set(page)
        assert page["body"] == "\n\n".join(page["paragraphs"])
        assert page["is_article"] is True
    assert pages[0]["date"] == "2024-04-17"
    assert pages[0]["title"].startswith("Greece opens a second reception centre")
    assert Path(pages[7]["path"]) == IOM
    assert pages[7]["contacts"][0] == {
        "name": "Ricardo Jean-Baptiste",
        "organisation": "OIM Port-au-Prince",
        "emails": ["rjeanbaptiste@iom.int"],
        "phones": ["+509 2943 0380", "+509 3701 2288"],
    }


def test_readable_rendering():
    result = newswatch(APRNEWS)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith(f"== {APRNEWS}")
    assert "title:    Le Sénégal et l'Espagne élargissent leur programme" in out
    assert "date:     2024-03-05" in out
    assert "language: fr" in out
    assert "article:  yes" in out
    assert "APRNEWS" not in out.split("\n", 1)[1]


def test_readable_rendering_lists_contacts():
    out = newswatch(IOM).stdout
    assert (
        "contacts:\n  - Ricardo Jean-Baptiste, OIM Port-au-Prince; +509 2943 0380; +509 3701 2288; "
        "rjeanbaptiste@iom.int"
    ) in out


def test_readable_rendering_wraps_paragraphs_without_splitting_hyphenated_names():
    out = newswatch(IOM).stdout
    assert "Claudine Pierre-Louis" in out.replace("\n", " ")
    assert "Pierre-\n" not in out
    assert all(len(line) <= 88 for line in out.split("contacts:")[0].splitlines()[6:])


def test_url_and_profile_are_used_and_recorded():
    url = "https://www.iom.int/fr/news/formation-police-frontaliere-haiti"
    (page,) = json_lines(newswatch(IOM, "--json", "--url", url).stdout)
    assert (page["url"], page["profile"]) == (url, "iom")
    (page,) = json_lines(newswatch(IOM, "--json", "--profile", "generic", "--url", url).stdout)
    assert page["profile"] == "generic"


def test_gzipped_input(tmp_path):
    packed = tmp_path / "page.txt.gz"
    packed.write_bytes(gzip.compress(APRNEWS.read_bytes()))
    (page,) = json_lines(newswatch(packed, "--json").stdout)
    assert page["date"] == "2024-03-05"


def test_bad_inputs_give_one_line_each_and_the_others_go_on(tmp_path):
    empty = tmp_path / "empty.html"
    empty.write_bytes(b"")
    binary = tmp_path / "image.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    broken_gz = tmp_path / "broken.gz"
    broken_gz.write_bytes(gzip.compress(b"some text " * 100)[:30])
    missing = tmp_path / "missing.txt"
    result = newswatch(empty, binary, APRNEWS, missing, broken_gz, "--json")
    assert result.returncode == 1
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 4, result.stderr
    for path, error in zip((empty, binary, missing, broken_gz), errors, strict=True):
        assert error.startswith(f"newswatch clean: {path}: ")
    assert "empty" in errors[0] and "PNG" in errors[1] and "No such file" in errors[2] and "gzip" in errors[3]
    assert "Traceback" not in result.stderr
    assert [Path(p["path"]) for p in json_lines(result.stdout)] == [APRNEWS]


def test_a_directory_argument_is_not_read_as_a_file(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_bytes(APRNEWS.read_bytes())
    result = newswatch(tmp_path, "--json")
    assert result.returncode == 0, result.stderr
    assert len(json_lines(result.stdout)) == 1


def test_unknown_profile_is_a_one_line_error():
    result = newswatch(APRNEWS, "--profile", "nosuchsite")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "nosuchsite" in result.stderr and "known profiles" in result.stderr


def test_help_shows_an_example():
    result = newswatch("--help")
    assert result.returncode == 0
    assert "example:" in result.stdout and "newswatch clean" in result.stdout and "--json" in result.stdout


def test_cleaning_a_text_dump_does_not_import_prefect():
    module = "prefect"
    result = newswatch(APRNEWS, python_flags=("-X", "importtime"))
    assert result.returncode == 0
    imported = {
        line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")
    }
    assert not {name for name in imported if name == module or name.startswith(module + ".")}
