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

from toolkit.errors import NewsarchiveError

_PACKAGE_DIR = Path(__file__).resolve().parent
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
        return str(self.document.get("$id", self.path.as_uri()))

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
        """The fields as a Markdown table (README, dataset card), straight from the schema file."""
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
        text = schema_path.read_text(encoding="utf-8")
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
    if isinstance(document, bool):
        document = {} if document else {"not": {}}
    return Schema(path=schema_path, document=document)
