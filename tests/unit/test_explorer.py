"""The GraphiQL explorer's example operations stay valid against the schema."""

from __future__ import annotations

import json

import pytest
from graphql import parse, validate

from graph.explorer import EXAMPLES, explorer_html
from graph.schema import PublicSchema


@pytest.mark.parametrize(("name", "query"), [(name, query) for name, query, _ in EXAMPLES])
def test_every_example_operation_validates_against_the_public_schema(name: str, query: str) -> None:
    errors = validate(PublicSchema()._schema, parse(query))
    assert errors == [], f"{name}: {errors}"


def test_the_explorer_page_carries_every_example_as_a_tab() -> None:
    html = explorer_html()
    start = html.index("const EXAMPLE_TABS = ") + len("const EXAMPLE_TABS = ")
    tabs = json.loads(html[start : html.index(";\n", start)])
    assert [t["query"] for t in tabs] == [q for _, q, _ in EXAMPLES]
    assert all("Authorization" in t["headers"] for t in tabs)
