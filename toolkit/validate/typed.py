"""Typed decoding: msgspec parses each line straight into a Struct derived from the JSON Schema.

Why: for a flat schema like the article's (strings, booleans, arrays of strings, no other fields
allowed), msgspec's C decoder does in one pass what costs Arrow's JSON reader plus a byte screen
several times more: strict JSON syntax (no NaN, no lone surrogates, no trailing values), UTF-8,
types, required and unknown fields, and the keywords minLength, maxLength, pattern, minItems and
maxItems. Those keywords keep python-jsonschema's semantics exactly: lengths count code points (as
`len` does) and patterns go through Python's own `re` with `search`, the very call the reference
makes. What msgspec cannot express (formats, enum, const, not, allOf...) is checked afterwards in
columns by the compiled plan, over those properties only. msgspec lets the last of two equal keys
win; the reference rejects the line, so each line's keys are counted in its bytes and compared with
the fields the decoder filled.

A line msgspec rejects is not judged here: it goes to the reference, which has the last word. Only
"valid" has to be exact, and it is proven against the reference by differential tests and the
official JSON-Schema-Test-Suite.
"""

from __future__ import annotations

import gc
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
import numpy as np
import pyarrow as pa

from toolkit.validate.arrays import strings
from toolkit.validate.compile import ANNOTATIONS, Plan, PropertyPlan, _compile_property, _Compiler, _types
from toolkit.validate.pyregex import C as sre_constants
from toolkit.validate.pyregex import sre_parse

_STRING_KEYWORDS = frozenset({"type", "minLength", "maxLength", "pattern"}) | ANNOTATIONS
_ARRAY_KEYWORDS = frozenset({"type", "items", "minItems", "maxItems"}) | ANNOTATIONS
_BOOLEAN_KEYWORDS = frozenset({"type"}) | ANNOTATIONS
_DECODER_KEYWORDS = frozenset({"type", "minLength", "maxLength", "pattern", "items", "minItems", "maxItems"})
_DECODE_ERRORS = (msgspec.ValidationError, msgspec.DecodeError)

_QUOTE, _BACKSLASH, _COLON = 0x22, 0x5C, 0x3A
_JSON_BLANK = np.zeros(256, dtype=bool)
_JSON_BLANK[[0x20, 0x09, 0x0D]] = True  # inside one line, JSON whitespace is space, tab and CR


def _length_meta(sub: dict[str, Any], low: str, high: str) -> dict[str, int] | None:
    """msgspec's min_length/max_length from a pair of JSON Schema keywords; None if not plain counts."""
    meta = {}
    for keyword, arg in ((low, "min_length"), (high, "max_length")):
        if keyword in sub:
            value = sub[keyword]
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                return None
            meta[arg] = value
    return meta


def _string_type(sub: dict[str, Any]) -> tuple[Any, bool] | None:
    """(msgspec type, whether other keywords are left for the columns) for a string schema."""
    meta: dict[str, Any] | None = _length_meta(sub, "minLength", "maxLength")
    if meta is None:
        return None
    if "pattern" in sub:
        if not isinstance(sub["pattern"], str):
            return None
        meta["pattern"] = sub["pattern"]
    left = set(sub) - _STRING_KEYWORDS
    folded = _fold_not_pattern(sub)
    if folded is not None:
        meta["pattern"] = folded
        left.discard("not")
    try:
        kind = Annotated[str, msgspec.Meta(**meta)] if meta else str
    except Exception:  # noqa: BLE001 - a pattern Python cannot compile: leave the schema to Arrow
        return None
    return kind, bool(left)


def _fold_not_pattern(sub: dict[str, Any]) -> str | None:
    r"""One Python pattern meaning `pattern: A` and `not: {pattern: B}` (the article's "no whitespace").

    re.search(A, s) and not re.search(B, s) is re.search(r"\A(?=[\s\S]*?(?:A))(?![\s\S]*?(?:B))", s):
    each lookahead tries every start position, as search does. Not folded when B refers to groups
    (A's groups would renumber them) or either sets global flags; then `not` stays a column check.
    """
    negated = sub.get("not")
    if not isinstance(negated, dict) or set(negated) - ANNOTATIONS != {"pattern"}:
        return None
    first, second = sub.get("pattern"), negated["pattern"]
    if not isinstance(second, str) or (first is not None and not isinstance(first, str)):
        return None
    try:
        parsed_first = sre_parse.parse(first) if first is not None else None
        parsed_second = sre_parse.parse(second)
        for parsed in (parsed_first, parsed_second):
            if parsed is not None and parsed.state.flags & ~re.UNICODE:
                return None
        if any(op in (sre_constants.GROUPREF, sre_constants.GROUPREF_EXISTS) for op, _ in _walk(parsed_second)):
            return None
        if parsed_first is None:
            head = ""
        elif _anchored_at_start(parsed_first):
            head = rf"(?={first})"  # ^ matches only at 0 (no MULTILINE): no other start to try
        else:
            head = rf"(?=[\s\S]*?(?:{first}))"
        # "No character of class C anywhere" is "only characters of the complement": one fast loop.
        tail = rf"(?={_COMPLEMENT[second]}*\Z)" if second in _COMPLEMENT else rf"(?![\s\S]*?(?:{second}))"
        combined = rf"\A{head}{tail}"
        re.compile(combined)
    except (re.error, RecursionError, OverflowError):
        return None
    return combined


_COMPLEMENT = {r"\s": r"\S", r"\S": r"\s", r"\d": r"\D", r"\D": r"\d", r"\w": r"\W", r"\W": r"\w"}


def _anchored_at_start(parsed: Any) -> bool:
    """True when the pattern begins with ^ or \\A outside any alternation."""
    ops = list(parsed)
    return bool(ops) and ops[0][0] == sre_constants.AT and \
        ops[0][1] in (sre_constants.AT_BEGINNING, sre_constants.AT_BEGINNING_STRING)


def _walk(parsed: Any) -> Iterator[tuple[Any, Any]]:
    """Every (opcode, argument) of a parsed pattern, nested ones included."""
    for op, arg in parsed:
        yield op, arg
        for item in arg if isinstance(arg, (list, tuple)) else ():
            if isinstance(item, sre_parse.SubPattern):
                yield from _walk(item)
            elif isinstance(item, (list, tuple)):
                for inner in item:
                    if isinstance(inner, sre_parse.SubPattern):
                        yield from _walk(inner)


def _property_type(sub: Any) -> tuple[Any, bool] | None:
    if not isinstance(sub, dict):
        return None
    types = _types(sub)
    if types == {"string"}:
        return _string_type(sub)
    if types == {"boolean"}:
        return bool, bool(set(sub) - _BOOLEAN_KEYWORDS)
    if types == {"array"}:
        items = sub.get("items")
        if not isinstance(items, dict) or _types(items) != {"string"}:
            return None
        item = _string_type(items)
        if item is None:
            return None
        meta = _length_meta(sub, "minItems", "maxItems")
        if meta is None:
            return None
        kind = list[item[0]]  # type: ignore[valid-type]
        if meta:
            kind = Annotated[kind, msgspec.Meta(**meta)]
        return kind, item[1] or bool(set(sub) - _ARRAY_KEYWORDS)
    return None


@dataclass
class TypedBlock:
    """What typed decoding found in one block."""

    decoded: np.ndarray  # line indices whose record passed the decoder and the key count
    table: pa.Table  # their columns (the residual ones, or all kept ones), rows in `decoded` order
    valid: np.ndarray  # per row of `table`: passed the residual column checks too
    failed: dict[int, set[str]]  # line -> the residual properties that failed there


class TypedDecoder:
    """The Struct decoder for one schema, plus the plan of the checks msgspec cannot express."""

    def __init__(self, plan: Plan, properties: dict[str, Any], required: list[str],
                 types: dict[str, tuple[Any, bool]]) -> None:
        residual = [_residual_plan(p, properties[p.name]) for p in plan.properties if types[p.name][1]]
        # Residual properties first: a decoded record's leading values are the ones checked in columns.
        self.names = [p.name for p in residual] + [n for n in properties if not types[n][1]]
        fields = []
        for i, name in enumerate(self.names):
            kind = types[name][0]
            if name in required:
                fields.append((f"f{i}", kind))
            else:
                fields.append((f"f{i}", msgspec.UnsetType | kind, msgspec.UNSET))
        struct = msgspec.defstruct("Record", fields, kw_only=True, forbid_unknown_fields=True, gc=False,
                                   rename={f"f{i}": name for i, name in enumerate(self.names)})
        self.decoder = msgspec.json.Decoder(struct)
        self.kinds = {name: types[name][0] for name in self.names}
        self.required = frozenset(required)
        self.read_types = {p.name: p.read_type for p in plan.properties}
        self.residual = Plan(properties=residual, required=(), known=frozenset(p.name for p in residual),
                             additional_allowed=True)

    def suspects(self, records: list[Any]) -> list[set[str] | None]:
        """For parsed lines the decoder rejected: the properties that can hold errors, per record.

        Every other property is proven valid: `msgspec.convert` applies the decoder's own types and
        constraints, and the residual checks run in columns over all the records at once. So the
        reference need not descend into them (an article body's patterns cost the most).
        """
        out: list[set[str] | None] = []
        # Residual values to check in columns: None where a record has none, or a wrong one.
        residual = {p.name: [None] * len(records) for p in self.residual.properties}
        for k, record in enumerate(records):
            if not isinstance(record, dict):
                out.append(None)
                continue
            names: set[str] = set()
            for name, value in record.items():
                kind = self.kinds.get(name)
                if kind is None:
                    continue  # unknown: the root's additionalProperties reports it
                try:
                    msgspec.convert(value, kind, strict=True)
                except msgspec.ValidationError:
                    names.add(name)
                    continue
                if name in residual:
                    residual[name][k] = value
            out.append(names)
        columns = [_arrow_column(residual[p.name], p.read_type) for p in self.residual.properties]
        if columns and records:
            table = pa.table(columns, names=[p.name for p in self.residual.properties])
            failed = self.residual.evaluate(table).failed
            for name, rows_failed in failed.items():
                for row in np.flatnonzero(rows_failed).tolist():
                    names_of = out[row]
                    assert names_of is not None
                    names_of.add(name)
        return out

    # --- one block -------------------------------------------------------------------------------
    def decode_block(self, data: bytes, starts: np.ndarray, content_end: np.ndarray, ends: np.ndarray,
                     keep_all: bool = False) -> TypedBlock:
        """Decode each line of the block; `keep_all` keeps every column, not only the residual ones.

        Each record is cut down to the values still needed as soon as it is decoded, so an article
        body is freed at once and its memory reused by the next (cache-warm, no page faults).
        """
        view = memoryview(data)
        decode = self.decoder.decode
        astuple = msgspec.structs.astuple
        unset = msgspec.UNSET
        width = len(self.names) if keep_all else len(self.residual.properties)
        rows: list[tuple] = []
        decoded: list[int] = []
        missing: list[int] = []
        collecting = gc.isenabled()
        gc.disable()  # the loop makes only acyclic tuples: collections would just scan them (~4 %)
        try:
            for i, (start, end) in enumerate(zip(starts.tolist(), content_end.tolist(), strict=True)):
                try:
                    values = astuple(decode(view[start:end]))
                except _DECODE_ERRORS:
                    continue
                decoded.append(i)
                missing.append(values.count(unset))
                rows.append(values[:width])
        finally:
            if collecting:
                gc.enable()
        idx = np.asarray(decoded, dtype=np.int64)
        if len(idx):
            filled = len(self.names) - np.asarray(missing, dtype=np.int64)
            same = _keys_per_line(data, ends)[idx] == filled
            if not same.all():
                rows = [r for r, keep in zip(rows, same.tolist(), strict=True) if keep]
                idx = idx[same]
        table = self._table(rows, self.names[:width])
        if not self.residual.properties:
            return TypedBlock(idx, table, np.ones(len(idx), dtype=bool), {})
        ev = self.residual.evaluate(table)
        suspect = np.flatnonzero(~ev.valid & ~ev.undecided).tolist()
        failed = {int(idx[row]): ev.failed_properties(row) for row in suspect}
        return TypedBlock(idx, table, ev.valid, failed)

    def _table(self, rows: list[tuple], names: list[str]) -> pa.Table:
        if not names:
            return pa.table({})
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
        arrays = [_arrow_column(values, self.read_types[name]) for name, values in zip(names, columns, strict=True)]
        return pa.table(arrays, names=names)


def _residual_plan(full: PropertyPlan, sub: dict[str, Any]) -> PropertyPlan:
    """The property's checks without those the decoder already made (fewer regexes to run)."""
    stripped = {k: v for k, v in sub.items() if k not in _DECODER_KEYWORDS or k == "type"}
    items = sub.get("items")
    if isinstance(items, dict):
        item = {k: v for k, v in items.items() if k not in _DECODER_KEYWORDS or k == "type"}
        if set(item) - _STRING_KEYWORDS:
            stripped["items"] = item
    plan = _compile_property(_Compiler(), full.name, stripped)
    return plan if plan is not None and plan.read_type == full.read_type else full


def _arrow_column(values: Any, kind: pa.DataType) -> pa.Array:
    """An Arrow column from decoded values (UNSET or None is a missing value, stored as null).

    Built with Arrow's builders and buffers rather than `pa.array`, which imports pandas (half a
    second) on first use.
    """
    unset = msgspec.UNSET
    if kind == pa.string():
        return strings([None if v is unset else v for v in values])
    present = np.fromiter((v is not unset and v is not None for v in values), dtype=bool, count=len(values))
    validity = None if present.all() else pa.py_buffer(np.packbits(present, bitorder="little"))
    if kind == pa.bool_():
        bits = np.fromiter((v is True for v in values), dtype=bool, count=len(values))
        return pa.Array.from_buffers(kind, len(values), [validity, pa.py_buffer(np.packbits(bits, bitorder="little"))])
    if kind == pa.list_(pa.string()):
        lists = [v if ok else () for v, ok in zip(values, present.tolist(), strict=True)]
        offsets = np.zeros(len(lists) + 1, dtype=np.int32)
        np.cumsum(np.fromiter(map(len, lists), dtype=np.int32, count=len(lists)), out=offsets[1:])
        items = strings(list(itertools.chain.from_iterable(lists)))
        return pa.Array.from_buffers(kind, len(lists), [validity, pa.py_buffer(offsets)], children=[items])
    raise TypeError(f"no typed column for {kind}")


def typed_decoder(document: Any, plan: Plan | None) -> TypedDecoder | None:
    """The typed decoder for a flat schema, or None when the schema needs the Arrow path.

    Taken: a root object with `additionalProperties: false`, every property typed string, boolean
    or array of strings (no null), every property compiled by the plan, `required` naming only
    declared properties.
    """
    if plan is None or plan.undecided_fields or plan.additional_allowed or not isinstance(document, dict):
        return None
    properties = document.get("properties", {})
    required = list(document.get("required", []))
    if not isinstance(properties, dict) or not properties or set(required) - set(properties):
        return None
    if {p.name for p in plan.properties} != set(properties):
        return None
    types: dict[str, tuple[Any, bool]] = {}
    for name, sub in properties.items():
        kind = _property_type(sub)
        if kind is None:
            return None
        types[name] = kind
    try:
        return TypedDecoder(plan, properties, required, types)
    except (TypeError, ValueError):
        return None


def _keys_per_line(data: bytes, ends: np.ndarray) -> np.ndarray:
    """How many object keys each line holds, counted in its bytes; -1 where unsure.

    Exact for lines that are valid JSON (the decoder accepted them): there, every quote not escaped
    by an odd run of backslashes delimits a string, and a string is a key exactly when a colon
    follows it. A blank right after such a quote (`"key" : 1`, legal but rare) makes the line
    unsure (-1 never matches), so it goes to the reference. An opening quote followed by a colon
    (a value starting with ":") counts too: an overcount only sends a line to the reference.
    """
    arr = np.frombuffer(data, dtype=np.uint8)
    counts = np.zeros(len(ends), dtype=np.int64)
    quotes = np.flatnonzero(arr == _QUOTE)
    quotes = quotes[(quotes > 0) & (quotes < len(arr) - 1)]
    if not len(quotes):
        return counts
    # Escaped quotes: an odd number of backslashes right before them.
    escaped = np.zeros(len(quotes), dtype=bool)
    run = np.flatnonzero(arr[quotes - 1] == _BACKSLASH)
    depth = 1
    while len(run):
        escaped[run] = depth % 2 == 1
        back = quotes[run] - depth - 1
        run = run[(back >= 0) & (arr[np.maximum(back, 0)] == _BACKSLASH)]
        depth += 1
    delimiters = quotes[~escaped]
    after = arr[delimiters + 1]
    line_of = np.searchsorted(ends, delimiters)
    counts += np.bincount(line_of[after == _COLON], minlength=len(ends))[: len(ends)]
    unsure = line_of[_JSON_BLANK[after]]
    counts[unsure[unsure < len(ends)]] = -1
    return counts
