"""Quoting for the few places SQL text must hold a value (view definitions, LOAD, COPY TO).

Everything a user types at query time (search terms, names, dates) is passed as a prepared-statement
parameter instead; these two functions are for values DuckDB does not accept as parameters.
"""

from __future__ import annotations


def literal(value: str) -> str:
    """A SQL string literal: single quotes doubled, so the value can never end the string early."""
    if "\x00" in value:
        raise ValueError("a SQL string cannot hold a NUL character")
    return "'" + value.replace("'", "''") + "'"


def identifier(name: str) -> str:
    """A quoted SQL identifier: double quotes doubled."""
    if "\x00" in name:
        raise ValueError("a SQL identifier cannot hold a NUL character")
    return '"' + name.replace('"', '""') + '"'


def string_list(values: list[str]) -> str:
    """A SQL list of string literals, e.g. ['a', 'b'] for read_parquet."""
    return "[" + ", ".join(literal(v) for v in values) + "]"
