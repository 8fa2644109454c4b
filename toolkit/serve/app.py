"""The read-only web app: explore, article, archive and SQL pages, each with its JSON twin.

Starlette (a small ASGI toolkit: routing, responses, a test client) served by uvicorn, with Jinja2
templates whose autoescaping is on for every file, so archive text is inert wherever it lands. Every
number comes from `toolkit.explore`; this module only reads parameters, pins a version, and renders.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlparse

import pyarrow as pa
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from toolkit.archive import open_archive
from toolkit.core.errors import NewsarchiveError
from toolkit.serve import charts
from toolkit.serve.security import Guard
from toolkit.serve.sqlpage import PAGE_ROWS, remove_download, run_download, run_page

HERE = Path(__file__).parent
TITLE_CHARS = 300  # longest title a list shows (the article page shows it whole, wrapped)
SNIPPET_CHARS = 600
ARTICLE_CHARS = 200_000  # the first part of a long article; "show all" lifts it
SAMPLES = 10
TABLE_ROWS = 1_000  # rows of the attention table the page shows (the CSV and the JSON hold them all)
# New explore addresses computed at once. Most of their work (tantivy, Arrow, vl-convert) releases the
# GIL, so several overlap on 2 cores; one at a time made a page wait for every new page before it (the
# default bench: p95 1.0-1.6 s with 1 or 2 at once, 0.43-0.6 s with all at once, on a loaded machine).
# The bound keeps the memory of a crowd of new addresses in check.
HEAVY_AT_ONCE = 4
CACHED_ANSWERS = 256  # pages' numbers, charts and HTML kept per (version, parameters)
RTL_LANGUAGES = {"ar", "ary", "arz", "apc", "acm", "fa", "he", "ur", "ps", "yi", "ckb", "dv", "ug", "sd"}
PANELS = ("summary", "attention", "outlets", "terms", "samples")
TABLE_FORMATS = {"csv": "text/csv; charset=utf-8", "json": "application/x-ndjson; charset=utf-8",
                 "parquet": "application/vnd.apache.parquet"}


@dataclass
class Settings:
    """What `newsarchive serve` was started with."""

    archive: str | os.PathLike | None
    as_of: int | None = None
    sql_timeout: float = 30.0
    token: str | None = None
    hosts: tuple[str, ...] = ()
    name: str = field(default="")


@dataclass(frozen=True)
class Pinned:
    """The one archive version a request shows, and the date it was committed."""

    version: int
    latest: int
    date: str


# --- formatting for the templates ------------------------------------------------------------------

def _num(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def _pct(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value * 100:,.2f} %"


def _clip(value: Any, limit: int = TITLE_CHARS) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _iso(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.replace(microsecond=0).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _direction(language: Any) -> str:
    """rtl for the languages written right to left, else auto (the browser reads the first letters)."""
    code = str(language or "").lower().split("-")[0]
    return "rtl" if code in RTL_LANGUAGES else "auto"


def _is_link(url: Any) -> bool:
    if not isinstance(url, str):
        return False
    try:
        parsed = urlparse(url.strip())
    except ValueError:
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return _iso(value)
    if isinstance(value, pa.Table):
        return [_jsonable(r) for r in value.to_pylist()]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True,
                      default_for_string=True), trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=_num, pct=_pct, clip=_clip, iso=_iso, direction=_direction, is_link=_is_link)
    return env


# --- the app ---------------------------------------------------------------------------------------

class Pages:
    """The handlers, sharing the settings and the template environment."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.archive = open_archive(settings.archive)
        self.env = _environment()
        self.name = settings.name or str(self.archive.root)
        self._cache: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._dates: dict[int, str] = {}
        self._running: dict[tuple, threading.Event] = {}  # keys being computed, set when done
        self._heavy = threading.BoundedSemaphore(HEAVY_AT_ONCE)
        self._pins: dict[tuple[int | None, int], Pinned] = {}  # (as_of asked, newest logged version) -> pinned

    # -- helpers --
    def cached(self, key: tuple, compute: Callable[[], Any], heavy: bool = False) -> Any:
        """`compute()`, kept for the next request with the same key. Every key holds the archive
        version, and a version never changes, so a kept answer is never stale; a new version is a
        new key (the oldest answers leave first).

        Requests for a key being computed wait for that computation instead of repeating it, and
        `heavy` computations (a new explore address: ~0.3 s of CPU at 1,000,000 articles) run at most
        HEAVY_AT_ONCE at a time."""
        while True:
            with self._lock:
                if key in self._cache:
                    self._cache.move_to_end(key)
                    return self._cache[key]
                running = self._running.get(key)
                if running is None:
                    running = self._running[key] = threading.Event()
                    break
            running.wait()  # computed by another request (or failed there: then computed here)
        try:
            if heavy:
                with self._heavy:
                    value = compute()
            else:
                value = compute()
            with self._lock:
                self._cache[key] = value
                while len(self._cache) > CACHED_ANSWERS:
                    self._cache.popitem(last=False)
        finally:
            with self._lock:
                self._running.pop(key, None)
            running.set()
        return value

    def pin(self, request: Request) -> Pinned:
        """The version this request shows: `as_of` in the address, else serve's --as-of, else the
        latest, read once so every panel of the page shows the same one."""
        raw = request.query_params.get("as_of", "")
        as_of = self.settings.as_of
        if raw.strip():
            if not raw.strip().isdigit():
                raise NewsarchiveError(f"as_of={raw!r}: pass a version number (see /archive)")
            as_of = int(raw)
        logged = self._latest_logged()
        with self._lock:
            known = self._pins.get((as_of, logged)) if logged is not None else None
        if known is not None:
            return known
        version = self.archive.at(as_of)
        with self._lock:
            date = self._dates.get(version.version)
        if date is None:  # a version's commit date never changes: read once
            history = version.articles_table.history(1)  # the commit that made this version
            stamp = history[0].get("timestamp") if history else None
            date = dt.datetime.fromtimestamp(stamp / 1000, dt.timezone.utc).replace(microsecond=0).isoformat() \
                if stamp else ""
            with self._lock:
                self._dates[version.version] = date
        pinned = Pinned(version.version, version.latest, date.replace("+00:00", "Z"))
        if logged is not None and logged == version.latest:
            with self._lock:
                if len(self._pins) >= 64:
                    self._pins.clear()
                self._pins[(as_of, logged)] = pinned
        return pinned

    def _latest_logged(self) -> int | None:
        """The newest version in the articles' log, from a listing of the log folder (opening the table
        to learn it took 10-30 ms a request); None when it cannot be listed."""
        import pyarrow.fs as pafs

        from toolkit.archive.layout import ARTICLES

        storage = self.archive.storage
        try:
            infos = storage.filesystem.get_file_info(pafs.FileSelector(storage.fs_path(ARTICLES, "_delta_log")))
        except (OSError, ValueError):
            return None
        names = [i.base_name[:-len(".json")] for i in infos if i.base_name.endswith(".json")]
        versions = [int(name) for name in names if name.isdigit()]
        return max(versions) if versions else None

    def render(self, request: Request, template: str, data: dict[str, Any], *, pinned: Pinned | None,
               status: int = 200, page: dict[str, Any] | None = None, keep: bool = False) -> Response:
        """The page, or its JSON twin (`.json` in the path, or Accept: application/json). `keep`: the
        HTML is kept per address and version (drawing a table of 1,000 rows takes ~0.1 s)."""
        if wants_json(request):
            body = {"archive": self.name, **({"version": pinned.version, "version_date": pinned.date,
                                               "latest_version": pinned.latest} if pinned else {}), **data}
            return JSONResponse(_jsonable(body), status_code=status)
        def draw() -> str:
            return self.env.get_template(template).render(
                request=request, archive=self.name, pinned=pinned, json_url=json_url(request),
                permalink=permalink(request, pinned), **data, **(page or {}))

        if keep and status == 200 and pinned is not None:  # the page is a function of its address and version
            address = tuple((k, v) for k, v in request.query_params.multi_items() if k != "token")
            html = self.cached(("html", template, pinned, request.url.path, address), draw)
        else:
            html = draw()
        return HTMLResponse(html, status_code=status)

    def failed(self, request: Request, template: str, exc: NewsarchiveError, data: dict[str, Any],
               pinned: Pinned | None, status: int = 400) -> Response:
        return self.render(request, template, {**data, "error": str(exc)}, pinned=pinned, status=status)

    # -- / --
    async def explore(self, request: Request) -> Response:
        return await run_in_threadpool(self._explore, request)

    def _explore(self, request: Request) -> Response:
        form = explore_form(request)
        pinned = None
        try:
            pinned = self.pin(request)
            params = explore_params(request)

            def chart_of(table: pa.Table) -> str | None:
                """The page's chart, kept like the numbers (building the spec alone takes 0.1 s)."""
                if not 0 < table.num_rows <= charts.MAX_BUCKETS:
                    return None
                return self.cached(("chart", pinned.version, _key(params), params["measure"]), lambda: charts.svg(
                    charts.attention_spec(table, measure=params["measure"], split=params["split"], by=params["by"])))

            # a new address draws its chart while its articles are read (vl-convert releases the GIL)
            data = self.cached(("explore", pinned.version, _key(params)), lambda: explore_data(
                self.settings.archive, pinned.version, params, after_attention=chart_of), heavy=True)
        except NewsarchiveError as exc:
            return self.failed(request, "explore.html", exc, {"form": form, "params": None}, pinned)
        chart = chart_of(data["attention"]) if data.get("attention") is not None else None
        downloads = {panel: panel_url(request, panel, "csv") for panel in PANELS}
        return self.render(request, "explore.html", {"form": form, "params": _jsonable(params_public(params)),
                                                     **data}, pinned=pinned, keep=True,
                           page={"chart": chart, "downloads": downloads, "table_rows": TABLE_ROWS,
                                 "max_buckets": charts.MAX_BUCKETS,
                                 "chart_svg": panel_url(request, "chart", "svg"),
                                 "chart_png": panel_url(request, "chart", "png")})

    async def panel(self, request: Request) -> Response:
        return await run_in_threadpool(self._panel, request)

    def _panel(self, request: Request) -> Response:
        from toolkit.explore import write_table

        panel, fmt = request.path_params["panel"], request.path_params["fmt"]
        pinned = self.pin(request)
        params = explore_params(request)
        if (panel == "chart" or panel in PANELS) and not params["queries"]:
            return _plain_error(f"/{panel}.{fmt}: no query; pass q=... as on the explore page", 400)
        if panel == "chart":
            if fmt not in ("svg", "png"):
                return _not_found(f"/chart.{fmt}: the chart downloads as .svg or .png")
            table = self.cached(("explore", pinned.version, _key(params)),
                                lambda: explore_data(self.settings.archive, pinned.version, params),
                                heavy=True)["attention"]
            if table.num_rows > charts.MAX_BUCKETS:
                return _plain_error(f"{table.num_rows:,} points are too many for a chart (at most "
                                    f"{charts.MAX_BUCKETS:,}): choose week or month buckets", 400)
            spec = charts.attention_spec(table, measure=params["measure"], split=params["split"], by=params["by"])
            name = f"attention-v{pinned.version}.{fmt}"
            if fmt == "svg":
                return Response(charts.svg(spec), media_type="image/svg+xml", headers=_attachment(name))
            return Response(charts.png(spec), media_type="image/png", headers=_attachment(name))
        if panel not in PANELS or fmt not in TABLE_FORMATS:
            return _not_found(f"/{panel}.{fmt}: the panels are {', '.join(PANELS)}, as .csv, .json or .parquet")
        data = self.cached(("explore", pinned.version, _key(params)),
                           lambda: explore_data(self.settings.archive, pinned.version, params), heavy=True)
        table = data[panel] if panel != "samples" else samples_table(data["samples"])
        out = io.BytesIO()
        write_table(table, fmt, out)
        return Response(out.getvalue(), media_type=TABLE_FORMATS[fmt],
                        headers=_attachment(f"{panel}-v{pinned.version}.{fmt}"))

    # -- /article/{id} --
    async def article(self, request: Request) -> Response:
        return await run_in_threadpool(self._article, request)

    def _article(self, request: Request) -> Response:
        from toolkit.explore import article_detail

        article_id = request.path_params["id"]
        if request.url.path.endswith(".json") and article_id.endswith(".json"):
            article_id = article_id[: -len(".json")]
        try:
            pinned = self.pin(request)
        except NewsarchiveError as exc:
            return self.failed(request, "article.html", exc, {"article": None, "id": article_id}, None)
        show_all = request.query_params.get("all") == "1"
        if show_all:  # possibly megabytes: not kept
            detail = article_detail(self.settings.archive, article_id, as_of=pinned.version, max_chars=2**31 - 1)
        else:
            detail = self.cached(("article", pinned.version, article_id), lambda: article_detail(
                self.settings.archive, article_id, as_of=pinned.version, max_chars=ARTICLE_CHARS))
        if detail is None:
            return self.render(request, "article.html",
                               {"article": None, "id": article_id,
                                "error": f"no article with id {article_id!r} in version {pinned.version}"},
                               pinned=pinned, status=404)
        return self.render(request, "article.html", {"article": detail, "id": article_id}, pinned=pinned,
                           page={"show_all_url": _with(request, all="1"), "show_all": show_all}, keep=not show_all)

    # -- /archive --
    async def archive_page(self, request: Request) -> Response:
        return await run_in_threadpool(self._archive_page, request)

    def _archive_page(self, request: Request) -> Response:
        from toolkit.explore import archive_overview

        try:
            pinned = self.pin(request)
        except NewsarchiveError as exc:
            return self.failed(request, "archive.html", exc, {"overview": None}, None)
        overview = self.cached(("archive", pinned.version),
                               lambda: archive_overview(self.settings.archive, as_of=pinned.version))
        chart = self.cached(("timeline", pinned.version), lambda: charts.svg(charts.timeline_spec(
            overview["timeline"]))) if overview.get("timeline") else None
        return self.render(request, "archive.html", {"overview": overview}, pinned=pinned, keep=True,
                           page={"chart": chart, "schema_text": json.dumps(_jsonable(overview.get("schema")),
                                                                           indent=2, ensure_ascii=False)})

    # -- /sql --
    async def sql(self, request: Request) -> Response:
        return await run_in_threadpool(self._sql, request)

    def _sql(self, request: Request) -> Response:
        from toolkit.sql.cookbook import RECIPES

        text = request.query_params.get("sql", "")
        cookbook = [{"name": r.name, "question": r.question, "url": "/sql?" + urlencode({"sql": r.sql})}
                    for r in RECIPES]
        form = {"sql": text, "as_of": request.query_params.get("as_of", "")}
        pinned = None
        try:
            pinned = self.pin(request)
            offset = _offset(request)
            result = None
            if text.strip():
                result = run_page(self.archive, text, as_of=pinned.version, offset=offset,
                                  timeout=self.settings.sql_timeout)
        except NewsarchiveError as exc:
            return self.failed(request, "sql.html", exc, {"form": form, "result": None, "cookbook": cookbook},
                               pinned)
        data: dict[str, Any] = {"form": form, "cookbook": cookbook, "result": None}
        page: dict[str, Any] = {}
        if result is not None:
            data["result"] = {"columns": result.columns, "types": result.types, "rows": result.rows,
                              "offset": result.offset, "more": result.more, "seconds": round(result.seconds, 3),
                              "messages": result.messages}
            page = {"next_url": _with(request, offset=str(offset + PAGE_ROWS)) if result.more else None,
                    "previous_url": _with(request, offset=str(max(offset - PAGE_ROWS, 0))) if offset else None,
                    "csv_url": _download(request, "csv", pinned), "parquet_url": _download(request, "parquet", pinned)}
        return self.render(request, "sql.html", data, pinned=pinned, page=page)

    async def sql_download(self, request: Request) -> Response:
        fmt = request.path_params["fmt"]
        text = request.query_params.get("sql", "")
        if not text.strip():
            return _plain_error("no query: pass ?sql=...", 400)
        try:
            pinned = await run_in_threadpool(self.pin, request)
            path = await run_in_threadpool(run_download, self.archive, text, as_of=pinned.version, fmt=fmt,
                                           timeout=self.settings.sql_timeout)
        except NewsarchiveError as exc:
            return _plain_error(str(exc), 400)
        media = TABLE_FORMATS[fmt]
        return FileResponse(path, media_type=media, filename=f"query-v{pinned.version}.{fmt}",
                            background=BackgroundTask(remove_download, path))


# --- parameters ------------------------------------------------------------------------------------

def wants_json(request: Request) -> bool:
    if request.url.path.endswith(".json"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def json_url(request: Request) -> str:
    path = request.url.path
    base = "/index.json" if path in ("", "/") else path + ".json"
    return base + (f"?{request.url.query}" if request.url.query else "")


def permalink(request: Request, pinned: Pinned | None) -> str:
    """This page at its version: the address to cite."""
    if pinned is None:
        return str(request.url.path)
    return _with(request, as_of=str(pinned.version))


def _with(request: Request, **changes: str) -> str:
    items = [(k, v) for k, v in request.query_params.multi_items() if k not in changes and k != "token"]
    items += list(changes.items())
    path = request.url.path
    if path.endswith(".json"):
        path = path[: -len(".json")] or "/"
        path = "/" if path == "/index" else path
    return path + ("?" + urlencode(items) if items else "")


def panel_url(request: Request, panel: str, fmt: str) -> str:
    items = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
    return f"/{panel}.{fmt}" + ("?" + urlencode(items) if items else "")


def _download(request: Request, fmt: str, pinned: Pinned) -> str:
    items = [(k, v) for k, v in request.query_params.multi_items() if k not in ("offset", "as_of", "token")]
    items.append(("as_of", str(pinned.version)))
    return f"/sql.{fmt}?" + urlencode(items)


def _offset(request: Request) -> int:
    raw = request.query_params.get("offset", "0").strip() or "0"
    if not raw.isdigit():
        raise NewsarchiveError(f"offset={raw!r}: pass a row number (0, 100, 200...)")
    return int(raw)


def _values(request: Request, name: str) -> tuple[str, ...]:
    """A repeatable parameter, also accepting comma-separated values (language=fr,ar)."""
    values: list[str] = []
    for raw in request.query_params.getlist(name):
        values += [v.strip() for v in raw.split(",") if v.strip()]
    return tuple(dict.fromkeys(values))


def _date(request: Request, name: str) -> dt.date | None:
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise NewsarchiveError(f"{name}={raw!r}: write the date as YYYY-MM-DD") from None


def _choice(request: Request, name: str, choices: tuple[str, ...], default: str | None) -> str | None:
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return default
    if raw not in choices:
        raise NewsarchiveError(f"{name}={raw!r}: use one of {', '.join(choices)}")
    return raw


def explore_form(request: Request) -> dict[str, Any]:
    """The form as typed (also when it does not parse), to show it back."""
    params = request.query_params
    return {"queries": [q for q in params.getlist("q") if q.strip()], "language": ",".join(params.getlist("language")),
            "source": ",".join(params.getlist("source")), "since": params.get("since", ""),
            "until": params.get("until", ""), "by": params.get("by", "day"), "split": params.get("split", ""),
            "copies": params.get("copies", "one"), "measure": params.get("measure", "matches"),
            "as_of": params.get("as_of", "")}


def explore_params(request: Request) -> dict[str, Any]:
    """The explore page's parameters, checked (a bad one is one line under the form)."""
    since, until = _date(request, "since"), _date(request, "until")
    if since and until and since > until:
        raise NewsarchiveError(f"since={since} is after until={until}")
    return {
        "queries": [q.strip() for q in request.query_params.getlist("q") if q.strip()],
        "language": _values(request, "language"), "source": _values(request, "source"),
        "since": since, "until": until,
        "by": _choice(request, "by", ("day", "week", "month"), "day"),
        "split": _choice(request, "split", ("source", "language"), None),
        "copies": _choice(request, "copies", ("one", "all"), "one"),
        "measure": _choice(request, "measure", ("matches", "share"), "matches"),
    }


def params_public(params: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()}


_PANEL_THREADS = ThreadPoolExecutor(max_workers=HEAVY_AT_ONCE, thread_name_prefix="newsarchive-panels")  # 1 a page


def explore_data(archive: Any, version: int, params: dict[str, Any], panels: tuple[str, ...] = PANELS,
                 after_attention: Callable[[pa.Table], Any] | None = None) -> dict[str, Any]:
    """Every panel's numbers, from toolkit.explore at one version (no query logic here).

    Two branches run at once: the counts (attention, then summary and outlets from its pass, then
    `after_attention(table)`: the page draws its chart there) and the articles (the sample and the top
    terms, from one ranked pass per query). Most of each is tantivy, Arrow or vl-convert, which release
    the GIL, so on 2 cores a new page costs about the longer branch, not their sum."""
    from toolkit.explore import Scope, attention, outlets, parse_query, sample_articles, summary, top_terms

    scope = Scope(archive, as_of=version, language=params["language"], source=params["source"],
                  since=params["since"], until=params["until"], copies=params["copies"])
    queries = params["queries"]
    for text in queries:
        parse_query(text)  # a malformed query fails before any panel runs
    data: dict[str, Any] = {}
    if not queries:
        return data

    def read_articles() -> dict[str, Any]:
        found: dict[str, Any] = {}
        if "samples" in panels:
            found["samples"] = [{"query": q, "articles": sample_articles(scope, q, limit=SAMPLES)} for q in queries]
        if "terms" in panels:
            tables = [(q, top_terms(scope, q)) for q in queries]
            found["terms"] = _concat_terms(tables)
            found["terms_sample"] = {q: _sample_size(t) for q, t in tables}
        return found

    reading = _PANEL_THREADS.submit(read_articles) if "samples" in panels or "terms" in panels else None
    try:
        # attention first: its pass over the matches also counts them in all and per outlet (kept)
        counted = attention(scope, queries, by=params["by"], split=params["split"]) if "attention" in panels else None
        if "summary" in panels:
            data["summary"] = summary(scope, queries)
        if counted is not None:
            data["attention"] = counted
        if "outlets" in panels:
            data["outlets"] = outlets(scope, queries)
        if counted is not None and after_attention is not None:
            after_attention(counted)
    finally:
        found = reading.result() if reading is not None else {}  # waited for (and its error raised) even after one here
    data.update(found)
    return {name: data[name] for name in ("summary", "attention", "outlets", "samples", "terms", "terms_sample")
            if name in data}


def _key(params: dict[str, Any]) -> tuple:
    return tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in sorted(params.items()) if k != "measure")


def _sample_size(table: pa.Table) -> int | None:
    meta = table.schema.metadata or {}
    raw = meta.get(b"sample_size")
    return int(raw) if raw is not None else None


def _concat_terms(tables: list[tuple[str, pa.Table]]) -> pa.Table:
    """One table of top terms, a `query` column first (the page shows one list per query)."""
    parts = [t.add_column(0, "query", pa.array([q] * t.num_rows, pa.string())) for q, t in tables]
    if not parts:
        return pa.table({"query": pa.array([], pa.string())})
    return pa.concat_tables(parts, promote_options="default").replace_schema_metadata(None)


def samples_table(samples: list[dict[str, Any]]) -> pa.Table:
    """The sample articles as a table for download: the snippet as plain text."""
    rows = []
    for group in samples:
        for a in group["articles"]:
            rows.append({"query": group["query"], "id": a.get("id"), "title": a.get("title"),
                         "source": a.get("source"), "language": a.get("language"),
                         "published_date": _iso(a.get("published_date")), "copies": a.get("copies"),
                         "snippet": "".join(str(seg[0]) for seg in a.get("snippet") or [])})
    schema = pa.schema([("query", pa.string()), ("id", pa.string()), ("title", pa.string()),
                        ("source", pa.string()), ("language", pa.string()), ("published_date", pa.string()),
                        ("copies", pa.int64()), ("snippet", pa.string())])
    return pa.Table.from_pylist(rows, schema=schema)


def _attachment(name: str) -> dict[str, str]:
    return {"content-disposition": f'attachment; filename="{name}"'}


def _plain_error(text: str, status: int) -> Response:
    return Response(text + "\n", status_code=status, media_type="text/plain; charset=utf-8")


def _not_found(text: str) -> Response:
    return _plain_error(text, 404)


# --- assembly --------------------------------------------------------------------------------------

def create_app(archive: str | os.PathLike | None = None, *, as_of: int | None = None, sql_timeout: float = 30.0,
               token: str | None = None, hosts: tuple[str, ...] = ()) -> Guard:
    """The ASGI app over `archive` (read-only), wrapped in the request rules of `security.Guard`.

    The archive is opened (and `as_of` checked) here, so a wrong archive fails at start, not on the
    first page.
    """
    settings = Settings(archive=archive, as_of=as_of, sql_timeout=sql_timeout, token=token, hosts=hosts)
    pages = Pages(settings)
    pages.archive.at(as_of)  # fails now, one line, if the archive or the version is missing

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        return _plain_error(f"{request.url.path}: {getattr(exc, 'detail', 'not found')}", status)

    async def user_error(request: Request, exc: Exception) -> Response:
        return _plain_error(str(exc), 400)

    routes = [
        Route("/", pages.explore, methods=["GET"]),
        Route("/index.json", pages.explore, methods=["GET"]),
        Route("/favicon.ico", lambda request: Response(status_code=204), methods=["GET"]),
        Route("/archive", pages.archive_page, methods=["GET"]),
        Route("/archive.json", pages.archive_page, methods=["GET"]),
        Route("/sql", pages.sql, methods=["GET"]),
        Route("/sql.json", pages.sql, methods=["GET"]),
        Route("/sql.{fmt:str}", pages.sql_download, methods=["GET"]),
        Route("/article/{id:path}", pages.article, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
        Route("/{panel:str}.{fmt:str}", pages.panel, methods=["GET"]),
    ]
    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found,
                                                       NewsarchiveError: user_error})
    return Guard(app, token=token, hosts=hosts, name=pages.name)
