"""Fixtures for the web app's tests: small archives built for real (append), and a live server.

`news_archive` holds French and Arabic articles from two outlets over three weeks; `hostile_archive`
adds articles whose title, outlet, text and address try to run script (appended with a schema that
lets a `javascript:` address in, as an archive written by another tool could hold one).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_bad_inputs import mounted  # noqa: F401  (a tmpfs folder: the read-only archive test)

ARABIC_TEXT = "أكد وزير الخارجية ناصر بوريطة دعم المغرب للحل السياسي في ليبيا خلال لقائه بنظيره."
START = dt.date(2024, 3, 4)  # a Monday: weekly buckets start on Mondays


def article_id(n: int | str) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()[:32]


FILLER = ["port", "marché", "école", "hôpital", "route", "budget", "récolte", "festival", "tribunal", "université",
          "théâtre", "stade", "musée", "gare", "usine", "forêt", "barrage", "plage", "village", "quartier"]


def filler(n: int) -> str:
    """Words of its own for article `n`, so that articles made from one template stay distinct articles
    (the archive clusters near-duplicates: shared 5-word shingles above its threshold)."""
    return " ".join(f"{FILLER[(n * 7 + k) % len(FILLER)]}{n}x{k}" for k in range(24))


def news_records() -> list[dict]:
    """26 articles: every day a French one (Rabat, Bourita on even days), an Arabic one every third day,
    and a wire story published by two outlets."""
    rows = []
    for day in range(18):
        date = (START + dt.timedelta(days=day)).isoformat()
        rows.append({"id": article_id(f"fr{day}"), "source": "Le Matin" if day % 2 else "Hespress FR",
                     "language": "fr", "published_date": date, "url": f"https://example.org/fr/{day}",
                     "title": f"Rabat accueille la réunion {day}" + (" avec Bourita" if day % 2 == 0 else ""),
                     "text": (f"Le ministre Nasser Bourita a reçu à Rabat son homologue, jour {day}."
                              if day % 2 == 0 else f"La pluie est tombée sur Rabat, jour {day}.") + " " + filler(day)})
        if day % 3 == 0:
            rows.append({"id": article_id(f"ar{day}"), "source": "هسبريس", "language": "ar", "published_date": date,
                         "url": f"https://example.org/ar/{day}", "title": f"بوريطة يستقبل نظيره {day}",
                         "text": ARABIC_TEXT + " " + filler(100 + day)})
    # a wire story in two outlets: near-duplicates (one cluster once the archive clusters them)
    for n, (source, title) in enumerate((("Le Matin", "Le port de Casablanca bat son record"),
                                         ("Médias24", "Casablanca : record historique au port"))):
        rows.append({"id": article_id(f"wire{n}"), "source": source, "language": "fr", "published_date":
                     (START + dt.timedelta(days=2 + n)).isoformat(), "url": f"https://example.org/wire/{n}",
                     "title": title, "text": WIRE_TEXT + ("" if n == 0 else " (avec MAP)")})
    return rows


WIRE_TEXT = ("Le port de Casablanca a traité un volume record de conteneurs au premier trimestre, selon "
             "l'Agence nationale des ports, qui cite la hausse des échanges avec l'Afrique de l'Ouest et "
             "l'ouverture de nouvelles lignes maritimes vers l'Europe du Nord. Les opérateurs annoncent des "
             "investissements dans les grues et la numérisation des procédures douanières, afin de réduire "
             "le temps d'attente des navires et des camions aux portes du terminal.")


HOSTILE_TITLE = '<script>window.__pwned = 1; alert(1)</script>Bourita "><img src=x onerror=alert(2)>'
HOSTILE_SOURCE = '"><img src=x onerror=alert(3)>'
HOSTILE_TEXT = ("Bourita \u202eevil\u202c text <script>alert(4)</script> <a href=\"javascript:alert(5)\">x</a> "
                '<svg onload=alert(6)></svg> {{ 7*7 }}')
BIG_TITLE_CHARS = 1_000_000


def hostile_records() -> list[dict]:
    return [
        {"id": article_id("hostile1"), "source": HOSTILE_SOURCE, "language": "fr", "published_date": "2024-03-05",
         "url": "javascript:alert(7)", "title": HOSTILE_TITLE, "text": HOSTILE_TEXT},
        {"id": article_id("hostile2"), "source": "Big", "language": "fr", "published_date": "2024-03-06",
         "url": "https://example.org/big", "title": "Bourita " + "A" * BIG_TITLE_CHARS, "text": "Bourita big title."},
    ]


def write_records(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


@pytest.fixture(scope="session")
def news_archive(tmp_path_factory) -> Path:
    """A small archive (version 1): do not modify it (copy it first)."""
    from toolkit.archive import append

    folder = tmp_path_factory.mktemp("serve-news")
    root = folder / "archive"
    result = append([write_records(folder / "news.jsonl", news_records())], archive=root)
    assert result.version == 1
    return root


@pytest.fixture(scope="session")
def hostile_archive(tmp_path_factory) -> Path:
    """The news archive plus hostile articles (version 2), appended with a schema without the url rule."""
    from toolkit.archive import append

    folder = tmp_path_factory.mktemp("serve-hostile")
    root = folder / "archive"
    schema = json.loads((ROOT / "schema" / "article.schema.json").read_text(encoding="utf-8"))
    schema["properties"]["url"] = {"type": "string"}
    (folder / "loose.schema.json").write_text(json.dumps(schema), encoding="utf-8")
    append([write_records(folder / "news.jsonl", news_records())], archive=root)
    result = append([write_records(folder / "hostile.jsonl", hostile_records())], archive=root,
                    schema=folder / "loose.schema.json")
    assert (result.version, result.appended) == (2, 2), result.as_dict()
    return root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A real `newsarchive serve` subprocess; `url` once it answers."""

    def __init__(self, *args: str, env: dict | None = None) -> None:
        self.port = free_port()
        command = [sys.executable, "-m", "toolkit", "serve", "--port", str(self.port), *args]
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, **(env or {})}, cwd=ROOT)
        self.url = f"http://127.0.0.1:{self.port}"
        self.first_line = self.proc.stdout.readline()  # printed once the port is bound
        if not self.first_line:
            raise AssertionError(f"serve did not start: {self.proc.stderr.read()}")

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, str, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        try:
            self.proc.wait(timeout=30)  # (communicate() would skip what readline() already buffered)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"serve did not stop within 30 s of signal {signum}") from None
        return self.proc.returncode, self.first_line + self.proc.stdout.read(), self.proc.stderr.read()


def wait_until(check, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)
