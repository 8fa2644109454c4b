"""The validation engine: blocks of JSON Lines in, per-line verdicts (and valid rows) out.

Per block of a few megabytes, in bulk:
- Flat schemas (the article's) take typed decoding (`typed.py`): msgspec decodes every line into a
  Struct derived from the schema and checks most keywords itself; the compiled plan checks the rest
  in columns.
- Other schemas take the Arrow path: numpy finds the lines and sets aside those that cannot take it
  (not UTF-8, not shaped like one object, holding a `null` token: Arrow cannot tell an explicit null
  from a missing field); Arrow's JSON reader parses the rest with an explicit schema derived from the
  JSON Schema (a line it rejects is set aside and only its slice parsed again); the compiled plan
  checks the columns with pyarrow.compute.
Lines set aside, and rows found suspect or undecided, go to the reference validator
(python-jsonschema), which has the last word and words the errors. Blocks run in worker processes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from toolkit.core.executor import Done, Task, executor
from toolkit.core.jsonl import (
    DEFAULT_BLOCK_BYTES,
    Block,
    FileRange,
    InputFile,
    LineNumbering,
    plain_ranges,
    read_blocks,
)
from toolkit.core.schema import Schema
from toolkit.validate.arrays import bools, int64s
from toolkit.validate.compile import Plan, compile_schema
from toolkit.validate.reference import BadLine, Problem, ReferenceValidator, Verdict, guess_id, parse_line
from toolkit.validate.typed import TypedDecoder, typed_decoder

LINE_COLUMN = "_line"
PARSE_SLICE_BYTES = 1 << 20  # in `_parse_exact`, a rejected line costs one re-parse of its slice
STREAM_CHUNK_BYTES = 1 << 20  # Arrow's streaming reader parses and hands over this much at a time
_ROW_IN_ERROR = re.compile(r"in row (\d+)")
_SPACE = 0x20

Segment = tuple[np.ndarray, pa.Table]  # block line indices, and their parsed rows in that order


@dataclass
class LineFailure:
    """An invalid line: everything the report and the quarantine need."""

    line: int
    raw: bytes
    record_id: str | None
    problems: list[Problem]


@dataclass
class BlockOutcome:
    """The verdicts for one block: counts, failures in line order, and optionally the valid rows."""

    source: InputFile
    first_line: int
    records: int
    failures: list[LineFailure]
    valid_rows: pa.Table | None = None
    bytes_read: int = 0
    stats: dict[str, int] = field(default_factory=dict)
    end_of_input: bool = False

    @property
    def valid(self) -> int:
        return self.records - len(self.failures)

    def renumbered(self, offset: int) -> BlockOutcome:
        """The same outcome with line numbers shifted by the lines of earlier blocks."""
        if offset == 0:
            return self
        failures = [replace(f, line=f.line + offset) for f in self.failures]
        rows = self.valid_rows
        if rows is not None and rows.num_rows:
            idx = rows.schema.get_field_index(LINE_COLUMN)
            rows = rows.set_column(idx, LINE_COLUMN, pc.add(rows.column(idx), offset))
        return replace(self, first_line=self.first_line + offset, failures=failures, valid_rows=rows)


class Lines:
    """Where the lines of a block start and end (a line's content excludes its CR LF)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.arr = arr = np.frombuffer(data, dtype=np.uint8)
        self.ends = ends = np.flatnonzero(arr == 10)  # each line's "\n"
        self.starts = starts = np.empty_like(ends)
        if len(ends):
            starts[0] = 0
            starts[1:] = ends[:-1] + 1
        self.content_end = content_end = ends.copy()
        nonempty = ends > starts
        content_end[nonempty] -= arr[ends[nonempty] - 1] == 13  # CRLF
        self.count = len(ends)


class Engine:
    """Validates blocks against one schema, bulk path first, reference for the rest."""

    def __init__(self, schema: Schema, *, keep_rows: bool = False, bulk: bool = True,
                 keep_columns: Iterable[str] | None = None, typed: bool = True) -> None:
        """`keep_columns` narrows the kept valid rows to those fields (e.g. only `id`, to look it up);
        `typed=False` keeps flat schemas on the Arrow path too (the tests run both)."""
        self._spec = {"schema": schema, "keep_rows": keep_rows, "bulk": bulk, "typed": typed,
                      "keep_columns": list(keep_columns) if keep_columns is not None else None}
        self.schema = schema
        self.reference = ReferenceValidator(schema.document)
        self.plan: Plan | None = compile_schema(schema.document) if bulk else None
        self.typed: TypedDecoder | None = typed_decoder(schema.document, self.plan) if typed else None
        self.keep_rows = keep_rows
        if not keep_rows:
            self.row_schema = None
        elif keep_columns is None:
            self.row_schema = schema.read_schema()
        else:
            self.row_schema = pa.schema([pa.field(n, schema.field(n).read_type) for n in keep_columns])
        if self.plan is not None:
            self.parse_options = pj.ParseOptions(explicit_schema=self.plan.read_schema,
                                                  unexpected_field_behavior="infer")

    # --- one block -------------------------------------------------------------------------------
    def check_block(self, block: Block) -> BlockOutcome:
        """Verdicts for one block; line numbers count from 1 at the block's first line."""
        data = block.data
        lines = Lines(data)
        n = lines.count
        stats = {"lines": n, "bulk": 0, "reference": 0, "reparses": 0}
        valid, segments, known_failures, stats["reparses"] = self.bulk_verdicts(lines)
        stats["bulk"] = int(valid.sum())
        starts, content_end = lines.starts, lines.content_end

        failures: list[LineFailure] = []
        slow_records: list[Any] = []
        slow_lines: list[int] = []
        ref_idx = np.flatnonzero(~valid)
        stats["reference"] = len(ref_idx)
        for i, raw, verdict in self._reference_lane(data, starts, content_end, ref_idx, known_failures):
            if verdict.valid:
                if self.keep_rows:
                    slow_records.append(verdict.record)
                    slow_lines.append(i + 1)
            else:
                failures.append(LineFailure(i + 1, raw, verdict.record_id, verdict.problems))

        rows = self._rows(segments, valid, slow_records, slow_lines) if self.keep_rows else None
        return BlockOutcome(block.source, 1, n, failures, rows, block.bytes_read, stats)

    def _reference_lane(self, data: bytes, starts: np.ndarray, content_end: np.ndarray, ref_idx: np.ndarray,
                        known_failures: dict[int, set[str]]) -> Iterator[tuple[int, bytes, Verdict]]:
        """The reference's verdict on each line the bulk path did not call valid.

        Lines the typed decoder rejected come with no hint; their parsed records get one here, in
        bulk (`TypedDecoder.suspects`), so python-jsonschema only descends where errors can be.
        """
        parsed: list[tuple[int, bytes, Any]] = []
        for i in ref_idx.tolist():
            raw = data[starts[i]:content_end[i]]
            try:
                parsed.append((i, raw, parse_line(raw)))
            except BadLine as bad:
                parsed.append((i, raw, Verdict(None, guess_id(raw), [bad.problem])))
        hints: dict[int, set[str] | None] = {}
        if self.typed is not None:
            unhinted = [k for k, (i, _, record) in enumerate(parsed)
                        if i not in known_failures and not isinstance(record, Verdict)]
            hints = dict(zip(unhinted, self.typed.suspects([parsed[k][2] for k in unhinted]), strict=True))
        for k, (i, raw, record) in enumerate(parsed):
            if isinstance(record, Verdict):
                yield i, raw, record
            else:
                yield i, raw, self.reference.judge(record, known_failures.get(i, hints.get(k)))

    def bulk_verdicts(self, lines: Lines) -> tuple[np.ndarray, list[Segment], dict[int, set[str]], int]:
        """What the bulk path alone decides: a mask of lines it found valid (exactly the reference's
        verdict), the parsed segments, and for suspect lines the properties that failed there.

        Every line not in the mask goes to the reference validator.
        """
        valid = np.zeros(lines.count, dtype=bool)
        segments: list[Segment] = []
        known_failures: dict[int, set[str]] = {}  # line -> the only properties that can fail there
        reparses = 0
        if self.plan is None:
            return valid, segments, known_failures, reparses
        if self.typed is not None:
            typed = self.typed.decode_block(lines.data, lines.starts, lines.content_end, lines.ends,
                                            keep_all=self.keep_rows)
            valid[typed.decoded[typed.valid]] = True
            if self.keep_rows:
                segments.append((typed.decoded, typed.table))
            return valid, segments, typed.failed, reparses
        arr, starts, ends = lines.arr, lines.starts, lines.ends
        bulk_idx = np.flatnonzero(self._bulk_candidates(lines.data, arr, starts, ends, lines.content_end))
        if len(bulk_idx):
            segments, reparses = self._parse(arr, starts, ends, bulk_idx)
        for seg_idx, table in _merge_segments(segments):
            ev = self.plan.evaluate(table)
            valid[seg_idx[ev.valid]] = True
            for row in np.flatnonzero(~ev.valid & ~ev.undecided).tolist():
                known_failures[int(seg_idx[row])] = ev.failed_properties(row)
        return valid, segments, known_failures, reparses

    def _bulk_candidates(self, data: bytes, arr: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                         content_end: np.ndarray) -> np.ndarray:
        n = len(ends)
        cand = (content_end - starts) >= 2
        idx = np.flatnonzero(cand)
        cand[idx] = (arr[starts[idx]] == ord("{")) & (arr[content_end[idx] - 1] == ord("}"))
        # UTF-8: Arrow's JSON reader copies string bytes without checking them, so check the block.
        if arr.max(initial=0) >= 0x80 and not _is_utf8(data):
            for bad in _invalid_utf8_lines(data, ends):
                cand[bad] = False
        # Exactness: Arrow reads an explicit null as a missing field (the JSON Schema tells them
        # apart), and accepts NaN and Infinity (JSON does not). Lines holding those bytes anywhere
        # go to the reference. With only string and list columns, NaN cannot pass the bulk path.
        words = [b"null"] if self.plan.strings_and_lists_only else [b"null", b"NaN", b"Infinity"]
        for word in words:
            pos = data.find(word)
            while pos >= 0:
                line = int(np.searchsorted(ends, pos))
                cand[line] = False
                pos = data.find(word, int(ends[line]) + 1) if line < n else -1
        cand &= ~_maybe_several_values(arr, ends)  # exactness of the streaming parse depends on it
        if self.plan.strings_and_lists_only:  # speed only: spares Arrow lines it would reject
            cand &= ~self._shape_screen(arr, ends)
        return cand

    def _shape_screen(self, arr: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Lines whose member values are not shaped as the schema's strings and lists of strings.

        Used when every column is a string or a list of strings and no other member is allowed.
        It flags values that are numbers, booleans, NaN or bare words, lists whose first item is not
        a string, and members whose key is unknown or holds a list where a string is expected or
        the other way round. Arrow would reject those lines, and each rejection costs re-parsing
        part of a chunk, so they go to the reference up front. Only speed depends on this screen
        being thorough: what it misses is still caught by Arrow or by the column checks.
        """
        flagged = np.zeros(len(ends), dtype=bool)
        colons = np.flatnonzero(arr == 58)
        colons = colons[(colons > 1) & (colons + 3 < len(arr))]
        colons = colons[arr[colons - 1] == 34]  # right after a quote: a member's colon, normally
        nxt = colons + 1
        for _ in range(2):  # json.dumps writes one space; allow a little more
            nxt += (arr[nxt] == 32) & (nxt + 2 < len(arr))
        first = arr[nxt]
        is_str, is_list = first == 34, first == 91
        odd = ~is_str & ~is_list & (first != 123)
        after = nxt[is_list] + 1
        after += (arr[after] == 32) & (after + 2 < len(arr))
        second = arr[after]
        odd[np.flatnonzero(is_list)[(second != 34) & (second != 93)]] = True
        # Which key? Look back from its closing quote for the opening one, only as far as the
        # longest known key: a longer key is unknown anyway.
        strings, lists, width = self._key_signatures
        back = colons[:, None] - 2 - np.arange(width)[None, :]
        window = arr[np.clip(back, 0, None)] == 34
        found = window.any(axis=1)
        opening = colons - 2 - np.argmax(window, axis=1)
        sig = np.where(found, _key_signature(arr, opening + 1, colons - 2 - opening), -1)
        known_string, known_list = np.isin(sig, strings), np.isin(sig, lists)
        odd |= (known_string & is_list) | (known_list & is_str) | ~(known_string | known_list)
        bad = colons[odd]
        if len(bad):
            flagged[np.searchsorted(ends, bad)] = True
        return flagged

    @property
    def _key_signatures(self) -> tuple[np.ndarray, np.ndarray, int]:
        """Fingerprints of the known string keys and list keys, and how far to look for a key."""
        cached = getattr(self, "_sigs", None)
        if cached is None:
            by_sig: dict[int, list[str]] = {}
            kinds: dict[int, str] = {}
            names = [p.name for p in self.plan.properties]
            for prop in self.plan.properties:
                raw = np.frombuffer(prop.name.encode("utf-8"), dtype=np.uint8)
                sig = int(_key_signature(raw, np.array([0]), np.array([len(raw)]))[0])
                by_sig.setdefault(sig, []).append(prop.name)
                kinds[sig] = "list" if pa.types.is_list(prop.read_type) else "string"
            # A fingerprint two names share, or a kind we cannot tell apart, tells us nothing.
            unique = [sig for sig, owners in by_sig.items() if len(owners) == 1]
            width = max((len(n.encode("utf-8")) for n in names), default=0) + 1
            cached = self._sigs = (
                np.array([s for s in unique if kinds[s] == "string"], dtype=np.int64),
                np.array([s for s in unique if kinds[s] == "list"], dtype=np.int64),
                width,
            )
        return cached

    def _parse(self, arr: np.ndarray, starts: np.ndarray, ends: np.ndarray,
               bulk_idx: np.ndarray) -> tuple[list[Segment], int]:
        """Parse the bulk lines with Arrow; lines it rejects are dropped from the result.

        Arrow's streaming reader parses the lines in chunks and hands each chunk over as soon as it
        is parsed, so when it rejects a row, everything before that row is kept and parsing resumes
        right after it. Row r of the stream is line r of `bulk_idx` because `_bulk_candidates` set
        aside every line that could hold more than one JSON value. When Arrow fails without saying
        where, the rest goes to `_parse_exact`, which finds the culprit by splitting.
        """
        buf = arr.copy()  # lines set aside become blanks, which Arrow skips
        aside = np.ones(len(ends), dtype=bool)
        aside[bulk_idx] = False
        for i in np.flatnonzero(aside).tolist():
            buf[starts[i]:ends[i]] = _SPACE
        segments: list[Segment] = []
        reparses = 0
        todo = bulk_idx
        while len(todo):
            payload = pa.py_buffer(buf[starts[todo[0]]:ends[todo[-1]] + 1])
            batches: list[pa.RecordBatch] = []
            received = 0
            failed_at: int | None = None
            try:
                reader = pj.open_json(
                    pa.BufferReader(payload),
                    read_options=pj.ReadOptions(use_threads=False, block_size=STREAM_CHUNK_BYTES),
                    parse_options=self.parse_options,
                )
                for batch in reader:
                    batches.append(batch)
                    received += batch.num_rows
            except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
                reparses += 1
                match = _ROW_IN_ERROR.search(str(exc)) if isinstance(exc, pa.ArrowInvalid) else None
                failed_at = received + int(match.group(1)) if match else -1
            if received > len(todo):  # cannot happen after the candidate screen; never trust it
                more, extra = self._parse_exact(buf, starts, ends, bulk_idx)
                return more, reparses + extra
            if batches:
                segments.append((todo[:received], pa.Table.from_batches(batches)))
            if failed_at is None:
                break
            if not received <= failed_at < len(todo):
                # No row given (e.g. a member the first chunk did not have): parse about one
                # chunk's worth of lines on its own, where read_json can add the new column, then
                # stream on after it.
                rest = todo[received:]
                limit = starts[rest[0]] + STREAM_CHUNK_BYTES
                region = rest[: max(1, int(np.searchsorted(ends[rest], limit)))]
                more, extra = self._parse_exact(buf, starts, ends, region)
                segments += more
                reparses += extra
                todo = rest[len(region):]
                continue
            bad = todo[failed_at]
            buf[starts[bad]:ends[bad]] = _SPACE
            todo = np.concatenate([todo[received:failed_at], todo[failed_at + 1:]])
        return segments, reparses

    def _parse_exact(self, buf: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                     bulk_idx: np.ndarray) -> tuple[list[Segment], int]:
        """Slow but self-checking: one `read_json` per slice, row counts compared, splits on failure.

        The lines are cut into slices of about PARSE_SLICE_BYTES. When Arrow rejects row r of a
        slice, that line is set aside and the rows before and after it are parsed again as two
        slices; a slice whose row count differs from its line count is split until it agrees.
        """
        # Slice boundaries: cut the bulk lines wherever the byte offset crosses a multiple of the slice.
        slice_of = starts[bulk_idx] // PARSE_SLICE_BYTES
        cuts = np.flatnonzero(np.diff(slice_of)) + 1
        work = [part for part in reversed(np.split(bulk_idx, cuts))]
        done: list[Segment] = []
        reparses = 0
        while work:
            idx = work.pop()
            if not len(idx):
                continue
            payload = pa.py_buffer(buf[starts[idx[0]]:ends[idx[-1]] + 1])
            try:
                table = pj.read_json(
                    pa.BufferReader(payload),
                    read_options=pj.ReadOptions(use_threads=False, block_size=payload.size + 1),
                    parse_options=self.parse_options,
                )
            except UnicodeDecodeError:
                # Invalid UTF-8 in a string: pyarrow cannot even decode Arrow's message. Set the
                # slice's non-UTF-8 lines aside and parse the rest again.
                reparses += 1
                kept = self._drop_non_utf8(buf, starts, ends, idx)
                if len(kept) < len(idx):
                    for i in np.setdiff1d(idx, kept).tolist():
                        buf[starts[i]:ends[i]] = _SPACE
                    work.append(kept)
                elif len(idx) > 1:
                    half = len(idx) // 2
                    work += [idx[half:], idx[:half]]
                continue
            except pa.ArrowInvalid as exc:
                reparses += 1
                match = _ROW_IN_ERROR.search(str(exc))
                row = int(match.group(1)) if match else -1
                if 0 <= row < len(idx):  # pushed right then left, so slices finish in line order
                    work += [idx[row + 1:], idx[:row]]
                elif len(idx) > 1:
                    half = len(idx) // 2
                    work += [idx[half:], idx[:half]]
                continue  # a single line Arrow cannot parse goes to the reference
            if table.num_rows == len(idx):
                done.append((idx, table))
                continue
            # Some line held two JSON values ("{...} {...}"): split until it is isolated.
            reparses += 1
            if len(idx) > 1:
                half = len(idx) // 2
                work += [idx[half:], idx[:half]]
        return done, reparses

    @staticmethod
    def _drop_non_utf8(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """The lines of `idx` whose bytes are valid UTF-8."""
        keep = [i for i in idx.tolist() if _is_utf8(bytes(buf[starts[i]:ends[i]]))]
        return np.asarray(keep, dtype=idx.dtype)

    def _rows(self, segments: list[Segment], valid: np.ndarray, slow_records: list[Any],
              slow_lines: list[int]) -> pa.Table:
        """Valid rows in the row schema, bulk and reference-checked alike, in line order."""
        schema = self.row_schema
        assert schema is not None
        out_schema = schema.append(pa.field(LINE_COLUMN, pa.int64()))
        parts = []
        for seg_idx, table in segments:
            ok = valid[seg_idx]
            if not ok.any():
                continue
            chosen_idx = np.flatnonzero(ok)
            chosen = table if len(chosen_idx) == table.num_rows else table.filter(bools(ok))
            columns = [
                chosen.column(f.name).cast(f.type) if f.name in chosen.column_names
                else pa.nulls(chosen.num_rows, f.type)
                for f in schema
            ]
            columns.append(int64s(seg_idx[chosen_idx] + 1))
            parts.append(pa.table(columns, schema=out_schema))
        if slow_records:
            slow = pa.Table.from_pylist(
                [{k: r.get(k) for k in schema.names} for r in slow_records], schema=schema
            )
            parts.append(slow.append_column(LINE_COLUMN, pa.array(slow_lines, pa.int64())))
        if not parts:
            return out_schema.empty_table()
        table = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
        return table.sort_by(LINE_COLUMN) if slow_records else table

    # --- streams ---------------------------------------------------------------------------------
    def run(self, inputs: Iterable[InputFile], *, jobs: int | None = 2, block_bytes: int | None = None,
            on_progress: Callable[[InputFile, int], None] | None = None, backend: str | None = None,
            quiet: bool = True) -> Iterator[BlockOutcome]:
        """Outcomes for every block of every input, in order, with lines numbered per input.

        After each input's last block comes an outcome with `end_of_input` set, so even an empty
        input is reported.
        """
        kwargs = {} if block_bytes is None else {"block_bytes": block_bytes}
        items = (Done(marker_outcome(item)) if is_marker(item) else item
                 for item in work_items(inputs, on_progress, **kwargs))
        task = Task(_check_in_worker, _init_worker, (self._spec,), inline=self._check_loaded, what="validate")
        # The local executor keeps one block in this process: no pool worth starting (`backend`: see
        # core.executor.executor).
        yield from map(LineNumbering(), executor(jobs, backend, quiet=quiet).map(task, items))

    def _check_loaded(self, item: Block | FileRange) -> BlockOutcome:
        return self.check_block(_loaded(item))


def work_items(inputs: Iterable[InputFile], on_progress: Callable[[InputFile, int], None] | None = None,
               block_bytes: int = DEFAULT_BLOCK_BYTES) -> Iterator[Block | FileRange]:
    """The blocks of every input, each input followed by an empty Block (its end-of-input marker).

    Plain files come as byte ranges, which a worker process reads itself: the parent then neither
    reads them nor copies them through a pipe. Standard input and compressed files come as blocks
    read here.
    """
    for source in inputs:
        ranges = plain_ranges(source, block_bytes)
        if ranges is None:
            progress = None if on_progress is None else (lambda b, s=source: on_progress(s, b))
            yield from read_blocks(source, block_bytes, on_progress=progress)
        else:
            for part in ranges:
                if on_progress is not None:
                    on_progress(source, part.end)
                yield part
        yield Block(source, b"", -1)


def is_marker(item: Block | FileRange) -> bool:
    """An input's end-of-input marker (see `work_items`)."""
    return isinstance(item, Block) and not item.data


def marker_outcome(block: Block) -> BlockOutcome:
    """The outcome reported for an end-of-input marker: no record, `end_of_input` set."""
    return BlockOutcome(block.source, 1, 0, [], None, -1, end_of_input=True)


_WORKER_ENGINE: Engine | None = None


def _init_worker(spec: dict[str, Any]) -> None:
    global _WORKER_ENGINE
    _WORKER_ENGINE = Engine(**spec)


def _check_in_worker(item: Block | FileRange) -> BlockOutcome:
    assert _WORKER_ENGINE is not None
    return _WORKER_ENGINE.check_block(_loaded(item))


def _loaded(item: Block | FileRange) -> Block:
    return item.load() if isinstance(item, FileRange) else item


_AFTER_CLOSE_OK = np.zeros(256, dtype=bool)
_AFTER_CLOSE_OK[[ord(","), ord("}"), ord("]"), ord("\r"), ord("\n")]] = True
_BLANK = np.zeros(256, dtype=bool)
_BLANK[[ord(" "), ord("\t")]] = True


def _maybe_several_values(arr: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Lines that might hold more than one JSON value, like `{"a": 1} {"b": 2}`.

    In a line that starts with "{" and ends with "}", a second value can only follow the first
    object's closing brace; inside one object a "}" is followed by ",", "}", "]" or the line end.
    So any "}" followed (after blanks) by something else flags its line. Braces inside strings flag
    a few lines for nothing; no line with two values is missed, which the streaming parse relies on.
    """
    flagged = np.zeros(len(ends), dtype=bool)
    closes = np.flatnonzero(arr == 125)
    if not len(closes):
        return flagged
    nxt = np.minimum(closes + 1, len(arr) - 1)
    for _ in range(4):
        nxt = np.where(_BLANK[arr[nxt]], np.minimum(nxt + 1, len(arr) - 1), nxt)
    odd = ~_AFTER_CLOSE_OK[arr[nxt]]  # a long run of blanks also lands here: flagged, to be safe
    if odd.any():
        flagged[np.searchsorted(ends, closes[odd])] = True
    return flagged


def _key_signature(arr: np.ndarray, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """A cheap fingerprint of a key: its length and its first two and last bytes."""
    n = len(arr)
    length = length.astype(np.int64)
    first = arr[np.clip(start, 0, n - 1)].astype(np.int64)
    second = arr[np.clip(start + (length > 1), 0, n - 1)].astype(np.int64)  # a 1-byte key: its only byte
    last = arr[np.clip(start + length - 1, 0, n - 1)].astype(np.int64)
    return (length << 24) | (first << 16) | (second << 8) | last


def _merge_segments(segments: list[Segment]) -> list[Segment]:
    """One table per block when the segments' inferred columns agree, so checks run once."""
    if len(segments) <= 1:
        return segments
    try:
        table = pa.concat_tables([t for _, t in segments], promote_options="default")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return segments
    return [(np.concatenate([i for i, _ in segments]), table)]


def _is_utf8(data: bytes) -> bool:
    """Arrow's UTF-8 check (SIMD) over the whole block: much faster than decoding it in Python."""
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int32))
    try:
        pa.Array.from_buffers(pa.string(), 1, [None, offsets, pa.py_buffer(data)]).validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _invalid_utf8_lines(data: bytes, ends: np.ndarray) -> Iterator[int]:
    """Indices of lines that are not valid UTF-8, found by decoding the block in C."""
    view = memoryview(data)
    pos = 0
    while pos < len(data):
        try:
            str(view[pos:], "utf-8")
            return
        except UnicodeDecodeError as exc:
            line = int(np.searchsorted(ends, pos + exc.start))
            yield line
            pos = int(ends[line]) + 1 if line < len(ends) else len(data)
