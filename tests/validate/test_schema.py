"""The article schema file is the single source of truth; every other shape is derived from it."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
from jsonschema import Draft202012Validator

from toolkit.core.schema import default_schema_path, load_schema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema" / "article.schema.json"


def test_packaged_schema_is_the_repository_file_and_valid_2020_12():
    doc = json.loads(SCHEMA_FILE.read_text())
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(doc)
    assert default_schema_path().read_text() == SCHEMA_FILE.read_text()
    schema = load_schema()
    assert schema.version == "1.0.0"
    assert doc["additionalProperties"] is False
    assert set(doc["required"]) == {"id", "source", "title", "text", "published_date", "language"}


def test_arrow_schemas_follow_the_json_schema():
    doc = json.loads(SCHEMA_FILE.read_text())
    schema = load_schema()
    names = list(doc["properties"])
    assert [f.name for f in schema.fields] == names
    read, storage = schema.read_schema(), schema.storage_schema()
    assert read.names == names and storage.names == names
    assert storage.field("published_date").type == pa.date32()
    assert storage.field("crawled_at").type == pa.timestamp("us", tz="UTC")
    assert storage.field("authors").type == pa.list_(pa.string())
    for f in schema.fields:
        assert storage.field(f.name).nullable == (f.name not in doc["required"])
        assert f.description == doc["properties"][f.name]["description"]


def test_a_new_property_in_the_file_appears_everywhere(tmp_path):
    doc = json.loads(SCHEMA_FILE.read_text())
    doc["properties"]["section"] = {"type": "string", "description": "Newspaper section."}
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(doc))
    schema = load_schema(path)
    assert schema.storage_schema().field("section").type == pa.string()
    assert schema.read_schema().names[-1] == "section"
