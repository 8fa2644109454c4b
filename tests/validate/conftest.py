from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest

from toolkit.core.schema import load_schema

ROOT = Path(__file__).resolve().parents[2]
GEN = ROOT.parent / "shared" / "tools" / "gen_articles.py"


def good_record(i: int = 0, **overrides) -> dict:
    rec = {
        "id": f"{i:032x}",
        "source": "Barlamane",
        "title": f"Titre numéro {i}",
        "text": "Premier paragraphe.\n\nSecond paragraphe.",
        "published_date": "2021-06-28",
        "language": "fr",
    }
    rec.update(overrides)
    return rec


def jsonl(*records) -> bytes:
    return b"".join(
        (r if isinstance(r, bytes) else json.dumps(r, ensure_ascii=False).encode()) + b"\n" for r in records
    )


@pytest.fixture(scope="session")
def article_schema():
    return load_schema()


@pytest.fixture(scope="session")
def generated_lines(tmp_path_factory) -> list[bytes]:
    """A few thousand gen_articles.py lines with 20 % damage: every damage kind it knows."""
    if not GEN.is_file():
        pytest.skip("shared/tools/gen_articles.py is not present")
    out = tmp_path_factory.mktemp("gen") / "batch.jsonl"
    import subprocess

    subprocess.run([sys.executable, str(GEN), "3000", str(out), "--invalid-rate", "0.2", "--seed", "7"], check=True)
    return out.read_bytes().splitlines()


@pytest.fixture
def rng():
    return random.Random(1234)
