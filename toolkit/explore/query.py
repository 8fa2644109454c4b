"""The query language (docs/query-language.md). It lives in toolkit.search, which ranked search
shares; toolkit.explore counts with it (words side by side: AND)."""

from toolkit.search.syntax import And, Not, Or, Query, QueryError, Word, parse_query

__all__ = ["And", "Not", "Or", "Query", "QueryError", "Word", "parse_query"]
