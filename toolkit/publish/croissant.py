"""croissant.json (Croissant 1.1): the snapshot's files and its one record set, fields from the JSON Schema.

Each shard is a FileObject with its SHA-256 (what a consumer can check), and a FileSet over
`data/*.parquet` is what the record set reads, so the same description loads one shard or a hundred.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from toolkit.core.schema import Field, Schema
from toolkit.publish.checksums import sha256_file
from toolkit.publish.shards import PARTITION_COLUMNS, ShardSet

CROISSANT_FILE = "croissant.json"
CROISSANT_1_1 = "http://mlcommons.org/croissant/1.1"
FILE_SET = "parquet-files"
RECORD_SET = "articles"
PARQUET = "application/x-parquet"

#: The Croissant 1.1 JSON-LD context, as mlcroissant writes it for 1.1 documents.
CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "arrayShape": "cr:arrayShape",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "containedIn": "cr:containedIn",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isArray": "cr:isArray",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}

_DATA_TYPES = {"string": "sc:Text", "integer": "sc:Integer", "number": "sc:Float", "boolean": "sc:Boolean",
               "array<string>": "sc:Text"}
_FORMAT_TYPES = {"date": "sc:Date", "date-time": "sc:DateTime", "uri": "sc:URL"}


def data_type(field: Field) -> str:
    """Croissant dataType of a schema field: formats refine strings (date, date-time, URL)."""
    if field.json_type == "string" and field.format in _FORMAT_TYPES:
        return _FORMAT_TYPES[field.format]
    return _DATA_TYPES.get(field.json_type, "sc:Text")


def _field(name: str, description: str, kind: str, *, array: bool = False) -> dict[str, Any]:
    node: dict[str, Any] = {
        "@type": "cr:Field",
        "@id": f"{RECORD_SET}/{name}",
        "name": name,
        "description": description,
        "dataType": kind,
        "source": {"fileSet": {"@id": FILE_SET}, "extract": {"column": name}},
    }
    if array:
        node["isArray"] = True
        node["arrayShape"] = "-1"
    return node


_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")


def semver(tag: str) -> str | None:
    """The tag as Croissant's MAJOR.MINOR.PATCH version, when it is one (v1.2.0 -> 1.2.0)."""
    candidate = tag[1:] if tag[:1] in ("v", "V") else tag
    return candidate if _SEMVER.match(candidate) else None


def build_croissant(*, name: str, description: str, license: str, url: str | None, tag: str,
                    citation: str, languages: list[str], keywords: list[str], schema: Schema,
                    shards: ShardSet, snapshot: Path, date_published: str | None = None) -> dict[str, Any]:
    """The Croissant document; every field comes from the schema, every file from the snapshot."""
    distribution: list[dict[str, Any]] = [
        {
            "@type": "cr:FileObject",
            "@id": shard.path,
            "name": shard.path,
            "description": f"Parquet shard {index + 1} of {len(shards.files)}: {shard.rows} articles.",
            "contentUrl": shard.path,
            "contentSize": f"{shard.bytes} B",
            "encodingFormat": PARQUET,
            "sha256": sha256_file(snapshot / shard.path),
        }
        for index, shard in enumerate(shards.files)
    ]
    distribution.append({
        "@type": "cr:FileSet",
        "@id": FILE_SET,
        "name": FILE_SET,
        "description": "Every Parquet shard of the train split, rows in (published_date, id) order.",
        "encodingFormat": PARQUET,
        "includes": "data/*.parquet",
    })
    fields = [_field(f.name, f.description, data_type(f), array=f.json_type == "array<string>")
              for f in schema.fields]
    fields += [_field(name_, f"Publication {name_}, derived from published_date.", "sc:Integer")
               for name_ in PARTITION_COLUMNS if name_ not in {f.name for f in schema.fields}]
    document: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": CROISSANT_1_1,
        "name": name,
        "description": description,
        "license": license,
        "url": url,
        "identifier": tag,
        "version": semver(tag),
        "datePublished": date_published,
        "citeAs": citation,
        "inLanguage": languages,
        "keywords": keywords,
        "isLiveDataset": False,
        "distribution": distribution,
        "recordSet": [{
            "@type": "cr:RecordSet",
            "@id": RECORD_SET,
            "name": RECORD_SET,
            "description": schema.document.get("description", "One news article."),
            "key": {"@id": f"{RECORD_SET}/id"},
            "field": fields,
        }],
    }
    return {k: v for k, v in document.items() if v not in (None, [], "")}


def write_croissant(document: dict[str, Any], snapshot: Path) -> Path:
    path = snapshot / CROISSANT_FILE
    path.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8", newline="\n")
    return path
