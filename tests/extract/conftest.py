"""Helpers for the extract tests: build Maghress dumps, run the real extract, read what it wrote."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from toolkit.extract import ExtractReport, extract

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "datasets" / "maghress-sample"
SAMPLE_PAGES = SAMPLE / "pages"
SEED_NAME = "000_4d9022ac107b5a5f.txt"
SEED_SHARED = ROOT.parent / "shared" / "seed" / SEED_NAME

NBSP = "\u00a0"
TICKER = NBSP + " " + NBSP + " " + NBSP + " " + NBSP + " "

FR = {
    "notice": ["Merci d'avoir signalé!",
               "Cette image sera automatiquement bloquée après qu'elle soit signalée par plusieurs personnes."],
    "published": "Publié dans {source} le {date}",
    "footer": "Cliquez ici pour lire l'article depuis sa source.",
}
AR = {
    "notice": ["شكراً على الإبلاغ!", "سيتم حجب هذه الصورة تلقائيا بعد أن يتم الإبلاغ عنها من طرف عدة أشخاص."],
    "published": "نشر في {source} يوم {date}",
    "footer": "انقر هنا لقراءة الخبر من مصدره.",
}

FR_BODY = [
    "Le gouvernement a présenté mardi son projet de loi de finances, qui prévoit une hausse des "
    "investissements publics dans les infrastructures et la santé.",
    "Les députés examineront le texte en commission à partir de la semaine prochaine, avant un vote en séance.",
]
AR_BODY = [
    "أعلنت وزارة الصحة اليوم عن انطلاق المرحلة الثانية من الحملة الوطنية للتلقيح في مختلف جهات المملكة.",
    "ودعت الوزارة المواطنين المعنيين إلى التسجيل عبر الرسائل النصية القصيرة من أجل الحصول على موعد.",
]


def dump(title: str = "Loi de finances : le projet présenté au Parlement", source: str = "Le360",
         date: str = "12 - 10 - 2020", body: list[str] | None = None, *, edition: dict = FR,
         ticker: bool = True, notice: bool = True, footer: bool = True, newline: str = "\n",
         published: str | None = None) -> str:
    """A page in the Maghress layout; every part can be left out or replaced."""
    lines: list[str] = []
    if ticker:
        lines.append(TICKER.join(["Un autre titre du jour", "Encore une dépêche", "Troisième titre"]) + TICKER)
        lines += [""] * 8
    if notice:
        lines += edition["notice"] + [""] * 3
    if title is not None:
        lines.append(title)
    lines.append(published if published is not None else edition["published"].format(source=source, date=date))
    lines.append("")
    lines += FR_BODY if body is None else body
    if footer:
        lines += ["", "", edition["footer"]]
    return newline.join(lines)


@dataclass
class Run:
    report: ExtractReport
    records: list[dict]
    rejects: list[dict]
    output: Path


def run_extract(tmp_path: Path, inputs: list[Path] | None = None, **kwargs) -> Run:
    """Run the real `extract` into tmp_path and read back the records and the rejects file."""
    output = tmp_path / "out" / "records.jsonl"
    rejects = tmp_path / "out" / "rejects.jsonl"
    kwargs.setdefault("jobs", 1)
    report = extract(inputs if inputs is not None else [tmp_path / "in"], output, rejects=rejects, **kwargs)
    records = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    reject_lines = [json.loads(line) for line in rejects.read_text(encoding="utf-8").splitlines()]
    assert report.pages == report.records + report.duplicate_count + report.rejected
    assert len(records) == report.records and len(reject_lines) == report.rejected
    return Run(report, records, reject_lines, output)


def write_page(tmp_path: Path, content: str | bytes, name: str = "page.txt") -> Path:
    folder = tmp_path / "in"
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_bytes(content.encode("utf-8"))
    else:
        path.write_bytes(content)
    return path


def extract_one(tmp_path: Path, content: str | bytes, name: str = "page.txt", **kwargs) -> Run:
    write_page(tmp_path, content, name)
    return run_extract(tmp_path, **kwargs)


@pytest.fixture
def one(tmp_path):
    """Extract one page given as text or bytes; returns the Run."""
    return lambda content, name="page.txt", **kw: extract_one(tmp_path, content, name, **kw)
