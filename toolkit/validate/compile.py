"""Compile a JSON Schema into column checks that Arrow runs in bulk.

The plan gives, for every row of a block parsed by Arrow's JSON reader, one of three answers:
*valid* (exactly the reference's verdict), *suspect* (probably invalid: the reference words it and has
the last word), or *undecided* (a construct we do not compile: the reference decides). Only the
*valid* answer has to be exact; it is proven against python-jsonschema by differential tests and the
official JSON-Schema-Test-Suite.

What compiles: a root object schema with `properties`, `required` and a boolean
`additionalProperties`; properties typed string, boolean or array of strings, with minLength,
maxLength, pattern (translated to RE2), the formats in `formats.py`, enum, const, minItems, maxItems,
items, and not/allOf/anyOf/oneOf/if-then-else over those. Anything else makes that property
undecided, or the whole schema uncompilable (`compile_schema` returns None).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from toolkit.validate.arrays import bools, false_if_null, strings, to_numpy_bools
from toolkit.validate.formats import asserted_formats, columnar_format_checks
from toolkit.validate.pyregex import Untranslatable, to_re2

Check = Callable[[pa.Array], pa.Array]  # non-null values in, exact boolean verdicts out

ANNOTATIONS = frozenset(
    {"title", "description", "$comment", "examples", "default", "deprecated", "readOnly", "writeOnly"}
)
ROOT_KEYWORDS = ANNOTATIONS | {"$schema", "$id", "$defs", "type", "properties", "required",
                               "additionalProperties"}
# Keywords that only constrain objects, numbers or arrays: no-ops for a string value, and so on.
_OBJECT_ONLY = frozenset({"properties", "required", "additionalProperties", "patternProperties",
                          "minProperties", "maxProperties", "propertyNames", "dependentRequired",
                          "dependentSchemas", "unevaluatedProperties"})
_NUMBER_ONLY = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"})
_ARRAY_ONLY = frozenset({"items", "prefixItems", "minItems", "maxItems", "uniqueItems", "contains",
                         "minContains", "maxContains", "unevaluatedItems"})
_STRING_ONLY = frozenset({"minLength", "maxLength", "pattern", "format"})


def _const(value: bool) -> Check:
    return lambda values: bools(np.full(len(values), value))


def _and(checks: list[Check]) -> Check:
    if not checks:
        return _const(True)
    if len(checks) == 1:
        return checks[0]

    def run(values: pa.Array) -> pa.Array:
        result = checks[0](values)
        for check in checks[1:]:
            result = pc.and_(result, check(values))
        return result

    return run


def _trivial(sub: Any) -> Check | None:
    """The check for a boolean or empty schema; None for a schema object with keywords to compile."""
    if sub is True or sub == {}:
        return _const(True)
    if sub is False:
        return _const(False)
    if not isinstance(sub, dict):
        raise Untranslatable("schema is not an object")
    return None


def _types(sub: dict[str, Any]) -> set[str] | None:
    kind = sub.get("type")
    if kind is None:
        return None
    return {kind} if isinstance(kind, str) else set(kind)


class _Compiler:
    def __init__(self) -> None:
        self.formats = columnar_format_checks()
        self.asserted = asserted_formats()

    # --- applicators shared by every value kind -------------------------------------------------
    def _logic(self, sub: dict[str, Any], compile_one: Callable[[Any], Check]) -> list[Check]:
        checks: list[Check] = []
        if "not" in sub:
            inner = compile_one(sub["not"])
            checks.append(lambda v, inner=inner: pc.invert(inner(v)))
        if "allOf" in sub:
            checks.extend(compile_one(s) for s in sub["allOf"])
        if "anyOf" in sub:
            parts = [compile_one(s) for s in sub["anyOf"]]

            def any_of(v: pa.Array, parts=parts) -> pa.Array:
                result = parts[0](v)
                for part in parts[1:]:
                    result = pc.or_(result, part(v))
                return result

            checks.append(any_of)
        if "oneOf" in sub:
            parts = [compile_one(s) for s in sub["oneOf"]]

            def one_of(v: pa.Array, parts=parts) -> pa.Array:
                total = pc.cast(parts[0](v), pa.int32())
                for part in parts[1:]:
                    total = pc.add(total, pc.cast(part(v), pa.int32()))
                return pc.equal(total, 1)

            checks.append(one_of)
        if "if" in sub:
            cond = compile_one(sub["if"])
            then = compile_one(sub["then"]) if "then" in sub else _const(True)
            other = compile_one(sub["else"]) if "else" in sub else _const(True)
            checks.append(lambda v, c=cond, t=then, o=other: pc.if_else(c(v), t(v), o(v)))
        return checks

    _LOGIC = frozenset({"not", "allOf", "anyOf", "oneOf", "if", "then", "else"})

    def _check_keys(self, sub: dict[str, Any], allowed: frozenset[str]) -> None:
        unknown = set(sub) - allowed - ANNOTATIONS - self._LOGIC
        if unknown:
            raise Untranslatable(f"keywords {sorted(unknown)}")

    # --- strings ---------------------------------------------------------------------------------
    def string(self, sub: Any) -> Check:
        """Exact verdict of `sub` applied to JSON strings."""
        if (trivial := _trivial(sub)) is not None:
            return trivial
        self._check_keys(sub, _STRING_ONLY | _OBJECT_ONLY | _NUMBER_ONLY | _ARRAY_ONLY
                         | {"type", "enum", "const"})
        types = _types(sub)
        if types is not None and "string" not in types:
            return _const(False)
        checks: list[Check] = []
        if "minLength" in sub:
            n = sub["minLength"]
            if n <= 1:  # "at least one character" is "at least one byte": no need to scan the text
                checks.append(lambda v, n=n: pc.greater_equal(pc.binary_length(v), n))
            else:
                checks.append(lambda v, n=n: pc.greater_equal(pc.utf8_length(v), n))
        if "maxLength" in sub:
            n = sub["maxLength"]
            checks.append(lambda v, n=n: pc.less_equal(pc.utf8_length(v), n))
        if "pattern" in sub:
            rx = to_re2(sub["pattern"])
            checks.append(lambda v, rx=rx: pc.match_substring_regex(v, rx))
        if "format" in sub and sub["format"] in self.asserted:
            fmt = sub["format"]
            if fmt not in self.formats:
                raise Untranslatable(f"format {fmt}")
            checks.append(self.formats[fmt])
        if "enum" in sub:
            allowed = [x for x in sub["enum"] if isinstance(x, str)]
            checks.append(self._member(allowed))
        if "const" in sub:
            const = sub["const"]
            checks.append(self._member([const]) if isinstance(const, str) else _const(False))
        checks.extend(self._logic(sub, self.string))
        return _and(checks)

    @staticmethod
    def _member(allowed: list[str]) -> Check:
        if not allowed:
            return _const(False)
        value_set = strings(allowed)
        return lambda v: false_if_null(pc.is_in(v, value_set=value_set))

    # --- booleans --------------------------------------------------------------------------------
    def boolean(self, sub: Any) -> Check:
        if (trivial := _trivial(sub)) is not None:
            return trivial
        self._check_keys(sub, _STRING_ONLY | _OBJECT_ONLY | _NUMBER_ONLY | _ARRAY_ONLY | {"type"})
        types = _types(sub)
        checks = [] if types is None or "boolean" in types else [_const(False)]
        checks.extend(self._logic(sub, self.boolean))
        return _and(checks)

    # --- arrays of strings -----------------------------------------------------------------------
    def string_list(self, sub: Any) -> Check:
        if (trivial := _trivial(sub)) is not None:
            return trivial
        self._check_keys(sub, _STRING_ONLY | _OBJECT_ONLY | _NUMBER_ONLY
                         | {"type", "items", "minItems", "maxItems"})
        types = _types(sub)
        if types is not None and "array" not in types:
            return _const(False)
        checks: list[Check] = []
        if "minItems" in sub:
            n = sub["minItems"]
            checks.append(lambda v, n=n: pc.greater_equal(pc.list_value_length(v), n))
        if "maxItems" in sub:
            n = sub["maxItems"]
            checks.append(lambda v, n=n: pc.less_equal(pc.list_value_length(v), n))
        if "items" in sub:
            item = self.string(sub["items"])

            def items(v: pa.Array | pa.ChunkedArray, item=item) -> pa.Array:
                chunks = v.chunks if isinstance(v, pa.ChunkedArray) else [v]
                good = []
                for chunk in chunks:
                    flat = pc.list_flatten(chunk)
                    bad_rows = np.zeros(len(chunk), dtype=bool)
                    if len(flat):
                        ok = to_numpy_bools(item(flat))
                        ok &= _present(flat)
                        parents = np.asarray(pc.list_parent_indices(chunk).to_numpy())
                        bad_rows[parents[~ok]] = True
                    good.append(~bad_rows)
                return bools(np.concatenate(good) if good else np.zeros(0, dtype=bool))

            checks.append(items)
        checks.extend(self._logic(sub, self.string_list))
        return _and(checks)


@dataclass
class PropertyPlan:
    name: str
    read_type: pa.DataType
    check: Check


@dataclass
class Plan:
    """Column checks for one schema; `evaluate` sorts the rows of a parsed block."""

    properties: list[PropertyPlan]
    required: tuple[str, ...]
    known: frozenset[str]
    additional_allowed: bool
    undecided_fields: frozenset[str] = field(default_factory=frozenset)

    @property
    def strings_and_lists_only(self) -> bool:
        """True when every bulk column is a string or a list of strings (the article schema)."""
        return all(p.read_type in (pa.string(), pa.list_(pa.string())) for p in self.properties) and \
            not self.undecided_fields and not self.additional_allowed

    @property
    def read_schema(self) -> pa.Schema:
        return pa.schema([pa.field(p.name, p.read_type) for p in self.properties])

    def evaluate(self, table: pa.Table) -> Evaluation:
        """Sort the rows into valid, undecided and suspect, and say which properties failed where."""
        n = table.num_rows
        valid = np.ones(n, dtype=bool)
        undecided = np.zeros(n, dtype=bool)
        failed: dict[str, np.ndarray] = {}
        names = set(table.column_names)

        def present(name: str) -> np.ndarray:
            if name not in names:
                return np.zeros(n, dtype=bool)
            return _present(table.column(name))

        for name in self.required:
            valid &= present(name)
        for prop in self.properties:
            column = table.column(prop.name)
            if column.null_count == len(column):
                continue
            if column.num_chunks == 1:
                column = column.chunk(0)
            # Checks see every row; absent values (null) pass here, presence is `required`'s business.
            here = _present(column)
            verdict = to_numpy_bools(prop.check(column))
            bad = here & ~verdict
            if bad.any():
                failed[prop.name] = bad
                valid &= ~bad
        for name in names - {p.name for p in self.properties}:
            here = present(name)
            if name in self.undecided_fields:
                undecided |= here
            elif name not in self.known and not self.additional_allowed:
                valid &= ~here
        return Evaluation(valid & ~undecided, undecided, failed)


def _present(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Rows where the column has a value, without the slow path of ChunkedArray.to_numpy."""
    n = len(column)
    if column.null_count == 0:
        return np.ones(n, dtype=bool)
    if column.null_count == n:
        return np.zeros(n, dtype=bool)
    return to_numpy_bools(pc.is_valid(column))


@dataclass
class Evaluation:
    """Row masks from `Plan.evaluate`; `failed` maps a property to the rows where its check failed."""

    valid: np.ndarray
    undecided: np.ndarray
    failed: dict[str, np.ndarray]

    def failed_properties(self, row: int) -> set[str]:
        return {name for name, rows in self.failed.items() if rows[row]}


def compile_schema(schema: dict[str, Any]) -> Plan | None:
    """The bulk plan for `schema`, or None when the root uses constructs we do not compile."""
    if set(schema) - ROOT_KEYWORDS:
        return None
    types = _types(schema)
    if types is not None and types != {"object"}:
        return None
    additional = schema.get("additionalProperties", True)
    if not isinstance(additional, bool):
        return None
    props = schema.get("properties", {})
    required = tuple(schema.get("required", []))
    compiler = _Compiler()
    plans: list[PropertyPlan] = []
    undecided: set[str] = set()
    for name, sub in props.items():
        plan = _compile_property(compiler, name, sub)
        if plan is None:
            undecided.add(name)
        else:
            plans.append(plan)
    # A required name without a property schema only has to be present; so does an undecided one.
    return Plan(
        properties=plans,
        required=required,
        known=frozenset(props),
        additional_allowed=additional,
        undecided_fields=frozenset(undecided),
    )


def _compile_property(compiler: _Compiler, name: str, sub: Any) -> PropertyPlan | None:
    if not name or not isinstance(sub, dict):
        return None  # boolean property schemas: rare, left to the reference
    types = _types(sub) or set()
    types.discard("null")  # explicit nulls never reach the bulk path
    try:
        if types == {"string"}:
            return PropertyPlan(name, pa.string(), compiler.string(sub))
        if types == {"boolean"}:
            return PropertyPlan(name, pa.bool_(), compiler.boolean(sub))
        if types == {"array"}:
            items = sub.get("items")
            if isinstance(items, dict) and (_types(items) or set()) - {"null"} == {"string"}:
                return PropertyPlan(name, pa.list_(pa.string()), compiler.string_list(sub))
    except Untranslatable:
        return None
    return None
