"""The query language of `search`, `attention`, `outlets` and the explore page (docs/query-language.md).

    >>> parse_query('Bourita AND (Blinken OR "Antony Blinken") NOT title:sport')  # doctest: +SKIP

Words, "exact phrases", AND, OR, NOT (operators in capitals; lower-case `and` is a word), parentheses,
and the fields `title:` and `source:`. Words side by side must all match (AND) when counting, as
researchers expect; ranked search (`default="OR"`) lets any of them match and ranks articles with
more of them first, the excluded (NOT) ones excluded either way. The parser is our own rather than
tantivy's `Index.parse_query` so that an error says where it is (one line, with the character
position) and so that each word goes through the analyzer of each language group's index (stemming,
folding) exactly as the articles did.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Union

import tantivy

from toolkit.core.errors import NewsarchiveError
from toolkit.search import analysis

FIELDS = ("title", "source")
OPERATORS = ("AND", "OR", "NOT")
MAX_QUERY_CHARS = 10_000


class QueryError(NewsarchiveError):
    """A malformed query: one line naming the problem and its position (1-based), exit code 2."""

    def __init__(self, message: str, position: int, query: str = "") -> None:
        self.reason = message
        self.position = position
        self.query = query
        shown = query if len(query) <= 80 else query[:79] + "…"
        super().__init__(f"query {shown!r}, at character {position + 1}: {message}")


# --- the tree ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Word:
    """A word or an "exact phrase" (`phrase`), in the article's body or its title, or an outlet's name."""

    text: str
    field: str | None = None  # None (title and text), "title" or "source"
    phrase: bool = False
    position: int = 0


@dataclass(frozen=True)
class And:
    """Every part must match; with `any` (words side by side in ranked search) any positive part may,
    the NOT parts are excluded either way."""

    parts: tuple[Node, ...]
    any: bool = False


@dataclass(frozen=True)
class Or:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    part: Node


Node = Union[Word, "And", "Or", Not]  # noqa: UP007 (a runtime alias, for readers)


@dataclass(frozen=True)
class Query:
    """A parsed query: its text and its tree."""

    text: str
    root: Word | And | Or | Not
    note: str | None = None  # lenient parsing: why the text was taken as plain words

    def words(self) -> list[Word]:
        """The words and phrases that must or may match (not those under NOT): for highlighting."""
        found: list[Word] = []

        def walk(node: Word | And | Or | Not) -> None:
            if isinstance(node, Word):
                if node.field != "source":
                    found.append(node)
            elif isinstance(node, (And, Or)):
                for part in node.parts:
                    walk(part)

        walk(self.root)
        return found

    def to_tantivy(self, index: tantivy.Index, group: str) -> tantivy.Query:
        """The query for one language group's index (words analysed by that group's analyzer)."""
        return _compile(self.root, index.schema, group)


# --- tokens --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Token:
    kind: str  # "word", "phrase", "(", ")", "AND", "OR", "NOT", "field"
    text: str
    position: int


_SPECIAL = '()"'


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
        elif char in "()":
            tokens.append(_Token(char, char, i))
            i += 1
        elif char == '"':
            end = text.find('"', i + 1)
            if end < 0:
                raise QueryError('the quote opened here is never closed; add the closing "', i, text)
            tokens.append(_Token("phrase", text[i + 1:end], i))
            i = end + 1
        else:
            start = i
            while i < n and not text[i].isspace() and text[i] not in _SPECIAL:
                i += 1
            word = text[start:i]
            name, colon, rest = word.partition(":")
            if colon and name.lower() in FIELDS and not rest:
                tokens.append(_Token("field", name.lower(), start))
            elif colon and name.lower() in FIELDS:
                tokens.append(_Token("field", name.lower(), start))
                tokens.append(_Token("word", rest, start + len(name) + 1))
            elif word in OPERATORS:
                tokens.append(_Token(word, word, start))
            else:
                tokens.append(_Token("word", word, start))
    return tokens


# --- parsing -------------------------------------------------------------------------------------
class _Parser:
    def __init__(self, text: str, default: str) -> None:
        self.default = default
        self.text = text
        self.tokens = _tokens(text)
        self.i = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def error(self, message: str, position: int | None = None) -> QueryError:
        return QueryError(message, len(self.text) if position is None else position, self.text)

    def parse(self) -> Word | And | Or | Not:
        if not self.tokens:
            raise self.error("the query is empty; type words to count, e.g. Bourita Blinken", 0)
        node = self.or_expr()
        token = self.peek()
        if token is not None:  # only a stray ")" stops an expression early
            raise self.error("this closing parenthesis has no opening one; remove it or add (", token.position)
        return node

    def or_expr(self) -> Word | And | Or | Not:
        parts = [self.side_by_side()]
        while (token := self.peek()) is not None and token.kind == "OR":
            self.take()
            parts.append(self.side_by_side(after=token))
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def side_by_side(self, after: _Token | None = None) -> Word | And | Or | Not:
        """Terms without an operator between them: all required (AND), or any (ranked search)."""
        parts = [self.and_expr(after)]
        while (token := self.peek()) is not None and token.kind not in ("OR", ")"):
            parts.append(self.and_expr(None))
        return parts[0] if len(parts) == 1 else And(tuple(parts), any=self.default == "OR")

    def and_expr(self, after: _Token | None = None) -> Word | And | Or | Not:
        parts = [self.unary(after)]
        while (token := self.peek()) is not None and token.kind == "AND":
            self.take()
            parts.append(self.unary(token))
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def unary(self, after: _Token | None) -> Word | And | Or | Not:
        token = self.peek()
        if token is None or token.kind in ("AND", "OR", ")"):
            where = token.position if token is not None else None
            if after is not None:
                raise self.error(f"{after.text} must be followed by a word, a phrase or (", where)
            if token is not None and token.kind == ")":
                raise self.error("empty parentheses or a stray ); put words inside", where)
            if token is None:
                raise self.error("the query ends too early; finish it with a word", where)
            raise self.error(f"{token.text} cannot start here; put a word before it", where)
        if token.kind == "NOT":
            self.take()
            return Not(self.unary(token))
        return self.primary()

    def primary(self, field: str | None = None) -> Word | And | Or | Not:
        token = self.take()
        if token.kind == "(":
            if (inner := self.peek()) is not None and inner.kind == ")":
                raise self.error("empty parentheses; put words inside or remove them", token.position)
            if inner is None:
                raise self.error("the parenthesis opened here is never closed; add )", token.position)
            node = self.or_expr()
            close = self.peek()
            if close is None or close.kind != ")":
                raise self.error("the parenthesis opened here is never closed; add )", token.position)
            self.take()
            return _with_field(node, field) if field else node
        if token.kind == "field":
            following = self.peek()
            if following is None or following.kind not in ("word", "phrase", "("):
                raise self.error(f"{token.text}: must be followed by a word, a \"phrase\" or (, "
                                 f"e.g. {token.text}:Bourita", token.position)
            if field is not None:
                raise self.error("a field inside a field; write title: or source: once", token.position)
            return self.primary(token.text)
        if token.kind == "phrase":
            if not token.text.strip():
                raise self.error('empty quotes ""; put words between them', token.position)
            return Word(token.text, field, phrase=True, position=token.position)
        return Word(token.text, field, phrase=False, position=token.position)


def _with_field(node: Word | And | Or | Not, field: str) -> Word | And | Or | Not:
    """`title:(a OR b)`: the field applied to every word inside."""
    if isinstance(node, Word):
        return node if node.field else Word(node.text, field, node.phrase, node.position)
    if isinstance(node, Not):
        return Not(_with_field(node.part, field))
    return dataclasses.replace(node, parts=tuple(_with_field(p, field) for p in node.parts))


def parse_query(text: str, default: str = "AND", *, lenient: bool = False) -> Query:
    """Parse a query; a malformed one raises QueryError (one line with the position). `default` is what
    words side by side mean: AND (counting) or OR (ranked search: any, more of them ranks higher).

    `lenient` (ranked search, where any text is a fair question: a title pasted whole, with its
    parentheses and quotes): a malformed query is taken as its plain words, any of them, and
    `Query.note` says why; only a text without any word is refused."""
    if default not in ("AND", "OR"):
        raise ValueError(f"default={default!r}: AND or OR")
    if lenient:
        try:
            return parse_query(text, default)
        except QueryError as exc:
            words = list(dict.fromkeys(analysis.analyzer(None).analyze(analysis.strip_marks_text(text))))
            if not words:
                raise
            return Query(text, And(tuple(Word(w) for w in words), any=True), note=str(exc))
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is {len(text):,} characters long; keep it under {MAX_QUERY_CHARS:,}",
                         MAX_QUERY_CHARS, text)
    root = _Parser(text, default).parse()
    _check_words(root, text)
    return Query(text, root)


def _check_words(node: Word | And | Or | Not, text: str) -> None:
    if isinstance(node, Word):
        if node.field != "source" and not analysis.analyzer(None).analyze(analysis.strip_marks_text(node.text)):
            raise QueryError(f"{node.text!r} has no letters or digits to look for; remove it or quote a real word",
                             node.position, text)
    elif isinstance(node, Not):
        _check_words(node.part, text)
    else:
        for part in node.parts:
            _check_words(part, text)


# --- to tantivy ----------------------------------------------------------------------------------
_FIELD_OF = {None: "body", "title": "title_words"}


def _compile(node: Word | And | Or | Not, schema: tantivy.Schema, group: str) -> tantivy.Query:
    if isinstance(node, Word):
        if node.field == "source":
            return tantivy.Query.term_query(schema, "source", node.text)
        field = _FIELD_OF[node.field]
        terms = analysis.analyzer(group).analyze(analysis.strip_marks_text(node.text))
        if not terms:  # a word the stemmer of this group reduces to nothing
            return tantivy.Query.empty_query()
        if len(terms) == 1:
            return tantivy.Query.term_query(schema, field, terms[0])
        return tantivy.Query.phrase_query(schema, field, terms)  # "Maroc-US" is a phrase of two words
    if isinstance(node, Not):  # alone (a query of NOT x only): every article but those
        return tantivy.Query.boolean_query([(tantivy.Occur.Must, tantivy.Query.all_query()),
                                            (tantivy.Occur.MustNot, _compile(node.part, schema, group))])
    if isinstance(node, Or):
        return tantivy.Query.boolean_query(
            [(tantivy.Occur.Should, _compile(p, schema, group)) for p in node.parts])
    positives = [p for p in node.parts if not isinstance(p, Not)]
    negatives = [p.part for p in node.parts if isinstance(p, Not)]
    occur = tantivy.Occur.Should if node.any else tantivy.Occur.Must
    clauses = [(occur, _compile(p, schema, group)) for p in positives]
    if not clauses:
        clauses = [(tantivy.Occur.Must, tantivy.Query.all_query())]
    clauses += [(tantivy.Occur.MustNot, _compile(p, schema, group)) for p in negatives]
    return tantivy.Query.boolean_query(clauses)
