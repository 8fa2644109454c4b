"""The reference verdict for one line: strict JSON parsing, then python-jsonschema with formats asserted.

This is the semantics every faster path must reproduce. It is also what words the errors of lines
the bulk path found invalid, so messages always come from python-jsonschema.

Line parsing is JSON as RFC 8259 and I-JSON mean it: NaN and Infinity, lone surrogates and duplicate
keys are errors, although Python's `json` module would let them through.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from toolkit.validate.compile import ROOT_KEYWORDS


@dataclass(frozen=True)
class Problem:
    """One error in one record: a JSON Pointer into the record, the schema keyword, a message."""

    path: str
    keyword: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "keyword": self.keyword, "message": self.message}


class BadLine(ValueError):
    """The line is not one JSON value in UTF-8; `keyword` is "encoding" or "json"."""

    def __init__(self, keyword: str, message: str) -> None:
        super().__init__(message)
        self.problem = Problem(path="", keyword=keyword, message=message)


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abAB]", re.ASCII)
_ID_IN_RAW = re.compile(rb'"id"\s*:\s*"([^"\\]{1,128})"')


def _reject_constant(name: str) -> Any:
    raise BadLine("json", f"{name} is not valid JSON (JSON has no NaN or Infinity); write null or a number")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise BadLine("json", f"duplicate key {key!r} in one object; keep one of them")
            seen.add(key)
    return obj


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


def parse_line(raw: bytes) -> Any:
    """Parse one line (without its newline) or raise BadLine saying what is wrong and where."""
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadLine(
            "encoding",
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); re-encode the file as UTF-8",
        ) from None
    if not text.strip():
        raise BadLine("json", "empty line; every line must hold one JSON record")
    try:
        value = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)
    except BadLine:
        raise
    except json.JSONDecodeError as exc:
        stripped = text.rstrip()
        truncated = stripped[:1] in "{[" and not stripped.endswith(("}", "]"))
        hint = "the line looks truncated" if truncated else "fix the JSON syntax"
        raise BadLine("json", f"not valid JSON ({exc.msg}, column {exc.colno}); {hint}") from None
    except RecursionError:
        raise BadLine("json", "not valid JSON: nested too deeply") from None
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(value):
        raise BadLine("json", "a \\u escape encodes a lone surrogate, which is not valid Unicode")
    return value


def json_pointer(parts) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _shorten(message: str, instance: Any) -> str:
    """python-jsonschema quotes whole values; a 3 kB article body does not help anyone."""
    if isinstance(instance, (str, list, dict)):
        full = repr(instance)
        if len(full) > 80 and full in message:
            message = message.replace(full, full[:60] + "…" + full[-10:])
    return message


def guess_id(raw: bytes) -> str | None:
    """The id of a line that could not be parsed, when it is still legible (truncated lines)."""
    match = _ID_IN_RAW.search(raw)
    if match is None:
        return None
    try:
        return match.group(1).decode("utf-8")
    except UnicodeDecodeError:
        return None


@dataclass
class Verdict:
    """The reference's verdict on one line: the parsed record when valid, otherwise its problems."""

    record: Any
    record_id: str | None
    problems: list[Problem]

    @property
    def valid(self) -> bool:
        return not self.problems


class ReferenceValidator:
    """python-jsonschema's Draft 2020-12 validator with its FORMAT_CHECKER, applied per line."""

    def __init__(self, schema: dict[str, Any]) -> None:
        checker = Draft202012Validator.FORMAT_CHECKER
        self.validator = Draft202012Validator(schema, format_checker=checker)
        props = schema.get("properties") if isinstance(schema, dict) else None
        self._light = None
        self._simple_root: tuple[list[str], frozenset[str] | None] | None = None
        if isinstance(props, dict):
            # The same root with every property schema replaced by `true`: it reports the
            # root-level errors (type, required, additionalProperties, ...) cheaply.
            keys = list(schema)
            self._before_properties = set(keys[: keys.index("properties")])
            self._light = Draft202012Validator({**schema, "properties": dict.fromkeys(props, True)},
                                               format_checker=checker)
            self._property_schemas = props
            # A root with nothing but the compiler's root keywords fails only by type, required or
            # additionalProperties.
            additional = schema.get("additionalProperties", True)
            required = schema.get("required", [])
            if set(schema) <= ROOT_KEYWORDS and schema.get("type", "object") == "object" \
                    and isinstance(additional, bool) and isinstance(required, list):
                self._simple_root = (list(required), None if additional else frozenset(props))
            self._property_validators: dict[str, Draft202012Validator] = {}

    def problems(self, record: Any, properties: set[str] | None = None) -> list[Problem]:
        """Every error of `record`, in python-jsonschema's order.

        With `properties`, the caller knows (from exact column checks) that every other property
        is valid, so only these are descended into; the errors are the same, found faster.
        """
        if properties is None or self._light is None or not isinstance(record, dict):
            return [self._problem(e) for e in self.validator.iter_errors(record)]
        root = [] if self._root_cannot_fail(record) else list(self._light.iter_errors(record))
        out = [self._problem(e) for e in root if e.validator in self._before_properties]
        for name in self._property_schemas:
            if name in properties and name in record:
                validator = self._property_validators.get(name)
                if validator is None:
                    validator = self._property_validators[name] = Draft202012Validator(
                        self._property_schemas[name], format_checker=Draft202012Validator.FORMAT_CHECKER
                    )
                for error in validator.iter_errors(record[name]):
                    problem = self._problem(error)
                    out.append(Problem(json_pointer([name, *error.absolute_path]), problem.keyword,
                                       problem.message))
        out += [self._problem(e) for e in root if e.validator not in self._before_properties]
        return out

    def _root_cannot_fail(self, record: dict[str, Any]) -> bool:
        """True when the root's own keywords (type, required, additionalProperties) surely pass, so
        the light validator, which still walks every property, can be skipped."""
        if self._simple_root is None:
            return False
        required, known = self._simple_root
        return all(name in record for name in required) and (known is None or record.keys() <= known)

    @staticmethod
    def _problem(error: ValidationError) -> Problem:
        return Problem(
            path=json_pointer(error.absolute_path),
            keyword=str(error.validator),
            message=_shorten(error.message, error.instance),
        )

    def check(self, raw: bytes, properties: set[str] | None = None) -> Verdict:
        """The verdict on one line; `properties` as in `problems`."""
        try:
            record = parse_line(raw)
        except BadLine as bad:
            return Verdict(None, guess_id(raw), [bad.problem])
        return self.judge(record, properties)

    def judge(self, record: Any, properties: set[str] | None = None) -> Verdict:
        """The verdict on a record already parsed by `parse_line`."""
        record_id = record.get("id") if isinstance(record, dict) else None
        try:
            problems = self.problems(record, properties)
        except RecursionError:  # a recursive schema ($ref to "#") and a record nested hundreds deep
            problems = [Problem("", "depth", "nested too deeply to be checked against a recursive schema; "
                                             "such a record cannot be validated")]
        return Verdict(record, record_id if isinstance(record_id, str) else None, problems)
