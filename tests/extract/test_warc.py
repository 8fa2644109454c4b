"""WARC files written here with warcio: HTML responses become records, the rest is counted or rejected."""

from __future__ import annotations

import gzip
from io import BytesIO
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from tests.extract.conftest import run_extract
from tests.extract.test_html import AR_PARAGRAPHS, html_page


def response(writer: WARCWriter, uri: str, body: bytes, *, content_type: str = "text/html; charset=utf-8",
             status: str = "200 OK", date: str = "2021-01-28T19:00:00Z"):
    headers = StatusAndHeaders(status, [("Content-Type", content_type)], protocol="HTTP/1.1")
    return writer.create_warc_record(uri, "response", payload=BytesIO(body), http_headers=headers,
                                     warc_headers_dict={"WARC-Date": date})


def request(writer: WARCWriter, uri: str):
    headers = StatusAndHeaders("GET / HTTP/1.1", [("Host", "example.org")], is_http_request=True)
    return writer.create_warc_record(uri, "request", payload=BytesIO(b""), http_headers=headers)


def write_warc(path: Path, records: list, gz: bool) -> None:
    with open(path, "wb") as stream:
        writer = WARCWriter(stream, gzip=gz)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "newsarchive tests"}))
        for make in records:
            writer.write_record(make(writer))


FR_URI = "https://www.medias24.example/2021/01/28/vaccination-maroc/?utm_source=crawl"
AR_URI = "https://www.hespress.example/societe/vaccination-2021.html"
NODATE_URI = "https://www.example.org/page-sans-date"
RESOURCE_URI = "https://le360.example/ressource"


def crawl(gz: bool) -> list:
    ar_page = html_page(title="انطلاق حملة التلقيح", paragraphs=AR_PARAGRAPHS, lang="ar", site_name="هسبريس",
                        canonical=None, charset="windows-1256", authors=None)
    return [
        lambda w: request(w, FR_URI),
        lambda w: response(w, FR_URI, html_page(canonical="https://www.medias24.example/canonical").encode()),
        lambda w: response(w, "https://www.example.org/logo.png", b"\x89PNG\r\n\x1a\n" + bytes(200),
                           content_type="image/png"),
        lambda w: response(w, "https://www.example.org/missing", b"<html><body>Not found</body></html>",
                           status="404 Not Found"),
        # the charset is only in the HTTP header: the page must still decode
        lambda w: response(w, AR_URI, ar_page.replace('<meta charset="windows-1256">', "").encode("cp1256"),
                           content_type="text/html; charset=windows-1256", date="2021-01-28T20:15:30.250Z"),
        lambda w: response(w, NODATE_URI, html_page(date=None, canonical=None).encode()),
        # a page stored as a resource (as wget --warc-file does for local captures) is a page too
        lambda w: w.create_warc_record(RESOURCE_URI, "resource", warc_content_type="text/html",
                                       payload=BytesIO(html_page(title="Une ressource archivée", canonical=None,
                                                                 site_name="Le360", paragraphs=[ARTICLE_LINE])
                                                       .encode()),
                                       warc_headers_dict={"WARC-Date": "2021-01-29T08:00:00Z"}),
        lambda w: w.create_warc_record(FR_URI, "metadata", payload=BytesIO(b"fetchTimeMs: 120\n"),
                                       warc_content_type="application/warc-fields"),
    ]


@pytest.mark.parametrize("gz", [True, False], ids=["warc.gz", "warc"])
def test_warc_round_trip(tmp_path, gz):
    folder = tmp_path / "in"
    folder.mkdir()
    path = folder / ("crawl.warc.gz" if gz else "crawl.warc")
    write_warc(path, crawl(gz), gz)
    run = run_extract(tmp_path)

    assert run.report.exit_code == 1
    # the canonical link on the target URI's site wins over it (issue 13); without one, the target URI
    assert [r["url"] for r in run.records] == ["https://www.medias24.example/canonical", AR_URI, RESOURCE_URI]
    fr, ar, resource = run.records
    assert resource["source"] == "Le360" and resource["crawled_at"] == "2021-01-29T08:00:00Z"
    assert fr["crawled_at"] == "2021-01-28T19:00:00Z" and ar["crawled_at"] == "2021-01-28T20:15:30.250Z"
    assert (fr["language"], ar["language"]) == ("fr", "ar")
    assert fr["source"] == "Médias24" and fr["published_date"] == "2021-01-28"
    assert ar["title"] == "انطلاق حملة التلقيح" and ar["text"].startswith("أعلنت وزارة الصحة")
    assert run.report.skipped == {"warcinfo record": 1, "request record": 1, "non-HTML response": 1,
                                  "HTTP 404 response": 1, "metadata record": 1}
    assert run.report.pages == 4 and run.report.formats == {"warc": 4}

    [reject] = run.rejects
    assert reject["input"] == str(path) and reject["reason"] == "no publication date found on the page"
    # the position is the record's byte offset: warcio reads that very record from there
    with open(path, "rb") as stream:
        stream.seek(reject["record"])
        record = next(iter(ArchiveIterator(stream)))
        assert record.rec_headers.get_header("WARC-Target-URI") == NODATE_URI


def test_damage_keeps_what_came_before_and_rejects_the_rest(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    path = folder / "damaged.warc"
    uris = [f"https://www.example.org/article-{i}" for i in range(3)]
    pages = [html_page(title=f"Titre numéro {i}", canonical=None,
                       paragraphs=[f"Paragraphe unique de l'article {i} : {ARTICLE_LINE}"]) for i in range(3)]
    makers = [lambda w, u=u, p=p: response(w, u, p.encode()) for u, p in zip(uris, pages, strict=True)]
    write_warc(path, makers, gz=False)
    data = path.read_bytes()
    third = data.rindex(b"WARC/1.")
    path.write_bytes(data[:third] + b"GARBAGE" + data[third + 7:])

    run = run_extract(tmp_path)
    assert [r["url"] for r in run.records] == uris[:2]
    [reject] = run.rejects
    assert reject["record"] == third
    assert reject["reason"].startswith(f"damaged WARC at byte {third}")


ARTICLE_LINE = ("le conseil municipal a adopté mardi le budget de l'année prochaine, qui prévoit de nouveaux "
                "investissements dans les transports publics et les espaces verts de la ville.")


def test_a_gzip_file_that_is_not_a_warc_is_rejected(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "notes.warc.gz").write_bytes(gzip.compress(b"just some text, not an archive\n" * 10))
    run = run_extract(tmp_path)
    [reject] = run.rejects
    assert reject["record"] == 0 and reject["reason"].startswith("not a WARC file")


def test_a_warc_named_like_a_page_is_rejected_with_advice(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    write_warc(folder / "crawl.txt", [], gz=False)
    [reject] = run_extract(tmp_path).rejects
    assert "this is a WARC file" in reject["reason"] and "--format warc" in reject["reason"]


def test_workers_write_the_same_file_as_one_process(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    makers = []
    for i in range(40):
        page = html_page(title=f"Article {i} : le budget de la ville", canonical=None,
                         paragraphs=[f"Numéro {i}, {ARTICLE_LINE}"], date=f"2021-02-{i % 28 + 1:02d}")
        makers.append(lambda w, i=i, page=page: response(w, f"https://www.example.org/a/{i}", page.encode()))
    write_warc(folder / "big.warc.gz", makers, gz=True)
    one = run_extract(tmp_path, jobs=1)
    first = one.output.read_bytes()
    many = run_extract(tmp_path, jobs=2)
    assert many.output.read_bytes() == first
    assert one.report.records == 40 and many.report.records == 40
