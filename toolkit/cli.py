"""The `newsarchive` command: thin wrappers over the Python API, one line of error and an exit code."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import click

from toolkit import __version__
from toolkit.core.errors import EXIT_INTERRUPTED, EXIT_USAGE, NewsarchiveError, environment_error, note
from toolkit.core.interrupts import as_interrupt, interrupted

EXIT_CODES_HELP = (
    "Exit status: 0 success, 1 findings (invalid records, rejected inputs), 2 the run could not happen, "
    "130 interrupted (SIGINT or SIGTERM)."
)


class _Interrupted(Exception):
    """A KeyboardInterrupt carried past click, which would print an empty line for it first."""


class _Group(click.Group):
    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            raise _Interrupted() from exc


# --- options shared by several commands: defined once, stacked where needed ---------------------

def archive_option(func=None, *, help: str | None = None):  # noqa: A002 (click's own name)
    """`--archive URI`: the archive root (default: $NEWSARCHIVE_ARCHIVE or ./archive, where the command has one)."""
    option = click.option("--archive", "archive", metavar="URI", default=None,
                          help=help or "Archive root: a folder or s3://bucket/prefix (default: $NEWSARCHIVE_ARCHIVE "
                                       "or ./archive). S3 settings come from the AWS_* environment variables.")
    return option if func is None else option(func)


def schema_option(func):
    """`--schema FILE`: a Draft 2020-12 JSON Schema instead of the packaged article schema."""
    return click.option("--schema", "schema", type=click.Path(dir_okay=False), default=None,
                        help="Draft 2020-12 JSON Schema (default: the packaged article schema).")(func)


def jobs_option(func=None, *, help: str = "Worker processes (default: cores)."):  # noqa: A002
    """`--jobs N`: worker processes of the executor (default: `toolkit.core.executor.default_jobs()`)."""
    option = click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, help=help)
    return option if func is None else option(func)


def executor_option(func):
    """`--executor local|ray`: where the work runs (`toolkit.core.executor.executor`), passed as `backend`."""
    return click.option("--executor", "backend", type=click.Choice(["local", "ray"]), default=None,
                        help="Where the work runs: local (this machine's cores) or ray (the cluster at "
                             "$RAY_ADDRESS, else a local Ray) (default: $NEWSARCHIVE_EXECUTOR, else local).")(func)


def quiet_option(func):
    """`--quiet`: no progress bar (bars appear on a terminal only anyway)."""
    return click.option("--quiet", "-q", is_flag=True, help="No progress bar.")(func)


def format_option(*choices: str, default: str | None = None, help: str = "Output format."):  # noqa: A002
    """`--format`: one of `choices` (the first is the default), passed to the command as `fmt`."""
    return click.option("--format", "fmt", type=click.Choice(list(choices)), default=default or choices[0],
                        show_default=True, help=help)


def _wire_commit_hooks() -> None:
    """After each commit of append or compact, the SQL catalog follows (the archive does not import sql)."""
    from toolkit.archive.hooks import on_commit
    from toolkit.sql.catalog import commit_hook

    on_commit(commit_hook)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             epilog=EXIT_CODES_HELP)
@click.version_option(__version__, prog_name="newsarchive")
def cli() -> None:
    """Turn scraped news articles into a dataset people can trust, query and publish."""


@cli.command("validate", epilog="Exit status: 0 all records valid, 1 some invalid, 2 the run could not happen.")
@click.argument("paths", nargs=-1, required=True)
@schema_option
@format_option("text", "json", "github", "junit", help="Report format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the report to FILE instead of standard output.")
@click.option("--quarantine", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write every invalid line verbatim, with its errors, to FILE (JSON Lines).")
@click.option("--max-errors", type=click.IntRange(min=0), default=None,
              help="Keep at most N errors in the report (all records are still counted).")
@jobs_option
@archive_option(help="Also flag records whose id this archive (a folder or s3://bucket/prefix) already holds: "
                     "warnings, or errors with --strict.")
@click.option("--strict", is_flag=True, help="With --archive: ids already archived are errors (exit 1).")
@quiet_option
@executor_option
def validate_cmd(paths: Sequence[str], schema: str | None, fmt: str, output: str | None,
                 quarantine: str | None, max_errors: int | None, jobs: int | None, archive: str | None,
                 strict: bool, quiet: bool, backend: str | None) -> None:
    """Validate JSON Lines batches (files, directories, .gz/.zst, or - for stdin) against the schema."""
    from toolkit.validate import validate
    from toolkit.validate.render import write_report

    if strict and archive is None:
        raise click.UsageError("--strict needs --archive URI (it turns ids already archived into errors)")
    archived = None
    if archive is not None:  # the archive's ids, asked of the archive stage: validate does not import it
        from toolkit.archive.lookup import archived_ids

        archived = archived_ids(archive)
    report = validate(paths, schema, quarantine=quarantine, max_errors=max_errors, jobs=jobs,
                      progress=not quiet, archive=archived, strict=strict, report_output=output, backend=backend)
    try:
        write_report(report, fmt, output, sys.stdout)
    except BrokenPipeError:
        raise  # the reader left (| head): main() exits quietly
    except OSError as exc:
        raise NewsarchiveError(f"{output or 'standard output'}: cannot write the report ({exc.strerror})") from None
    finally:
        report.close()
    sys.exit(report.exit_code)


# --- extract: commands of toolkit.extract go here ---------------------------------------------

@cli.command("extract", epilog="Exit status: 0 every page extracted, 1 some pages rejected, "
                                "2 the run could not happen.")
@click.argument("inputs", nargs=-1, required=True)
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False),
              help="JSON Lines file to write the records to (- for standard output).")
@format_option("auto", "maghress", "html", "warc", help="Input format; auto goes by extension, then content.")
@click.option("--rejects", type=click.Path(dir_okay=False), default=None,
              help='Write every rejected page to FILE as JSON Lines {"input", "record", "reason"}.')
@jobs_option
@click.option("--languages", default=None, metavar="CODES",
              help="Candidate languages, ISO 639-1, comma-separated (default: ar,fr,en,es,de,it,pt,nl), or all; "
                   "a page in none of them is labelled und.")
@click.option("--source", default=None, metavar="NAME",
              help="The outlet of HTML pages that name none (a folder of pages saved from one site).")
@quiet_option
@executor_option
def extract_cmd(inputs: Sequence[str], output: str, fmt: str, rejects: str | None, jobs: int | None,
                languages: str | None, source: str | None, quiet: bool, backend: str | None) -> None:
    """Extract article records from page files or directories: Maghress dumps, HTML(.gz), WARC(.gz), ARC(.gz), WACZ."""
    from toolkit.extract import extract

    report = extract(inputs, output, fmt=fmt, rejects=rejects, jobs=jobs, progress=not quiet,
                     languages=languages.split(",") if languages else None, source=source, backend=backend)
    click.echo(report.summary(), err=output == "-")
    sys.exit(report.exit_code)


# --- archive: commands of toolkit.archive go here ---------------------------------------------

@cli.command("append", epilog="Exit status: 0 a batch was appended, or nothing was new (files already archived, "
             "every record a duplicate); 1 nothing appended because every line was invalid; 2 the run could not "
             "happen.")
@click.argument("batches", nargs=-1, required=True)
@archive_option
@schema_option
@format_option("text", "json")
@quiet_option
@jobs_option(help="Worker processes that validate, sort and write (default: cores).")
@executor_option
def append_cmd(batches: Sequence[str], archive: str | None, schema: str | None, fmt: str, quiet: bool,
               jobs: int | None, backend: str | None) -> None:
    """Append JSON Lines batches to the archive: validated, deduplicated, in one commit."""
    from toolkit.archive import append

    _wire_commit_hooks()
    result = append(batches, archive=archive, schema=schema, progress=not quiet, jobs=jobs, backend=backend)
    _show_append(result, fmt)
    sys.exit(result.exit_code)


def _show_append(result, fmt: str) -> None:
    """`append`'s output, all of it: notes on stderr, then the result as text or JSON."""
    import json

    for batch in result.repaired:
        click.echo(f"newsarchive: completed batch {batch}, whose append had been interrupted", err=True)
    for skip in result.skipped:
        where = f"already archived in batch {skip.batch}" if skip.batch else "same content as another input"
        click.echo(f"newsarchive: skipped {skip.name}: {where}", err=True)
    if fmt == "json":
        click.echo(json.dumps(result.as_dict()))
    elif result.noop and not result.skipped:
        click.echo(f"nothing to append: the inputs hold no records (archive version {result.version})")
    elif result.noop:
        click.echo(f"nothing to append: every input is already archived (archive version {result.version})")
    else:
        click.echo(f"appended batch {result.batch} as version {result.version}: {result.input} lines in, "
                   f"{result.appended} appended, {result.duplicates} duplicates, {result.quarantined} quarantined, "
                   f"{result.near_duplicates} near-duplicates (joined a cluster)")


@cli.command("history", epilog="Exit status: 0 listed, 2 the run could not happen.")
@archive_option
@format_option("text", "json")
def history_cmd(archive: str | None, fmt: str) -> None:
    """List the archive's versions with the batch and counts behind each."""
    from toolkit.archive.history import history, render_json, render_text

    entries = history(archive)
    click.echo(render_json(entries) if fmt == "json" else render_text(entries))


@cli.command("compact", epilog="Exit status: 0 done, 2 the run could not happen.")
@archive_option
@click.option("--retention-hours", type=click.IntRange(min=0), default=168, show_default=True,
              help="Vacuum files removed (or never committed) more than H hours ago.")
@click.option("--force", is_flag=True,
              help="Allow a retention below the archive's 168 hours; only when nothing else uses the archive.")
def compact_cmd(archive: str | None, retention_hours: int, force: bool) -> None:
    """Merge small data files (sorted, one commit), then vacuum files older than the retention."""
    from toolkit.archive import compact

    _wire_commit_hooks()
    _show_compact(compact(archive, retention_hours, force=force))


def _show_compact(result) -> None:
    """`compact`'s output: notes on stderr, then per table what was merged and vacuumed."""
    for batch in result.repaired:
        click.echo(f"newsarchive: completed batch {batch}, whose append had been interrupted", err=True)
    for name in result.files_removed:
        click.echo(f"{name}: {result.files_removed[name]} files merged into {result.files_added[name]}, "
                   f"{result.vacuumed.get(name, 0)} files vacuumed")
    click.echo(f"archive version {result.version}")


@cli.command("verify", epilog="Exit status: 0 no fault found, 1 faults found (each named), 2 the run could not "
             "happen.")
@click.argument("directory", required=False, metavar="[DIR]")
@archive_option
@click.option("--quick", is_flag=True, help="Check sizes and Parquet footers only: fast, but not a fixity check "
              "(no file is re-hashed against its recorded SHA-256).")
@format_option("text", "json")
def verify_cmd(directory: str | None, archive: str | None, quick: bool, fmt: str) -> None:
    """Verify the archive (files and their SHA-256, row counts, ledger, unique ids), or a published snapshot DIR,
    or a bag DIR that `deposit` wrote."""
    if directory is not None:
        sys.exit(_verify_snapshot_dir(directory))
    from toolkit.archive.verify import render_json, render_text, verify

    report = verify(archive, quick=quick)
    click.echo(render_json(report) if fmt == "json" else render_text(report))
    sys.exit(0 if report.ok else 1)


def _verify_snapshot_dir(directory: str) -> int:
    """The publish stage's check of a snapshot folder (toolkit.publish.verify_snapshot); its exit status."""
    if os.path.isfile(os.path.join(directory, "bagit.txt")):
        from toolkit.publish import verify_bag

        bag = verify_bag(directory)  # the bag (bagit), then the snapshot in its data/
        for problem in bag.problems:
            click.echo(f"FAULT  {problem}")
        click.echo(bag.summary())
        return 0 if bag.ok else 1
    if os.path.isdir(os.path.join(directory, "articles", "_delta_log")):
        raise NewsarchiveError(f"{directory}: is an archive, not a snapshot folder; verify an archive with "
                               f"`newsarchive verify --archive {directory}`")
    try:
        from toolkit.publish import verify_snapshot
    except ImportError:
        raise NewsarchiveError(f"{directory}: verifying a snapshot folder needs the publish stage "
                               "(toolkit.publish.verify_snapshot); pass --archive URI to verify an archive") from None
    check = verify_snapshot(directory)
    for problem in check.problems:
        click.echo(f"FAULT  {problem}")
    click.echo(check.summary())
    return 0 if check.ok else 1


# --- sql: commands of toolkit.sql go here -----------------------------------------------------

@cli.command("catalog", epilog="Exit status: 0 written, 2 the run could not happen.")
@archive_option
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="The DuckDB file to write (default: <archive>/catalog.duckdb).")
def catalog_cmd(archive: str | None, output: str | None) -> None:
    """Write a DuckDB file of views over the archive (articles, quarantine, batches, aggregates)."""
    from toolkit.sql import build_catalog

    result = build_catalog(archive, output)
    click.echo(result.summary())
    if not result.path.startswith("s3://"):
        folder, name = os.path.split(result.path)
        click.echo(f"open it from its folder: cd {folder} && duckdb -readonly {name}")


@cli.command("sql", epilog="Exit status: 0 the query ran, 2 it could not (a bad query prints DuckDB's message).")
@click.argument("query", required=False)
@archive_option
@click.option("--as-of", type=click.IntRange(min=0), default=None, metavar="VERSION",
              help="Query this past version of the archive (see `newsarchive history`).")
@format_option("table", "csv", "json", "parquet",
               help="table (first 100 rows), csv, json (JSON Lines) or parquet (needs --output).")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None, help="Write the rows to FILE.")
@click.option("--allow-path", "allow_paths", multiple=True, metavar="PATH",
              help="Let the query read this file or folder of yours too (read-only; repeatable).")
def sql_cmd(query: str | None, archive: str | None, as_of: int | None, fmt: str, output: str | None,
            allow_paths: Sequence[str]) -> None:
    """Run one read-only SQL query (QUERY, or standard input) over the views articles, quarantine, batches,
    articles_per_month, sources and catalog_info. It reads only the archive and --allow-path files, and
    writes only --output (see docs/sql-sandbox.md)."""
    from toolkit.sql import write_query

    if query is None or query == "-":
        if sys.stdin.isatty():
            raise click.UsageError("no query: pass QUERY, or pipe it on standard input")
        query = _utf8_text(sys.stdin.buffer.read(), "the query on standard input")
    query = _utf8_text(query, "QUERY")
    if output is not None:
        _utf8_text(output, "--output")
    rows = write_query(query, archive, as_of=as_of, fmt=fmt, output=output, allow_paths=allow_paths)
    if output is not None:
        click.echo(f"{rows:,} rows -> {output}", err=True)


@cli.command("search", epilog="Exit status: 0 searched (even with no match), 2 the run could not happen.")
@click.argument("terms", nargs=-1)
@archive_option
@click.option("--language", metavar="CODE", default=None, help="Only articles in this language (fr, ar, es, en...).")
@click.option("--source", metavar="NAME", default=None, help="Only this outlet (its exact name).")
@click.option("--since", metavar="DATE", default=None, help="Published on or after DATE (YYYY-MM-DD).")
@click.option("--until", metavar="DATE", default=None, help="Published on or before DATE (YYYY-MM-DD).")
@click.option("--limit", type=click.IntRange(min=1), default=10, show_default=True, help="At most N articles.")
@format_option("table", "json", "parquet",
               help="table, json (JSON Lines: one article per line) or parquet (needs --output).")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write the hits to FILE instead of standard output.")
@click.option("--rebuild", is_flag=True, help="Rebuild the search index from scratch first (it is a cache).")
@click.option("--all-copies", is_flag=True,
              help="List every near-duplicate copy (default: one hit per cluster, with its copies counted).")
def search_cmd(terms: Sequence[str], archive: str | None, language: str | None, source: str | None,
               since: str | None, until: str | None, limit: int, fmt: str, output: str | None,
               rebuild: bool, all_copies: bool) -> None:
    """Full-text search (BM25 over title and text, stemmed per language); best matches first."""
    from toolkit.search import search, write_hits

    terms = [_utf8_text(t, "a search term") for t in terms]
    for value, what in ((language, "--language"), (source, "--source"), (since, "--since"), (until, "--until")):
        if value is not None:
            _utf8_text(value, what)
    if not terms and not rebuild:
        raise click.UsageError("no search terms; pass the words to look for (or --rebuild alone)")
    if rebuild:
        from toolkit.search.index import update_index

        update = update_index(archive, rebuild=True)
        click.echo(update.describe(), err=True)
        if not terms:
            return
    result = search(terms, archive, language=language, source=source, since=since, until=until, limit=limit,
                    all_copies=all_copies)
    if result.index.changed:
        click.echo(result.index.describe(), err=True)
    if result.note:
        note(f"{result.note}; searched its words as plain words instead (docs/query-language.md)")
    write_hits(result, fmt, output, sys.stdout)
    if output is not None:
        click.echo(f"{len(result.hits)} hits -> {output}", err=True)


# --- explore: attention and outlets (toolkit.explore; the web page shows the same numbers) ----------
def _explore_options(func):
    """QUERY... and the scope options shared by `attention` and `outlets`."""
    for option in reversed([
        click.argument("queries", nargs=-1, metavar="QUERY..."),
        archive_option,
        click.option("--language", metavar="CODE", multiple=True, help="Only this language (repeatable)."),
        click.option("--source", metavar="NAME", multiple=True, help="Only this outlet, exact name (repeatable)."),
        click.option("--since", metavar="DATE", default=None, help="Published on or after DATE (YYYY-MM-DD)."),
        click.option("--until", metavar="DATE", default=None, help="Published on or before DATE (YYYY-MM-DD)."),
        click.option("--as-of", type=click.IntRange(min=0), default=None, metavar="VERSION",
                     help="Count in this archive version (default: the latest)."),
        click.option("--copies", type=click.Choice(["one", "all"]), default="one", show_default=True,
                     help="one: a near-duplicate cluster counts once; all: every copy."),
        format_option("table", "csv", "json", "parquet",
                      help="table, csv, json (JSON Lines) or parquet (needs --output)."),
        click.option("--output", "-o", type=click.Path(dir_okay=False), default=None, help="Write to FILE."),
    ]):
        func = option(func)
    return func


def _explore_scope(queries: Sequence[str], archive: str | None, language: Sequence[str], source: Sequence[str],
                   since: str | None, until: str | None, as_of: int | None, copies: str):
    from toolkit.explore import Scope
    from toolkit.search.query import parse_date

    queries = [_utf8_text(q, "QUERY") for q in queries]
    if not queries:
        raise click.UsageError("no query; pass one or more, e.g. newsarchive attention Bourita")
    from toolkit.explore import parse_query
    from toolkit.search import current_index

    for query in queries:
        parse_query(query)  # a malformed query is said before any work
    scope = Scope(archive, as_of=as_of, language=tuple(_utf8_text(v, "--language") for v in language),
                  source=tuple(_utf8_text(v, "--source") for v in source), since=parse_date(since, "--since"),
                  until=parse_date(until, "--until"), copies=copies)  # type: ignore[arg-type]
    update, _ = current_index(archive)  # built or brought up to date first, said in one line as `search` does
    if update.changed:
        click.echo(update.describe(), err=True)
    return queries, scope.resolved()


def _write_explore(table, fmt: str, output: str | None, archive_root: str) -> None:
    from toolkit.core.outputs import atomic_path, refuse_inside_archive
    from toolkit.explore import write_table

    if output is None:
        if fmt == "parquet":
            raise NewsarchiveError("--format parquet writes a file: pass --output FILE")
        sys.stdout.flush()
        write_table(table, fmt, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return
    output = _utf8_text(output, "--output")
    refuse_inside_archive(output, archive_root, "--output")
    with atomic_path(output, "--output") as temporary, open(temporary, "wb") as out:
        write_table(table, fmt, out)
    click.echo(f"{table.num_rows:,} rows -> {output}", err=True)


@cli.command("attention", epilog="Exit status: 0 counted, 2 the run could not happen (a malformed query too). "
                                 "Query syntax: docs/query-language.md.")
@_explore_options
@click.option("--by", type=click.Choice(["day", "week", "month"]), default="day", show_default=True,
              help="Bucket of time (weeks start on Monday).")
@click.option("--split", type=click.Choice(["source", "language"]), default=None,
              help="One series per outlet or language.")
def attention_cmd(queries: Sequence[str], archive: str | None, language: Sequence[str], source: Sequence[str],
                  since: str | None, until: str | None, as_of: int | None, copies: str, fmt: str,
                  output: str | None, by: str, split: str | None) -> None:
    """Matching articles per day, week or month, and their share of all articles in scope."""
    from toolkit.explore import attention

    texts, scope = _explore_scope(queries, archive, language, source, since, until, as_of, copies)
    _write_explore(attention(scope, texts, by=by, split=split), fmt, output, scope.root)


@cli.command("outlets", epilog="Exit status: 0 counted, 2 the run could not happen (a malformed query too). "
                               "Query syntax: docs/query-language.md.")
@_explore_options
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="At most N outlets per query.")
def outlets_cmd(queries: Sequence[str], archive: str | None, language: Sequence[str], source: Sequence[str],
                since: str | None, until: str | None, as_of: int | None, copies: str, fmt: str,
                output: str | None, limit: int) -> None:
    """The outlets with the most matching articles, and the share of each outlet's output."""
    from toolkit.explore import outlets

    texts, scope = _explore_scope(queries, archive, language, source, since, until, as_of, copies)
    _write_explore(outlets(scope, texts, limit=limit), fmt, output, scope.root)


def _utf8_text(value: str | bytes, what: str) -> str:
    """`value` as text, or one line saying it is not UTF-8: a terminal in another encoding passes
    bytes Python keeps as lone surrogates, which DuckDB and the index cannot take."""
    try:
        raw = value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")
        return raw.decode("utf-8")
    except (UnicodeDecodeError, UnicodeEncodeError) as exc:
        bad = exc.object[exc.start:exc.start + 1]
        shown = f"0x{bad[0]:02x}" if isinstance(bad, bytes) and bad else repr(bad)
        raise NewsarchiveError(f"{what} is not valid UTF-8 (byte {shown} at position {exc.start + 1}); "
                               "write it in UTF-8 (check the terminal's or the file's encoding)") from None


# --- publish: commands of toolkit.publish go here ---------------------------------------------

def _size(text: str) -> int:
    """500MB, 1.5GB, 200000 (bytes): decimal units, as the Hub counts."""
    import re

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]?B?)\s*", text.upper())
    if not match:
        raise click.BadParameter(f"{text!r} is not a size such as 500MB or 1GB")
    factor = {"": 1, "B": 1, "K": 10**3, "KB": 10**3, "M": 10**6, "MB": 10**6, "G": 10**9, "GB": 10**9}
    return int(float(match.group(1)) * factor[match.group(2)])


@cli.command("publish", epilog="Exit status: 0 published (or planned, with --dry-run), 2 the run could not happen.")
@archive_option
@click.option("--version", "version_tag", required=True, help="Snapshot tag, e.g. v1.0.0 (also the Hub tag).")
@click.option("--output", required=True, type=click.Path(file_okay=False),
              help="The snapshot folder to create, e.g. snapshots/v1.0.0 (refused if it holds a snapshot).")
@click.option("--as-of", type=click.IntRange(min=0), default=None,
              help="Archive version to publish (default: the current one).")
@click.option("--dataset", default=None, help="Recipe folder datasets/NAME (default: datasets/maghress-sample "
              "when present).")
@click.option("--repo-id", default=None, help="Hub dataset ORG/NAME: named in the card, needed by --push/--dry-run.")
@click.option("--push", is_flag=True, help="Commit the snapshot to the Hub and tag that commit.")
@click.option("--dry-run", is_flag=True, help="Print the Hub calls --push would make; no network.")
@click.option("--force", is_flag=True, help="Replace a snapshot that --output already holds.")
@click.option("--max-shard-size", default="500MB", show_default=True, help="Largest Parquet shard, e.g. 500MB.")
@click.option("--bag", "bag", default=None, type=click.Path(file_okay=False),
              help="Also deposit the snapshot as a BagIt bag in this folder (see `newsarchive deposit`).")
@click.option("--dedup", type=click.Choice(["none", "near"]), default="none", show_default=True,
              help="near: keep one article per near-duplicate cluster (its representative).")
@executor_option
def publish_cmd(archive: str | None, version_tag: str, output: str, as_of: int | None, dataset: str | None,
                repo_id: str | None, push: bool, dry_run: bool, force: bool, max_shard_size: str,
                bag: str | None, dedup: str, backend: str | None) -> None:
    """Publish an archive version as an immutable, Hub-ready snapshot folder (and optionally push it)."""
    from toolkit.publish import ShardOptions, publish

    if bag is not None:  # refuse a bag that cannot be written before anything is published
        from pathlib import Path

        from toolkit.publish.bagging import check_bag_output, deposit_metadata
        from toolkit.publish.recipe import load_recipe

        check_bag_output(Path(bag), force, Path(output))
        deposit_metadata(load_recipe(dataset))

    snapshot = publish(archive, version_tag, output, as_of=as_of, dataset=dataset, repo_id=repo_id, push=push,
                       dry_run=dry_run, force=force, options=ShardOptions(max_shard_bytes=_size(max_shard_size)),
                       dedup=dedup, backend=backend)
    _show_publish(snapshot)
    if bag is not None:
        _echo_deposit(str(snapshot.path), bag, dataset=dataset, force=force)


def _show_publish(snapshot) -> None:
    """`publish`'s output: the snapshot, its changes, its card, and the push (planned or done)."""
    shards = snapshot.shards
    click.echo(f"published {snapshot.tag} from archive version {snapshot.archive_version}: "
               f"{shards.num_examples:,} articles in {len(shards.files)} shard(s), "
               f"{shards.download_size:,} bytes -> {snapshot.path}")
    if snapshot.changelog is not None:
        change = snapshot.changelog
        click.echo(f"changes since {change.previous_tag}: {change.added:,} added, {change.removed:,} removed")
    click.echo(f"card: {snapshot.card}")
    if snapshot.push_plan is not None and snapshot.pushed is None:
        click.echo("\n".join(snapshot.push_plan.lines()))
    if snapshot.pushed is not None:
        click.echo(f"pushed: {snapshot.pushed.url} at tag {snapshot.tag} (commit {snapshot.pushed.commit_oid})")


@cli.command("deposit", epilog="Exit status: 0 the bag was written and validated, 2 the run could not happen.")
@click.argument("snapshot_dir", metavar="SNAPSHOT_DIR")
@click.option("--output", required=True, type=click.Path(file_okay=False),
              help="The bag folder to create (refused if it holds anything but a bag; a bag only with --force).")
@click.option("--dataset", default=None, help="Recipe folder datasets/NAME with the deposit fields (creators, "
              "publisher, contact) (default: datasets/maghress-sample when present).")
@click.option("--algorithm", "algorithms", default="sha256,sha512", show_default=True,
              help="Manifest checksums, comma-separated.")
@click.option("--bagging-date", default=None, metavar="YYYY-MM-DD",
              help="Bagging-Date of bag-info.txt (default: the snapshot's publication date, so bags are reproducible).")
@click.option("--force", is_flag=True, help="Replace a bag that --output already holds.")
def deposit_cmd(snapshot_dir: str, output: str, dataset: str | None, algorithms: str, bagging_date: str | None,
                force: bool) -> None:
    """Package a published snapshot as a BagIt 1.0 bag with a DataCite record, for a preservation repository."""
    _echo_deposit(snapshot_dir, output, dataset=dataset, algorithms=algorithms, bagging_date=bagging_date,
                  force=force)


def _echo_deposit(snapshot_dir: str, output: str, **options: object) -> None:
    from toolkit.publish import deposit

    result = deposit(snapshot_dir, output, **options)
    click.echo(f"deposited {result.tag}: {result.payload_files} payload files, {result.payload_bytes:,} bytes, "
               f"manifests {', '.join(result.algorithms)}, Bagging-Date {result.bagging_date} -> {result.path}")


@cli.command("serve", epilog="Exit status: 130 when stopped (Ctrl-C or SIGTERM), 2 it could not start.")
@archive_option
@click.option("--as-of", type=click.IntRange(min=0), default=None, metavar="VERSION",
              help="Serve this past version (default: each page shows the latest when it loads).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; any other than loopback needs --token.")
@click.option("--port", type=click.IntRange(0, 65535), default=8001, show_default=True, help="Port (0: a free one).")
@click.option("--token", default=None, metavar="T",
              help="Every request must carry it (?token=T once, or Authorization: Bearer T); "
                   "default: $NEWSARCHIVE_SERVE_TOKEN.")
@click.option("--sql-timeout", type=click.FloatRange(min=0, min_open=True), default=30.0, show_default=True,
              metavar="SECONDS", help="Cancel a query of the /sql page after this long.")
def serve_cmd(archive: str | None, as_of: int | None, host: str, port: int, token: str | None,
              sql_timeout: float) -> None:
    """A read-only web app over the archive: coverage over time, outlets, articles, the archive, SQL
    (see docs/serve.md). Serves until Ctrl-C."""
    from toolkit.serve import serve

    for value, what in ((host, "--host"), (token, "--token")):
        if value is not None:
            _utf8_text(value, what)
    serve(archive, as_of=as_of, host=host, port=port, token=token, sql_timeout=sql_timeout)


# --- end of commands --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: user errors become one line on stderr and exit status 2, never a traceback;
    SIGINT and SIGTERM become one line and exit status 130, whatever error they caused on the way."""
    with as_interrupt():
        _run(argv)


def _interrupted() -> None:
    """One line (after the terminal's ^C, on a line of its own), exit status 130."""
    newline = "\n" if sys.stderr.isatty() else ""
    click.echo(f"{newline}newsarchive: interrupted", err=True)
    sys.exit(EXIT_INTERRUPTED)


def _run(argv: Sequence[str] | None) -> None:
    try:
        try:
            cli.main(args=list(argv) if argv is not None else None, prog_name="newsarchive",
                     standalone_mode=False)
        except (Exception, KeyboardInterrupt):
            if interrupted():  # e.g. DuckDB's "Query interrupted", a worker hit by the same Ctrl-C
                _interrupted()
            raise
    except _Interrupted:
        _interrupted()
    except NewsarchiveError as exc:
        click.echo(f"newsarchive: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        _interrupted()
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx is not None else "newsarchive"
        click.echo(f"{command}: error: {exc.format_message()} (see '{command} --help')", err=True)
        sys.exit(EXIT_USAGE)
    except click.ClickException as exc:
        click.echo(f"newsarchive: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _interrupted()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)
    except SystemExit:
        raise
    except Exception as exc:  # a bug, not bad input: still one line, with a way to get details
        if os.environ.get("NEWSARCHIVE_DEBUG"):
            raise
        refused = environment_error(exc)  # a full disk, a read-only file system: the user's to fix
        if refused is not None:
            click.echo(f"newsarchive: error: {refused}", err=True)
            sys.exit(refused.exit_code)
        if isinstance(exc, UnicodeEncodeError) and "surrogates not allowed" in str(exc):
            click.echo("newsarchive: error: an argument or a file name is not valid UTF-8 "
                       f"({exc.object[exc.start:exc.end]!r}); rename the file, or write the argument in UTF-8",
                       err=True)
            sys.exit(EXIT_USAGE)
        click.echo(f"newsarchive: internal error: {type(exc).__name__}: {exc} "
                   "(set NEWSARCHIVE_DEBUG=1 for a traceback, and please report it)", err=True)
        sys.exit(EXIT_USAGE)
