"""Our subgraphs compose with @theguild/federation-composition, into the graph we serve."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from graphql import get_introspection_query

from tests.interop.conftest import REPO, REPORT, SUBGRAPH_NAMES, Servers, compose

pytestmark = [
    pytest.mark.interop,
    pytest.mark.e2e,
    pytest.mark.store,
    pytest.mark.redis,
    pytest.mark.slow,
]

INTROSPECTION = get_introspection_query(
    descriptions=True,
    specified_by_url=True,
    directive_is_repeatable=True,
    input_value_deprecation=True,
)

# A second subgraph that redefines a field of ours with another type.
CONFLICTING_SDL = """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.9",
                    import: ["@key", "@shareable"])

type Account @key(fields: "id") {
  id: ID!
  kind: Int! @shareable
}

type Query {
  legacyAccount(id: ID!): Account @shareable
}
"""


@pytest.fixture(scope="module")
def composition(node: str, servers: Servers, subgraph_sdls: dict[str, str]) -> dict[str, Any]:
    """The live subgraph SDLs composed, compared with /graphql and schema.graphql."""
    with httpx.Client(timeout=30) as client:
        served = client.post(servers.composed_graphql, json={"query": INTROSPECTION})
    served.raise_for_status()
    result = compose(
        node,
        {n: (servers.subgraph_graphql(n), sdl) for n, sdl in subgraph_sdls.items()},
        compare={
            "served /graphql": {"introspection": served.json()["data"]},
            "schema.graphql": {"sdl": (REPO / "schema.graphql").read_text()},
        },
    )
    REPORT["composition_ms"] = round(result["ms"], 1)
    return result


def test_every_subgraph_sdl_composes_without_errors(composition: dict[str, Any]) -> None:
    assert composition["errors"] == []
    assert composition["ok"]
    for name in SUBGRAPH_NAMES:
        assert f'@join__graph(name: "{name}"' in composition["supergraphSdl"]
    # Composition is well under a second; a sudden slowdown deserves a look.
    assert composition["ms"] < 10_000


def test_the_composed_public_api_equals_the_schema_served_at_graphql(
    composition: dict[str, Any],
) -> None:
    served = composition["compared"]["served /graphql"]
    assert served["equal"], _first_difference(composition["publicSdl"], served["sdl"])


def test_the_composed_public_api_equals_the_committed_schema_graphql(
    composition: dict[str, Any],
) -> None:
    committed = composition["compared"]["schema.graphql"]
    assert committed["equal"], _first_difference(composition["publicSdl"], committed["sdl"])


def test_each_process_serves_the_committed_subgraph_sdl(subgraph_sdls: dict[str, str]) -> None:
    for name, sdl in subgraph_sdls.items():
        committed = (REPO / "graph" / "sdl" / f"{name}.graphql").read_text()
        assert sdl.strip() == committed.strip(), f"{name}: run `make schema`"


def test_a_field_redefined_with_a_conflicting_type_fails_composition(
    node: str, subgraph_sdls: dict[str, str]
) -> None:
    subgraphs = {n: (f"http://127.0.0.1:1/{n}", sdl) for n, sdl in subgraph_sdls.items()}
    subgraphs["legacy"] = ("http://127.0.0.1:1/legacy", CONFLICTING_SDL)
    result = compose(node, subgraphs)
    assert not result["ok"]
    codes = {error["code"] for error in result["errors"]}
    assert codes & {"FIELD_TYPE_MISMATCH", "INVALID_FIELD_SHARING"}, result["errors"]
    assert any("Account.kind" in error["message"] for error in result["errors"])


def test_a_federation_version_the_composer_does_not_know_fails_composition(
    node: str, subgraph_sdls: dict[str, str]
) -> None:
    """strawberry's default, v2.11, is newer than the composer's v2.9 (design.md §8)."""
    orders = subgraph_sdls["orders"].replace("federation/v2.9", "federation/v2.11")
    assert orders != subgraph_sdls["orders"]
    subgraphs = {n: (f"http://127.0.0.1:1/{n}", sdl) for n, sdl in subgraph_sdls.items()}
    subgraphs["orders"] = (subgraphs["orders"][0], orders)
    result = compose(node, subgraphs)
    assert not result["ok"]
    assert result["errors"]


def _first_difference(expected: str, actual: str) -> str:
    for number, (left, right) in enumerate(
        zip(expected.splitlines(), actual.splitlines(), strict=False), start=1
    ):
        if left != right:
            return f"line {number}: composed {left!r} != served {right!r}"
    return f"lengths differ: {len(expected.splitlines())} vs {len(actual.splitlines())} lines"
