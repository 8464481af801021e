"""Document shape limits: field repeats counted as graphql-core collects fields, directives
per location, and walks that end on cycles and unknown fragments."""

from __future__ import annotations

import pytest
from graphql import DocumentNode, parse

from graph.security.document_shape import (
    TOO_MANY_DIRECTIVES,
    TOO_MANY_FIELD_REPEATS,
    ShapeProblem,
    shape_problem,
)


def problem(query: str, repeats: int = 2, directives: int = 2) -> ShapeProblem | None:
    return shape_problem(parse(query), max_field_repeats=repeats, max_directives=directives)


def code(query: str, repeats: int = 2, directives: int = 2) -> str | None:
    found = problem(query, repeats, directives)
    return None if found is None else found.code


def test_repeats_count_fields_inline_fragments_and_spread_fragments() -> None:
    assert code("{ a a }") is None
    assert code("{ a a a }") == TOO_MANY_FIELD_REPEATS
    assert code("{ a ... on Q { a ... on Q { a } } }") == TOO_MANY_FIELD_REPEATS
    assert code("{ a ...F ...G } fragment F on Q { a } fragment G on Q { a }") == (
        TOO_MANY_FIELD_REPEATS
    )


def test_aliases_are_response_keys_of_their_own() -> None:
    assert code("{ x: a y: a z: a }") is None
    assert code("{ x: a x: b x: c }") == TOO_MANY_FIELD_REPEATS


def test_a_fragment_reached_twice_counts_once() -> None:
    diamond = (
        "{ ...A } fragment A on Q { ...B ...C } fragment B on Q { ...D } "
        "fragment C on Q { ...D } fragment D on Q { id }"
    )
    assert code(diamond, repeats=1) is None
    assert code("{ ...F ...F ...F } fragment F on Q { id }", repeats=1) is None


def test_nested_selection_sets_are_checked_each_on_its_own() -> None:
    assert code("{ a { b b } c { b b } }") is None
    assert code("{ a { b { c c c } } }") == TOO_MANY_FIELD_REPEATS
    assert code("{ ...F } fragment F on Q { a { b b b } }") == TOO_MANY_FIELD_REPEATS


def test_cycles_and_unknown_fragments_end_the_walk() -> None:
    assert code("{ ...F } fragment F on Q { a ...G } fragment G on Q { ...F }") is None
    assert code("{ ...Missing a }") is None


def test_directives_are_counted_on_every_kind_of_location() -> None:
    assert code("{ a @x @y }") is None
    for query in (
        "{ a @x @y @z }",
        "query Q @x @y @z { a }",
        "query Q($v: Int @x @y @z) { a }",
        "{ ...F @x @y @z } fragment F on Q { a }",
        "{ ... on Q @x @y @z { a } }",
        "{ ... on Q { a @x @y @z } }",
        "{ a } fragment F on Q @x @y @z { a }",
        "{ a { b @x @y @z } }",
    ):
        assert code(query) == TOO_MANY_DIRECTIVES, query


def test_the_problem_names_the_key_and_the_limit() -> None:
    found = problem("{ viewer viewer viewer }")
    assert found is not None and "'viewer'" in found.message
    assert found.details == {"maxFieldRepeats": 2}


def test_the_shape_verdict_is_computed_once_per_document_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from graph.security import query_limits

    walks: list[object] = []
    real = shape_problem

    def counting(
        document: DocumentNode, *, max_field_repeats: int, max_directives: int
    ) -> ShapeProblem | None:
        walks.append(document)
        return real(document, max_field_repeats=max_field_repeats, max_directives=max_directives)

    monkeypatch.setattr(query_limits, "shape_problem", counting)
    cache = query_limits.ShapeCache(max_documents=2)
    text = "{ a a a }"
    for _ in range(3):
        found = cache.problem(text, parse(text), max_field_repeats=2, max_directives=5)
        assert found is not None and found.code == "TOO_MANY_FIELD_REPEATS"
    assert len(walks) == 1
    for other in ("{ b }", "{ c }", text):  # the oldest is evicted beyond max_documents
        cache.problem(other, parse(other), max_field_repeats=2, max_directives=5)
    assert len(walks) == 4
