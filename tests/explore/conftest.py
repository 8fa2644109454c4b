"""A small archive for the explore tests, built for real once: gen_articles batches plus a few
hand-written articles (Arabic, hostile values, known phrases, a 20 MB text), in two versions, and
an independent DuckDB count to check every number against."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SHARED

GEN = SHARED / "tools" / "gen_articles.py"
BIG_CHARS = 20_000_000
HOSTILE_TITLE = '<script>alert(1)</script>"><img src=x onerror=alert(2)> \u202eevil\u202c'


def _rid(i: int) -> str:
    return f"{0xe0000 + i:032x}"


def handmade() -> list[dict]:
    """Articles whose words the tests know (ids 00..e00NN)."""
    base = {"source": "Le Test", "language": "fr", "published_date": "2021-03-15"}
    rows = [
        {**base, "id": _rid(1), "title": "Zèbre au zoo", "text": "Le passage zebra crossing est repeint."},
        {**base, "id": _rid(2), "title": "Autre", "text": "Un crossing zebra dans l'autre ordre.",
         "published_date": "2021-03-16"},
        {**base, "id": _rid(3), "title": "Crossing", "text": "Rien sur les zèbres ici, seulement le crossing.",
         "published_date": "2021-04-02"},
        {**base, "id": _rid(4), "title": HOSTILE_TITLE, "text": "Texte <b>gras</b> javascript:alert(3) zebra.",
         "source": '"><svg onload=alert(4)>'},
        {"id": _rid(5), "source": "هسبريس", "language": "ar", "published_date": "2021-03-20",
         "title": "الرباط تحتضن مؤتمرا", "text": "احتضنت الرباط اليوم مؤتمرا حول التنمية والاستثمار."},
    ]
    return rows


def big_article() -> dict:
    sentence = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. "
    text = (sentence * (BIG_CHARS // len(sentence) + 1))[:BIG_CHARS]
    return {"id": _rid(99), "source": "Le Test", "language": "fr", "published_date": "2021-05-01",
            "title": "Un très long article", "text": text, "url": "https://example.org/long"}


def _write(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def _gen(path: Path, n: int, seed: int) -> list[dict]:
    subprocess.run([sys.executable, str(GEN), str(n), str(path), "--seed", str(seed)], check=True,
                   capture_output=True)
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="session")
def explore_archive(tmp_path_factory) -> Path:
    """Version 1: 300 generated + the hand-made articles; version 2: 120 generated + a 20 MB article."""
    from toolkit.archive import append

    folder = tmp_path_factory.mktemp("explore")
    generated = _gen(folder / "gen.jsonl", 420, 11)  # ids follow the line number: one run, cut in two
    first = generated[:300] + handmade()
    second = generated[300:] + [big_article()]
    root = folder / "archive"
    one = append([_write(folder / "batch1.jsonl", first)], archive=root, progress=False)
    assert one.appended == len(first), one.as_dict()
    two = append([_write(folder / "batch2.jsonl", second)], archive=root, progress=False)
    assert two.appended == len(second), two.as_dict()
    return root


# --- the independent count: plain SQL over the archive's articles ------------------------------------
def regex_for(word: str) -> str:
    """A case-insensitive RE2 pattern for the word (or words, anything but letters and digits between)
    as tantivy's tokenizer cuts them (RE2's \\b and \\W are ASCII-only: "Lions à Atlas" is no phrase)."""
    other = r"[^\pL\pN]"
    return rf"(?i)(^|{other})" + rf"{other}+".join(re.escape(p) for p in word.split()) + rf"({other}|$)"


def sql_count(root: Path, condition: str, *, as_of: int | None = None, group: str | tuple[str, ...] = (),
              where: str = "") -> dict:
    """{group key: count} of the articles meeting `condition` (SQL over title and text), by DuckDB; the key
    is a tuple for several group expressions, None for none."""
    from toolkit.sql import connect

    groups = (group,) if isinstance(group, str) else tuple(group)
    con = connect(root, as_of=as_of)
    try:
        keys = ", ".join(groups) if groups else "NULL"
        extra = f" AND {where}" if where else ""
        rows = con.execute(f"SELECT {keys}, count(*) FROM (SELECT *, title || chr(10) || text AS body "
                           f"FROM articles) WHERE ({condition}){extra} GROUP BY ALL").fetchall()
        return {(r[:-1] if len(groups) > 1 else r[0]): int(r[-1]) for r in rows}
    finally:
        con.close()


def has(word: str, column: str = "body") -> str:
    return f"regexp_matches({column}, '{regex_for(word)}')"
