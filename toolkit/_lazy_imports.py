"""Defer the import of `rfc3987_syntax` until an `iri` format is actually checked.

jsonschema's format-nongpl extras import rfc3987_syntax at start-up, and that module compiles
39 Lark grammars on import: about two seconds on every run of every command. This stand-in module
offers the one function jsonschema imports from it and loads the real module on first use, so
verdicts are unchanged and start-up is fast.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

_NAME = "rfc3987_syntax"


def _real() -> types.ModuleType:
    module = sys.modules.get(_NAME)
    if isinstance(module, _LazyModule):
        del sys.modules[_NAME]
        module = importlib.import_module(_NAME)
    return module  # type: ignore[return-value]


class _LazyModule(types.ModuleType):
    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):  # the import system probes __path__ and friends: not a use
            raise AttributeError(attr)
        return getattr(_real(), attr)


def is_valid_syntax(term: str, value: str) -> bool:
    return _real().is_valid_syntax(term, value)


def install() -> None:
    if _NAME in sys.modules or "jsonschema" in sys.modules:
        return
    if importlib.util.find_spec(_NAME) is None:
        return  # not installed: jsonschema's own ImportError path stays as it is
    stub = _LazyModule(_NAME)
    stub.is_valid_syntax = is_valid_syntax  # type: ignore[attr-defined]
    sys.modules[_NAME] = stub
