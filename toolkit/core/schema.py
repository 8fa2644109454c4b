"""The article contract: loaded from `schema/article.schema.json` and turned into every other shape.

The JSON Schema file is the single source of truth. The Arrow schemas (for reading JSON Lines and for
storing Parquet), the Hub features, the Croissant fields and the card's schema table are all derived
here or from the `Field` list built here, never typed out a second time.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pyarrow as pa
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from toolkit.core.errors import NewsarchiveError

_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # toolkit/
#: Where the wheel puts the schema; an editable install reads the repository's `schema/` directly.
_CANDIDATES = (
    _PACKAGE_DIR / "_data" / "article.schema.json",
    _PACKAGE_DIR.parent / "schema" / "article.schema.json",
)


def default_schema_path() -> Path:
    """The packaged article schema, wherever this install keeps it."""
    for candidate in _CANDIDATES:
        if candidate.is_file():
            return candidate
    raise NewsarchiveError("the packaged article schema is missing; reinstall newsarchive")


@dataclass(frozen=True)
class Field:
    """One top-level property of the record, as the other representations need it."""

    name: str
    json_type: str  # "string", "integer", "number", "boolean", "array<string>", or "json" when unmapped
    format: str | None
    required: bool
    description: str

    @property
    def read_type(self) -> pa.DataType | None:
        """Arrow type used to parse this field out of JSON text (formats stay strings)."""
        return _READ_TYPES.get(self.json_type)

    @property
    def storage_type(self) -> pa.DataType | None:
        """Arrow type used in Parquet: dates and date-times become real temporal types."""
        if self.json_type == "string" and self.format == "date":
            return pa.date32()
        if self.json_type == "string" and self.format == "date-time":
            return pa.timestamp("us", tz="UTC")
        return self.read_type


_READ_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "array<string>": pa.list_(pa.string()),
}


def _constraints(sub: Any) -> str:
    """A short human reading of a property's keywords, e.g. `pattern ^[a-z]{2,3}$; format date`."""
    if not isinstance(sub, dict):
        return ""
    parts = []
    for key in ("format", "pattern", "minLength", "maxLength", "minItems", "maxItems", "enum"):
        if key in sub:
            parts.append(f"{key} `{sub[key]}`")
    if isinstance(sub.get("items"), dict):
        inner = _constraints(sub["items"])
        if inner:
            parts.append(f"items: {inner}")
    if isinstance(sub.get("not"), dict):
        parts.append(f"not {_constraints(sub['not'])}")
    return "; ".join(parts).replace("|", "&#124;")


def _json_type(sub: dict[str, Any]) -> str:
    kind = sub.get("type")
    if kind == "array":
        items = sub.get("items")
        if isinstance(items, dict) and items.get("type") == "string":
            return "array<string>"
        return "json"
    if isinstance(kind, str) and kind in _READ_TYPES:
        return kind
    return "json"


@dataclass(frozen=True)
class Schema:
    """A loaded, checked Draft 2020-12 schema plus the derived views of its top-level fields."""

    path: Path
    document: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.document.get("$id", self.path.absolute().as_uri()))  # a relative path has no URI

    @property
    def version(self) -> str | None:
        """The contract version carried in `$id` (e.g. 1.0.0), if any."""
        match = re.search(r"/(\d+\.\d+\.\d+)(?:/|$)", self.id)
        return match.group(1) if match else None

    @cached_property
    def fields(self) -> tuple[Field, ...]:
        props = self.document.get("properties", {})
        required = set(self.document.get("required", []))
        return tuple(
            Field(
                name=name,
                json_type=_json_type(sub) if isinstance(sub, dict) else "json",
                format=sub.get("format") if isinstance(sub, dict) else None,
                required=name in required,
                description=str(sub.get("description", "")) if isinstance(sub, dict) else "",
            )
            for name, sub in props.items()
        )

    def markdown_table(self) -> str:
        """The fields as a Markdown table (docs/validate.md, dataset card), straight from the schema file."""
        rows = ["| field | type | required | constraints | description |", "|---|---|---|---|---|"]
        props = self.document.get("properties", {})
        for f in self.fields:
            sub = props.get(f.name, {})
            rows.append(
                f"| `{f.name}` | {f.json_type} | {'yes' if f.required else 'no'} | "
                f"{_constraints(sub)} | {f.description.replace('|', '&#124;')} |"
            )
        return "\n".join(rows) + "\n"

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def read_schema(self) -> pa.Schema:
        """Arrow schema for parsing records out of JSON (dates stay strings until stored)."""
        self._require_columnar()
        return pa.schema([pa.field(f.name, f.read_type) for f in self.fields])

    def _require_columnar(self) -> None:
        unmapped = [f.name for f in self.fields if f.read_type is None]
        if unmapped:
            raise NewsarchiveError(
                f"schema {self.path}: fields {', '.join(unmapped)} have no columnar type; "
                "archive fields must be strings, numbers, booleans or arrays of strings"
            )

    def storage_schema(self) -> pa.Schema:
        """Arrow schema of archived records; fails if a field has no columnar mapping."""
        self._require_columnar()
        return pa.schema(
            [pa.field(f.name, f.storage_type, nullable=not f.required) for f in self.fields]
        )


def load_schema(path: str | Path | None = None) -> Schema:
    """Load and check a Draft 2020-12 schema; a broken one is a usage error (exit 2), not a crash."""
    schema_path = Path(path) if path is not None else default_schema_path()
    try:
        text = schema_path.read_text(encoding="utf-8-sig")  # a BOM, as editors on Windows write, is fine
    except FileNotFoundError:
        raise NewsarchiveError(f"schema {schema_path}: no such file; pass an existing --schema") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise NewsarchiveError(f"schema {schema_path}: cannot read it ({exc})") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NewsarchiveError(
            f"schema {schema_path}:{exc.lineno}: not valid JSON ({exc.msg}); fix the file"
        ) from None
    except RecursionError:
        raise NewsarchiveError(f"schema {schema_path}: nested too deeply (more than {MAX_SCHEMA_DEPTH} levels); "
                               "flatten it with $defs and $ref") from None
    _check_depth(document, schema_path)
    if not isinstance(document, (dict, bool)):
        raise NewsarchiveError(f"schema {schema_path}: a schema must be a JSON object or boolean")
    declared = document.get("$schema") if isinstance(document, dict) else None
    if declared and "2020-12" not in str(declared):
        raise NewsarchiveError(
            f"schema {schema_path}: declares {declared}; newsarchive validates Draft 2020-12 schemas only"
        )
    try:
        Draft202012Validator.check_schema(document)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise NewsarchiveError(
            f"schema {schema_path}: invalid at {where}: {exc.message}"
        ) from None
    except RecursionError:
        raise NewsarchiveError(f"schema {schema_path}: nested too deeply to be checked; "
                               "flatten it with $defs and $ref") from None
    if isinstance(document, dict):
        _check_references(document, schema_path)
    if isinstance(document, bool):
        document = {} if document else {"not": {}}
    return Schema(path=schema_path, document=document)


# --- structure checks: what python-jsonschema would only trip over while validating a record -------
MAX_SCHEMA_DEPTH = 64  # JSON nesting levels; the article schema has 5

#: Keywords whose subschemas apply to the same value (not to a member or item of it): a $ref cycle
#: made only of these never reaches a smaller value, so validating anything recurses forever.
_IN_PLACE_ONE = ("not", "if", "then", "else")
_IN_PLACE_MANY = ("allOf", "anyOf", "oneOf")


def _check_depth(document: Any, path: Path) -> None:
    """Refuse a schema nested deeper than MAX_SCHEMA_DEPTH: checking or applying it would exhaust
    Python's stack (an internal error) long before such a schema means anything."""
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_SCHEMA_DEPTH:
            raise NewsarchiveError(f"schema {path}: nested more than {MAX_SCHEMA_DEPTH} levels deep; "
                                   "flatten it with $defs and $ref")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values() if isinstance(v, (dict, list)))
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value if isinstance(v, (dict, list)))


_ONE_SCHEMA = ("not", "if", "then", "else", "items", "contains", "additionalProperties", "propertyNames",
               "unevaluatedItems", "unevaluatedProperties", "contentSchema")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_MAPS = ("properties", "patternProperties", "dependentSchemas", "$defs", "definitions")


def _subschemas(document: dict[str, Any]) -> dict[str, tuple[dict[str, Any], str]]:
    """Every object subschema by its JSON Pointer, with the base URI in force there (its $id resolved
    against the enclosing one). Only keywords that hold schemas are walked: a `const` or `enum`
    value that looks like {"$ref": ...} is data."""
    found: dict[str, tuple[dict[str, Any], str]] = {}
    stack: list[tuple[str, Any, str]] = [("", document, "")]
    while stack:
        pointer, node, base = stack.pop()
        if not isinstance(node, dict):
            continue
        if isinstance(node.get("$id"), str):
            base = _join(base, node["$id"]).split("#", 1)[0]
        found[pointer] = (node, base)
        for key in _ONE_SCHEMA:
            if key in node:
                stack.append((f"{pointer}/{key}", node[key], base))
        for key in _SCHEMA_LISTS:
            if isinstance(node.get(key), list):
                stack.extend((f"{pointer}/{key}/{i}", v, base) for i, v in enumerate(node[key]))
        for key in _SCHEMA_MAPS:
            if isinstance(node.get(key), dict):
                stack.extend((f"{pointer}/{key}/{_escape(k)}", v, base) for k, v in node[key].items())
    return found


def _join(base: str, ref: str) -> str:
    """RFC 3986 reference resolution, also for bases such as `urn:uuid:...` that urljoin leaves alone."""
    from urllib.parse import urljoin

    if ref.startswith("#"):
        return base.split("#", 1)[0] + ref
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", ref):
        return ref
    return urljoin(base, ref)


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _check_references(document: dict[str, Any], path: Path) -> None:
    """Every $ref must point inside the schema (or to a JSON Schema meta-schema, which ships with
    python-jsonschema), and no chain of $ref and in-place keywords may lead back where it started.

    Why: newsarchive fetches nothing from the network, and python-jsonschema would only find out
    while validating a record: an unresolvable reference or an endless recursion, as an internal
    error in the middle of a run.
    """
    from urllib.parse import unquote

    from jsonschema_specifications import REGISTRY as META

    nodes = _subschemas(document)
    ids = {base: p for p, (node, base) in nodes.items() if isinstance(node.get("$id"), str)}
    ids.setdefault(nodes[""][1], "")
    anchors: dict[tuple[str, str], str] = {}
    for p, (node, base) in nodes.items():
        for keyword in ("$anchor", "$dynamicAnchor"):
            if isinstance(node.get(keyword), str):
                anchors[(base, node[keyword])] = p

    edges: dict[str, list[str]] = {}
    for pointer, (node, base) in nodes.items():
        for keyword in ("$ref", "$dynamicRef"):
            ref = node.get(keyword)
            if not isinstance(ref, str):
                continue
            uri, _, fragment = _join(base, ref).partition("#")
            where = f"{keyword} {ref!r} at {pointer or '/'}"
            if uri not in ids:
                if uri in META:
                    continue  # a meta-schema: python-jsonschema has it offline
                raise NewsarchiveError(
                    f"schema {path}: {where} points outside the schema; newsarchive fetches nothing from the "
                    "network: copy that schema under $defs and refer to it as #/$defs/...")
            fragment = unquote(fragment)
            if not fragment or fragment.startswith("/"):
                target = ids[uri] + fragment
                if target not in nodes:
                    if _is_boolean_schema(document, target):
                        continue
                    raise NewsarchiveError(f"schema {path}: {where} points to no schema in the file; fix it")
            elif (uri, fragment) in anchors:
                target = anchors[(uri, fragment)]
            else:
                raise NewsarchiveError(f"schema {path}: {where} names no $anchor of the schema; fix it")
            edges.setdefault(pointer, []).append(target)
        for keyword in _IN_PLACE_ONE:
            if isinstance(node.get(keyword), dict):
                edges.setdefault(pointer, []).append(f"{pointer}/{keyword}")
        for keyword in _IN_PLACE_MANY:
            if isinstance(node.get(keyword), list):
                edges.setdefault(pointer, []).extend(f"{pointer}/{keyword}/{i}" for i in range(len(node[keyword])))
        if isinstance(node.get("dependentSchemas"), dict):
            edges.setdefault(pointer, []).extend(f"{pointer}/dependentSchemas/{_escape(k)}"
                                                 for k in node["dependentSchemas"])
    loop = _find_cycle(edges)
    if loop:
        chain = " -> ".join(p or "/" for p in loop)
        raise NewsarchiveError(f"schema {path}: $ref loop {chain}: each step applies to the same value, so "
                               "checking a record would never end; break the loop")


def _is_boolean_schema(document: dict[str, Any], pointer: str) -> bool:
    value: Any = document
    for part in pointer.split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return False
    return isinstance(value, bool)


def _find_cycle(edges: dict[str, list[str]]) -> list[str] | None:
    """A cycle of the graph, as the list of its nodes (first one repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in edges:
        if state.get(start):
            continue
        path = [start]
        iters = [iter(edges.get(start, ()))]
        state[start] = 1
        while iters:
            nxt = next(iters[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                iters.pop()
                continue
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                iters.append(iter(edges.get(nxt, ())))
    return None
