"""The engine (bulk Arrow path + reference lane) gives exactly the reference's verdicts and errors.

The reference is `toolkit.validate.reference.ReferenceValidator.check` run on each line alone:
strict JSON parsing, then python-jsonschema's Draft202012Validator with FORMAT_CHECKER.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.validate.conftest import good_record
from toolkit.core.jsonl import Block, InputFile
from toolkit.core.schema import Schema, load_schema
from toolkit.validate.engine import Engine
from toolkit.validate.reference import ReferenceValidator

SOURCE = InputFile("mem", None)


def engine_verdicts(engine: Engine, lines: list[bytes]):
    outcome = engine.check_block(Block(SOURCE, b"".join(line + b"\n" for line in lines), 0))
    return outcome, {f.line: f for f in outcome.failures}


def assert_same_as_reference(schema: Schema, lines: list[bytes], *, min_bulk: int = 0) -> None:
    """Both bulk paths (typed decoding, where the schema allows it, and Arrow) against the reference."""
    reference = ReferenceValidator(schema.document)
    expected = [reference.check(raw) for raw in lines]
    for typed in (True, False):
        engine = Engine(schema, typed=typed)
        outcome, failures = engine_verdicts(engine, lines)
        assert outcome.records == len(lines)
        for number, (raw, want) in enumerate(zip(lines, expected, strict=True), start=1):
            got = failures.get(number)
            if want.valid:
                assert got is None, (typed, raw, got.problems)
            else:
                assert got is not None, (typed, raw, want.problems)
                assert got.problems == want.problems, (typed, raw)
                assert got.record_id == want.record_id
        assert outcome.stats["bulk"] >= min_bulk, (typed, outcome.stats)


# --- generated records -----------------------------------------------------------------------------

WEIRD_TEXT = st.sampled_from(["", " ", "\u00a0", "\u3000x", "a\n", "\n", "x\u2028", "é", "١٢٣", "null", "\\", "\"",
                              "2021-06-28", "2021-02-29", "2020-02-29", "0000-01-01", "2021-6-8", "2021-06-28\n",
                              "https://x.ma/a", "https://x.ma/a b", "fr", "fr\n", "FR", "ary", "aaaaaaaaaaaaaaaa",
                              "aaaaaaaaaaaaaaaa\n", "AAAAAAAAAAAAAAAA", "2021-06-28T10:00:00Z", "2021-06-28t10:00:00z",
                              "2021-06-28T24:00:00Z", "2021-06-28T10:00:00+01:00\n", "2021-06-28 10:00:00Z"])
ANY_STRING = st.one_of(WEIRD_TEXT, st.text(max_size=12))
ANY_VALUE = st.one_of(ANY_STRING, st.integers(-5, 5), st.booleans(), st.none(), st.floats(allow_nan=False),
                      st.lists(ANY_STRING, max_size=3), st.lists(st.integers(), max_size=2),
                      st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
FIELDS = ["id", "source", "title", "text", "published_date", "language", "url", "aggregator", "authors", "tags",
          "crawled_at", "description", "image_url", "publishd_date", "zzz"]


@st.composite
def records(draw) -> bytes:
    rec = good_record(draw(st.integers(0, 10**6)), url="https://www.maghress.com/fr/1/2",
                      crawled_at="2021-06-29T08:00:00Z", authors=["Rédaction"], tags=[])
    for _ in range(draw(st.integers(0, 3))):
        field = draw(st.sampled_from(FIELDS))
        action = draw(st.sampled_from(["delete", "string", "value"]))
        if action == "delete":
            rec.pop(field, None)
        elif action == "string":
            rec[field] = draw(ANY_STRING)
        else:
            rec[field] = draw(ANY_VALUE)
    text = json.dumps(rec, ensure_ascii=draw(st.booleans()))
    mangle = draw(st.sampled_from(["none"] * 6 + ["truncate", "escape-key", "spaces", "crlf", "dup", "nan",
                                                  "latin-1", "dup-spaced", "dup-escaped"]))
    if mangle == "truncate":
        text = text[: draw(st.integers(1, max(1, len(text) - 1)))]
    elif mangle == "escape-key":
        text = text.replace('"title"', '"\\u0074itle"', 1)
    elif mangle == "spaces":
        text = text.replace(": ", " :\t ")
    elif mangle == "crlf":
        text += "\r"
    elif mangle == "dup":
        text = text[:-1] + ', "id": "ffffffffffffffff"}'
    elif mangle == "dup-spaced":  # the repeated key hides behind blanks before its colon
        text = text[:-1] + ', "title" \t: "Encore"}'
    elif mangle == "dup-escaped":  # ... or behind an escape
        text = text[:-1] + ', "t\\u0069tle": "Encore"}'
    elif mangle == "nan":
        text = text[:-1] + ', "x": NaN}'
    elif mangle == "latin-1":  # a legacy-encoded line: Arrow would take its bytes as they are
        return text.replace("Titre", "Éditorial").encode("latin-1", "replace")
    return text.encode("utf-8", "surrogatepass")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(records(), min_size=1, max_size=40))
def test_generated_records_match_reference(lines):
    assert_same_as_reference(load_schema(), lines)


def test_gen_articles_damage_matches_reference(generated_lines):
    lines = generated_lines
    assert_same_as_reference(load_schema(), lines, min_bulk=len(lines) // 2)


# --- other schemas -----------------------------------------------------------------------------------

DRAFT = "https://json-schema.org/draft/2020-12/schema"
OTHER_SCHEMAS = {
    "open object with booleans and enums": {
        "$schema": DRAFT, "type": "object", "required": ["name"],
        "properties": {
            "name": {"type": "string", "minLength": 2, "maxLength": 5},
            "ok": {"type": "boolean"},
            "kind": {"type": "string", "enum": ["a", "b", 3]},
            "fixed": {"const": "x", "type": "string"},
            "tags": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]+$"}, "minItems": 1,
                     "maxItems": 2},
        },
    },
    "logic": {
        "$schema": DRAFT, "type": "object", "additionalProperties": False,
        "properties": {
            "a": {"type": "string", "not": {"pattern": "^x"}},
            "b": {"type": "string", "anyOf": [{"minLength": 3}, {"pattern": "\\d"}]},
            "c": {"type": "string", "oneOf": [{"pattern": "a"}, {"pattern": "b"}]},
            "d": {"type": "string", "if": {"pattern": "^d"}, "then": {"maxLength": 2}, "else": {"minLength": 2}},
            "e": {"type": ["string", "null"], "format": "date"},
        },
    },
    "uncompilable parts": {
        "$schema": DRAFT, "type": "object", "$defs": {"s": {"type": "string", "minLength": 1}},
        "properties": {
            "n": {"type": "integer", "minimum": 0},
            "r": {"$ref": "#/$defs/s"},
            "w": {"type": "string", "pattern": "\\bword\\b"},
            "u": {"type": "string", "format": "uuid"},
            "s": {"type": "string", "maxLength": 3},
        },
        "required": ["s"],
    },
    "flat, typed decoding": {  # every keyword msgspec takes, Python-regex quirks, and residual checks
        "$schema": DRAFT, "type": "object", "additionalProperties": False, "required": ["k"],
        "properties": {
            "k": {"type": "string", "pattern": "^[a-z]+$"},  # Python's $ admits a trailing newline
            "dd": {"type": "string", "pattern": "\\d", "maxLength": 3},  # \d takes Arabic-Indic digits
            "w": {"type": "string", "minLength": 2, "maxLength": 4},  # code points, not UTF-16 units
            "bb": {"type": "boolean"},
            "l": {"type": "array", "items": {"type": "string", "minLength": 1, "pattern": "\\w"},
                  "minItems": 1, "maxItems": 3},
            "f": {"type": "string", "format": "date", "minLength": 10},
            "ee": {"type": "string", "enum": ["a", "b"]},
            "nn": {"type": "string", "pattern": "x", "not": {"pattern": "\\s"}},
            "u": {"type": "array", "items": {"type": "string", "format": "uri"}},
        },
    },
    "uncompilable root": {
        "$schema": DRAFT, "allOf": [{"required": ["a"]}], "properties": {"a": {"type": "string"}},
    },
}

OTHER_VALUES = st.one_of(ANY_VALUE, st.sampled_from(["x", "ab", "abc", "d", "dd", "ddd", "a1", "ab", "word",
                                                      "a word b", "swordy", "b", "2021-02-29", "a-b", "abc\n",
                                                      "١٢", "😀😀", "e\u0301", "x y", "x\u3000", "2021-06-28",
                                                      "\\\"", "a\\"]),
                         st.lists(st.sampled_from(["a", "", "٣", "-", "https://x.ma/a b", "https://x.ma/"]),
                                  max_size=4))


@st.composite
def other_lines(draw) -> bytes:
    rec = draw(st.dictionaries(st.sampled_from(["name", "ok", "kind", "fixed", "tags", "a", "b", "c", "d", "e",
                                                "n", "r", "w", "u", "s", "extra", "k", "dd", "bb", "l", "f",
                                                "ee", "nn"]),
                               OTHER_VALUES, max_size=6))
    text = json.dumps(rec, ensure_ascii=draw(st.booleans()))
    mangle = draw(st.sampled_from(["none"] * 4 + ["dup", "dup-spaced", "spaced"]))
    if rec and mangle != "none":
        key = draw(st.sampled_from(sorted(rec)))
        if mangle == "spaced":
            text = text.replace(f'"{key}": ', f'"{key}"\r : ', 1)
        else:
            sep = " :" if mangle == "dup-spaced" else ":"
            text = text[:-1] + f', "{key}"{sep} {json.dumps(rec[key])}}}'
    return text.encode()


@pytest.mark.parametrize("name", sorted(OTHER_SCHEMAS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(lines=st.lists(other_lines(), min_size=1, max_size=30))
def test_other_schemas_match_reference(tmp_path_factory, name, lines):
    path = tmp_path_factory.mktemp("schema") / "schema.json"
    path.write_text(json.dumps(OTHER_SCHEMAS[name]))
    assert_same_as_reference(load_schema(path), lines)


@pytest.mark.parametrize("typed", [True, False])
def test_bulk_path_decides_valid_article_records(typed):
    lines = [json.dumps(good_record(i)).encode() for i in range(50)]
    engine = Engine(load_schema(), typed=typed)
    assert (engine.typed is not None) == typed  # the article schema takes the typed decoder
    outcome, failures = engine_verdicts(engine, lines)
    assert not failures
    assert outcome.stats["bulk"] == 50 and outcome.stats["reference"] == 0


def test_typed_decoding_is_taken_only_where_it_is_exact(tmp_path):
    def typed_for(doc) -> bool:
        path = tmp_path / "s.json"
        path.write_text(json.dumps(doc))
        return Engine(load_schema(path)).typed is not None

    assert typed_for(OTHER_SCHEMAS["flat, typed decoding"])
    assert not typed_for(OTHER_SCHEMAS["open object with booleans and enums"])  # unknown fields allowed
    assert not typed_for(OTHER_SCHEMAS["logic"])  # "e" admits null
    assert not typed_for(OTHER_SCHEMAS["uncompilable parts"])


def test_a_duplicate_key_is_never_valid_on_the_typed_path():
    good = good_record(1)
    body = json.dumps(good)[:-1]
    lines = [(body + ', "title": "Autre"}').encode(), (body + ', "title"\t : "Autre"}').encode(),
             (body + ', "\\u0074itle": "Autre"}').encode(), json.dumps(good).encode()]
    engine = Engine(load_schema())
    assert engine.typed is not None
    outcome, failures = engine_verdicts(engine, lines)
    assert sorted(failures) == [1, 2, 3]
    assert all("duplicate key 'title'" in f.problems[0].message for f in failures.values())


def test_worker_processes_give_the_same_report_with_the_same_line_numbers(tmp_path, generated_lines):
    path = tmp_path / "batch.jsonl"
    path.write_bytes(b"\n".join(generated_lines) + b"\n")
    engine = Engine(load_schema())
    source = InputFile(str(path), path)

    def failures(jobs: int) -> list[tuple[int, list]]:
        out = []
        for outcome in engine.run([source], jobs=jobs, block_bytes=64 << 10):
            out += [(f.line, f.problems) for f in outcome.failures]
        return out

    serial, parallel = failures(1), failures(2)
    assert serial == parallel
    reference = ReferenceValidator(load_schema().document)
    expected = [(i, v.problems) for i, raw in enumerate(generated_lines, 1) if not (v := reference.check(raw)).valid]
    assert serial == expected


def test_small_stream_chunks_take_the_fallback_paths_and_stay_exact(tmp_path, monkeypatch):
    """A member first seen after Arrow's first chunk makes the streaming reader fail without a row
    number; the engine then parses that region on its own (`_parse_exact`). Tiny chunks force it."""
    import toolkit.validate.engine as engine_module

    monkeypatch.setattr(engine_module, "STREAM_CHUNK_BYTES", 256)
    monkeypatch.setattr(engine_module, "PARSE_SLICE_BYTES", 300)
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(OTHER_SCHEMAS["open object with booleans and enums"]))
    lines = [json.dumps({"name": f"n{i % 9}", "kind": "a"}).encode() for i in range(60)]
    lines[25] = json.dumps({"name": "late", "extra": {"nested": [1, 2]}}).encode()  # new member, late
    lines[40] = json.dumps({"name": "x", "ok": "not a boolean"}).encode()  # a row Arrow rejects
    lines[50] = json.dumps({"name": "abc", "tags": ["Z"]}).encode()  # invalid by its pattern
    schema = load_schema(path)
    outcome, failures = engine_verdicts(Engine(schema), lines)
    assert outcome.stats["reparses"] >= 2
    assert sorted(failures) == [41, 51]
    assert outcome.stats["bulk"] == 58  # every valid line, the late member's region included
    assert_same_as_reference(schema, lines)


def test_flat_schema_quirks_are_decided_in_bulk_exactly(tmp_path):
    """Python-regex and code-point edge cases, through msgspec's constraints and the residual checks."""
    import random

    path = tmp_path / "schema.json"
    path.write_text(json.dumps(OTHER_SCHEMAS["flat, typed decoding"]))
    schema = load_schema(path)
    choices = {
        "k": ["abc", "abc\n", "ab c", "ABC", ""],
        "dd": ["1", "١٢٣", "12345", "x", "\u0661"],
        "w": ["ab", "😀😀", "e\u0301", "a", "abcde", "😀😀😀😀"],
        "bb": [True, False, "true", 1],
        "l": [["a"], ["٣"], [], ["a", "b", "c", "d"], ["-"], [""], ["\\"]],
        "f": ["2021-06-28", "2021-02-29", "2020-02-29", "2021-6-28  ", "2021-06-28\n"],
        "ee": ["a", "b", "c"],
        "nn": ["x", "x y", "x\u3000", "y", "x\n"],
        "u": [["https://x.ma/"], ["https://x.ma/a b"], [], ["mailto:a@b.c"], ["//x"]],
    }
    rng = random.Random(7)
    lines = []
    for _ in range(400):
        rec = {"k": rng.choice(["abc", "abc\n", "x"])}
        for key, values in choices.items():
            if rng.random() < 0.6:
                rec[key] = rng.choice(values) if rng.random() < 0.25 else values[0]
        lines.append(json.dumps(rec, ensure_ascii=rng.random() < 0.5).encode())
    assert_same_as_reference(schema, lines, min_bulk=40)


def test_both_bulk_paths_keep_the_same_valid_rows(generated_lines):
    """`append` writes the kept rows: typed decoding must hand over exactly what the Arrow path does."""
    lines = generated_lines[:400]
    tables = []
    for typed in (True, False):
        engine = Engine(load_schema(), keep_rows=True, typed=typed)
        outcome, _ = engine_verdicts(engine, lines)
        tables.append(outcome.valid_rows)
    assert tables[0].num_rows > 300
    assert tables[0].schema == tables[1].schema
    assert tables[0].to_pylist() == tables[1].to_pylist()
