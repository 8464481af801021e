"""The GraphiQL explorer's example operations stay valid against the schema."""

from __future__ import annotations

import json

import pytest
from graphql import parse, validate

from graph.http.explorer import EXAMPLES, explorer_html
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


def test_the_explorer_loads_no_third_party_script_and_the_vendored_files_match_their_hashes() -> (
    None
):
    import base64
    import hashlib
    import re
    from pathlib import Path

    html = explorer_html()
    assert "unpkg.com" not in html and "https://" not in html.split("<script>")[0]
    vendor = Path(__file__).resolve().parents[2] / "graph" / "static" / "vendor"
    pairs = re.findall(
        r'(?:src|href)="/static/graphiql/([^"]+)"\s+integrity="(sha384-[^"]+)"', html
    )
    assert len(pairs) == 7
    for name, integrity in pairs:
        digest = hashlib.sha384((vendor / name).read_bytes()).digest()
        assert integrity == "sha384-" + base64.b64encode(digest).decode(), name
