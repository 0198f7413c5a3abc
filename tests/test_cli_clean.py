"""`newswatch clean`, run as the user runs it: a subprocess on copies of the seed dumps."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEEDS = Path(__file__).resolve().parent / "fixtures" / "seeds"
APRNEWS = SEEDS / "000_90edce20d07f9177.txt"
IOM = SEEDS / "004_c16ea30f8e629c0b.txt"


def newswatch(*args: str, python_flags: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *python_flags, "-m", "flows.cli", "clean", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_json_one_object_per_page_for_a_directory():
    result = newswatch(SEEDS, "--json")
    assert result.returncode == 0, result.stderr
    pages = json_lines(result.stdout)
    assert [Path(p["path"]).name for p in pages] == sorted(p.name for p in SEEDS.glob("*.txt"))
    for page in pages:
        assert {"title", "date", "body", "paragraphs", "contacts", "language", "url", "is_article", "path"} <= set(page)
        assert page["body"] == "\n\n".join(page["paragraphs"])
        assert page["is_article"] is True
    assert pages[0]["date"] == "2023-12-29"
    assert pages[0]["title"].startswith("Le Mexique et les Etats-Unis décident")
    assert pages[4]["contacts"][0] == {
        "name": "Luis Flores",
        "organisation": "OIM Tapachula",
        "emails": ["lflores@iom.int"],
        "phones": ["+52 962 642 5674", "+52 (1) 962 12 25 469"],
    }


def test_readable_rendering():
    result = newswatch(APRNEWS)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith(f"== {APRNEWS}")
    assert "title:    Le Mexique et les Etats-Unis décident de renforcer" in out
    assert "date:     2023-12-29" in out
    assert "language: fr" in out
    assert "article:  yes" in out
    assert "APRNEWS" not in out.split("\n", 1)[1]


def test_readable_rendering_lists_contacts():
    out = newswatch(IOM).stdout
    assert "contacts:\n  - Luis Flores, OIM Tapachula; +52 962 642 5674; +52 (1) 962 12 25 469; lflores@iom.int" in out


def test_url_and_profile_are_used_and_recorded():
    url = "https://www.iom.int/fr/news/atelier-grupos-beta"
    (page,) = json_lines(newswatch(IOM, "--json", "--url", url).stdout)
    assert (page["url"], page["profile"]) == (url, "iom")
    (page,) = json_lines(newswatch(IOM, "--json", "--profile", "generic", "--url", url).stdout)
    assert page["profile"] == "generic"


def test_gzipped_input(tmp_path):
    packed = tmp_path / "page.txt.gz"
    packed.write_bytes(gzip.compress(APRNEWS.read_bytes()))
    (page,) = json_lines(newswatch(packed, "--json").stdout)
    assert page["date"] == "2023-12-29"


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
    for path, error in zip((empty, binary, missing, broken_gz), errors):
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
