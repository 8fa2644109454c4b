"""The inputs people have: saved .html.gz pages, ARC crawls (.arc, .arc.gz), WACZ files; tables in pages.

Every archive is built here, byte for byte, the way its writers lay it out.
"""

from __future__ import annotations

import gzip
import json
import zipfile
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.extract.conftest import run_extract, write_page
from tests.extract.test_html import AR_PARAGRAPHS, html_page
from tests.extract.test_warc import ARTICLE_LINE, response, write_warc

URIS = ["https://www.medias24.example/2021/01/28/budget-municipal/",
        "https://www.hespress.example/societe/vaccination-2021.html"]


def pages() -> list[bytes]:
    return [html_page(title="Le conseil municipal adopte son budget", canonical=None,
                      paragraphs=[ARTICLE_LINE.capitalize()]).encode(),
            html_page(title="انطلاق حملة التلقيح", paragraphs=AR_PARAGRAPHS, lang="ar", site_name="هسبريس",
                      canonical=None, authors=None).encode()]


def arc_records() -> list[bytes]:
    """An ARC file (version 1) as the Internet Archive's crawlers wrote it: a filedesc record, then one
    record per capture whose header line is `URL IP DATE MIME LENGTH`."""
    info = b"1 0 newsarchive tests\nURL IP-address Archive-date Content-type Archive-length\n"
    records = [b"filedesc://crawl.arc 0.0.0.0 20210128190000 text/plain %d\n" % len(info) + info + b"\n"]
    for uri, body in zip(URIS, pages(), strict=True):
        http = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: %d\r\n\r\n"
                % len(body)) + body
        records.append(f"{uri} 192.0.2.7 20210128190000 text/html {len(http)}\n".encode() + http + b"\n")
    image = b"\x89PNG\r\n\x1a\n" + bytes(64)
    http = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n\r\n" + image
    records.append(b"https://www.example.org/logo.png 192.0.2.7 20210128190001 image/png %d\n" % len(http)
                   + http + b"\n")
    return records


@pytest.mark.parametrize("name", ["crawl.arc", "crawl.arc.gz"])
def test_arc_files_are_read(tmp_path, name):
    records = arc_records()
    data = b"".join(gzip.compress(r) for r in records) if name.endswith(".gz") else b"".join(records)
    write_page(tmp_path, data, name)
    run = run_extract(tmp_path)
    assert [r["url"] for r in run.records] == URIS
    assert run.records[0]["title"] == "Le conseil municipal adopte son budget"
    assert run.records[1]["language"] == "ar" and run.records[1]["text"].startswith("أعلنت وزارة الصحة")
    assert run.records[0]["crawled_at"] == "2021-01-28T19:00:00Z"
    assert run.report.skipped == {"warcinfo record": 1, "non-HTML response": 1}
    assert not run.rejects


def test_wacz_files_are_read(tmp_path):
    warc = tmp_path / "data.warc.gz"
    bodies = pages()
    write_warc(warc, [lambda w, u=u, b=b: response(w, u, b) for u, b in zip(URIS, bodies, strict=True)], gz=True)
    wacz = tmp_path / "in" / "collection.wacz"
    wacz.parent.mkdir()
    with zipfile.ZipFile(wacz, "w") as archive:  # the layout Browsertrix and ArchiveWeb.page write
        archive.write(warc, "archive/data.warc.gz", compress_type=zipfile.ZIP_STORED)
        archive.writestr("pages/pages.jsonl", '{"format": "json-pages-1.0", "id": "pages"}\n'
                         + json.dumps({"url": URIS[0], "ts": "2021-01-28T19:00:00Z"}) + "\n")
        archive.writestr("indexes/index.cdx", "")
        archive.writestr("datapackage.json", json.dumps({"profile": "data-package", "wacz_version": "1.1.1"}))
    run = run_extract(tmp_path)
    assert [r["url"] for r in run.records] == URIS
    assert run.report.files == 1 and run.report.formats == {"warc": 2}


def test_a_wacz_without_warcs_is_one_reject(tmp_path):
    wacz = tmp_path / "in" / "empty.wacz"
    wacz.parent.mkdir()
    with zipfile.ZipFile(wacz, "w") as archive:
        archive.writestr("datapackage.json", "{}")
    [reject] = run_extract(tmp_path).rejects
    assert reject["reason"].startswith("WACZ file without WARCs")


def test_gzipped_html_pages_are_read(tmp_path):
    write_page(tmp_path, gzip.compress(pages()[0]), "article.html.gz")
    run = run_extract(tmp_path)
    [record] = run.records
    assert record["title"] == "Le conseil municipal adopte son budget"
    assert run.report.formats == {"html": 1}


def test_warcio_warnings_are_counted_and_not_printed_under_quiet(tmp_path):
    """A record followed by stray bytes (a wrong Content-Length): warcio warns on stderr and reads on."""
    folder = tmp_path / "in"
    folder.mkdir()
    path = folder / "crawl.warc"
    bodies = pages()
    write_warc(path, [lambda w, u=u, b=b: response(w, u, b) for u, b in zip(URIS, bodies, strict=True)], gz=False)
    data = path.read_bytes()
    second = data.rindex(b"WARC/1.")
    end = second - 4  # before the blank lines that close the first response
    path.write_bytes(data[:end] + b"stray bytes after the record" + data[end:])
    result = run_cli("extract", str(folder), "-o", str(tmp_path / "out.jsonl"), "--quiet", "--jobs", "1")
    assert result.code == 0, result.err
    assert result.err == ""  # warcio's WARNING lines do not reach the terminal
    assert "warnings          1  from the WARC reader, such as" in result.out
    assert "Record not followed by newline" in result.out
    assert len((tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()) == 2


STANDINGS = [("Raja Casablanca", 36, 11), ("Wydad Casablanca", 33, 10), ("AS FAR", 31, 9),
             ("RS Berkane", 28, 8), ("FUS Rabat", 25, 7), ("Maghreb de Fès", 22, 6)]


def test_a_table_is_kept_as_text_one_row_a_line(tmp_path):
    rows = "".join(f"<tr><td>{i}</td><td>{club}</td><td>{points}</td><td>{wins}</td></tr>"
                   for i, (club, points, wins) in enumerate(STANDINGS, 1))
    page = html_page(title="Botola : le classement après la 15e journée", canonical=None, paragraphs=[
        "Voici le classement complet du championnat après la quinzième journée, disputée ce week-end."])
    table = ("<table><thead><tr><th>Rang</th><th>Club</th><th>Points</th><th>Victoires</th></tr></thead>"
             f"<tbody>{rows}</tbody></table><p>Le Raja conserve trois points d'avance sur son dauphin.</p>")
    write_page(tmp_path, page.replace("</article>", table + "</article>"), "classement.html")
    [record] = run_extract(tmp_path).records
    lines = record["text"].split("\n\n")
    assert "Rang | Club | Points | Victoires" in lines
    for i, (club, points, wins) in enumerate(STANDINGS, 1):
        assert f"{i} | {club} | {points} | {wins}" in lines
    assert lines[-1] == "Le Raja conserve trois points d'avance sur son dauphin."
    assert not any(set(line) <= set("|-: ") for line in lines)  # no |---| rule left over


def test_new_suffixes_are_found_in_folders(tmp_path):
    from toolkit.extract import discover

    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.html.gz", "b.arc", "c.arc.gz", "d.wacz", "e.warc", "notes.md"):
        (folder / name).write_bytes(b"x")
    sources, ignored = discover([folder])
    assert {Path(s.name).name: s.kind for s in sources} == {
        "a.html.gz": "html", "b.arc": "warc", "c.arc.gz": "warc", "d.wacz": "wacz", "e.warc": "warc"}
    assert ignored == [str(folder / "notes.md")]
