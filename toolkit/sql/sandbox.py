"""The sandbox a user's SQL runs in (`newsarchive sql`, `query`, `write_query`): DuckDB's own guards.

A query is text from a user, a colleague or a notebook found online; it must not be able to read
`/etc/passwd`, write over the archive's Delta log, attach a database, or install an extension from
the network. Three layers, all DuckDB's:

1. **Its file-access guard.** After the views are defined and the wheel extensions loaded, the
   connection sets `allowed_directories` (the archive root and each `--allow-path` folder),
   `allowed_paths` (each `--allow-path` file, and the one temporary file newsarchive itself writes
   the `--output` to), then `enable_external_access = false` (every other file or URL is refused,
   and so are `INSTALL` and `LOAD`), and finally `lock_configuration = true`, so no statement can
   lift any of it. Persistent secrets are off (`allow_persistent_secrets = false`): nothing in
   `~/.duckdb` is read or written.
2. **Its parser.** DuckDB's allow-lists do not tell reading from writing, so the statement is
   parsed first (`extract_statements`) and only statements that read run: `SELECT` (with `FROM`,
   `WITH`, `VALUES`, `DESCRIBE`, `SUMMARIZE`, `SHOW`, `PIVOT ... IN (...)`), `EXPLAIN` of one,
   `CALL` of a table function, and `SET` (which the lock limits to variables). `COPY`, `EXPORT`,
   `ATTACH`, `INSTALL`, `LOAD`, `CREATE`, `INSERT`... are refused before they run.
3. **Its tokenizer.** A few functions change state that the lock does not cover (`enable_logging`
   writes log files into an allowed folder), or run SQL held in a string (`query`): a call of one of
   `DENIED_FUNCTIONS` is refused.

    >>> con = sandboxed(duckdb.connect(), read=["/nowhere/"])
    >>> con.sql("SELECT current_setting('lock_configuration')").fetchone()
    (True,)
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import duckdb

from toolkit.core.errors import NewsarchiveError
from toolkit.sql.quote import string_list

#: Settings given when the connection is opened (they cannot be changed afterwards).
SANDBOX_CONNECT_CONFIG = {"allow_persistent_secrets": False}

#: The statement types a user's query may be.
READ_STATEMENTS = frozenset({"SELECT", "EXPLAIN", "CALL", "SET"})

#: Functions a query may not call. DuckDB's lock does not cover them: `enable_logging` writes log
#: files into any allowed folder (the archive) and aborts the process on any other; `enable_*`,
#: `disable_*` change settings; `checkpoint`, `copy_database`, `import_database`, the fts index
#: pragmas write; `query`, `query_table`, `json_execute_serialized_sql` run SQL held in a string,
#: out of reach of the checks here.
DENIED_FUNCTIONS = re.compile(
    r"(enable|disable|truncate|verify|force)_\w*|\w*checkpoint\w*|copy_\w+|import_database|(create|drop)_fts_index|"
    r"json_execute_serialized_sql|query|query_table|\w+_set_\w+|add_parquet_key|write_log",
)

_EXPLAIN = re.compile(r"\s*EXPLAIN\s+(?:ANALY[SZ]E\s+)?(?:\([^()]*\)\s*)?(?P<inner>.*)", re.I | re.S)


def allowed_reads(paths: Iterable[str | os.PathLike]) -> list[str]:
    """The `--allow-path` values as DuckDB will compare them: absolute, folders ending in a separator.

    A local path must exist (a typo would otherwise show up as a permission error later); a URI
    (`s3://bucket/prefix`) is taken as it is, as a prefix.
    """
    allowed = []
    for raw in paths:
        text = os.fspath(raw)
        if "://" in text:
            allowed.append(text)
            continue
        path = Path(text).expanduser()
        if not path.exists():
            raise NewsarchiveError(f"--allow-path {text}: no such file or folder; name one that exists")
        allowed.extend(_spellings(path))
    return list(dict.fromkeys(allowed))


def sandboxed(con: duckdb.DuckDBPyConnection, *, read: Sequence[str] = (),
              write: Sequence[str | os.PathLike] = ()) -> duckdb.DuckDBPyConnection:
    """Lock `con` down: only `read` (folders ending in a separator, files, URI prefixes) and `write`.

    Call it once the views are defined and the extensions loaded: afterwards nothing can be loaded
    and no setting changed. `write` are the exact files newsarchive itself writes (the temporary
    name of `--output`); a user's statement cannot write even there (see `check_statement`).
    """
    folders: list[str] = []
    files = [os.fspath(p) for p in write]
    for item in read:
        if item.endswith(("/", os.sep)):
            folders.append(item)
        elif "://" in item:  # an S3 prefix: the key itself, and everything under it
            files.append(item)
            folders.append(item.rstrip("/") + "/")
        else:
            files.append(item)
    try:
        con.execute(f"SET allowed_directories = {string_list(folders)}")
        con.execute(f"SET allowed_paths = {string_list(files)}")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except duckdb.Error as exc:  # pragma: no cover - a DuckDB without these settings
        raise NewsarchiveError(f"cannot sandbox the query's connection ({exc}); DuckDB 1.3 or later is needed") \
            from None
    return con


def archive_reads(root: str) -> list[str]:
    """What a query may read of an archive: its root folder (local, both as named and resolved) or prefix."""
    if "://" in root:
        return [root.rstrip("/") + "/"]
    return _spellings(Path(root))


def check_statement(statement: duckdb.Statement, sql: str = "",
                    con: duckdb.DuckDBPyConnection | None = None) -> None:
    """Refuse a statement that is not a read (COPY, ATTACH, INSTALL, CREATE ...) before it runs.

    `sql` is the text it was parsed from (DuckDB leaves `statement.query` empty for the statements
    it makes up, such as the CREATE TYPE of a PIVOT without IN). `con` parses the statement an
    EXPLAIN wraps: pass the sandboxed connection, since DuckDB's parser itself reads the files of
    an IMPORT DATABASE.
    """
    kind = statement.type.name
    text = statement.query or sql
    if kind == "EXPLAIN":
        match = _EXPLAIN.match(text)
        inner = match.group("inner") if match else ""
        parser = con if con is not None else duckdb.connect(config={"enable_external_access": False})
        try:
            statements = parser.extract_statements(inner) if inner.strip() else []
        except duckdb.Error:
            statements = []
        if len(statements) != 1:
            raise NewsarchiveError("query: EXPLAIN is only run on a plain SELECT; write it as EXPLAIN SELECT ...")
        check_statement(statements[0], inner, con)
        return
    if kind in READ_STATEMENTS:
        return
    hint = ""
    if kind in ("COPY", "EXPORT"):
        hint = "; write the rows with --output FILE --format csv|json|parquet"
    elif kind in ("ATTACH", "DETACH"):
        hint = "; to join a file of your own, name it with --allow-path PATH and read it (read_csv, read_parquet)"
    elif kind == "LOAD":
        hint = "; extensions are neither installed nor loaded (delta and httpfs come with newsarchive)"
    elif kind == "CREATE" and re.match(r"\s*PIVOT\b", text, re.I):
        hint = "; a PIVOT without IN (...) creates a type first: list its values with ON col IN (...)"
    label = _LABELS.get(kind, kind.replace("_", " ")) if kind.replace("_", "").isalpha() else "this statement"
    raise NewsarchiveError(f"query: {label} is refused: newsarchive sql only runs statements that read "
                           f"(SELECT, EXPLAIN, CALL, SET){hint}")


_LABELS = {"LOAD": "INSTALL/LOAD", "CREATE": "CREATE", "COPY_DATABASE": "COPY FROM DATABASE"}


def check_functions(sql: str) -> None:
    """Refuse a call of one of DENIED_FUNCTIONS, found with DuckDB's own tokenizer (a name followed by `(`)."""
    try:
        tokens = duckdb.tokenize(sql)
    except (duckdb.Error, RuntimeError):
        return  # the parser, which runs next, reports what is wrong with the text
    ends = [start for start, _ in tokens[1:]] + [len(sql)]
    texts = [sql[start:end] for (start, _), end in zip(tokens, ends, strict=True)]
    for i, (_, kind) in enumerate(tokens[:-1]):
        named = kind in (duckdb.token_type.identifier, duckdb.token_type.keyword)  # CHECKPOINT is a keyword
        if not named or not texts[i + 1].lstrip().startswith("("):
            continue
        name = re.match(r'\s*"?([^"\s(]*)', texts[i]).group(1).lower()  # type: ignore[union-attr]
        if DENIED_FUNCTIONS.fullmatch(name):
            raise NewsarchiveError(f"query: the function {name}() is refused: it changes DuckDB's settings, writes "
                                   "files or runs SQL from a string; newsarchive sql only runs queries that read")


def _spellings(path: Path) -> list[str]:
    """The path as DuckDB may see it: made absolute, and with its symbolic links resolved (a folder ends in /)."""
    forms = dict.fromkeys([os.path.abspath(path), str(path.resolve())])
    if path.is_dir():
        return [form if form.endswith(os.sep) else form + os.sep for form in forms]
    return list(forms)
