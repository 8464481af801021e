"""The query cost formula of graph/security/cost.py on the real schemas."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import GraphQLSchema, parse

from graph.schema import PublicSchema, build_subgraphs
from graph.security.cost import CostModel, operation_cost


@pytest.fixture(scope="module")
def public() -> GraphQLSchema:
    return PublicSchema()._schema


@pytest.fixture(scope="module")
def orders_subgraph() -> GraphQLSchema:
    return build_subgraphs()["orders"]._schema


def cost(schema: GraphQLSchema, query: str, variables: dict[str, Any] | None = None) -> int:
    return operation_cost(schema, parse(query), None, variables)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("{ viewer { role } }", 1),
        ("{ __typename }", 0),
        ("{ __schema { types { fields { name } } } }", 0),
        ("{ markets { id } }", 10),  # a list without a size argument: the default list size
        ("{ accounts(first: 3) { nodes { id } } }", 1 + 3 * 1),
        ("{ accounts(first: 3) { edges { cursor node { id } } pageInfo { hasNextPage } } }", 8),
        ("{ accounts { nodes { id } } }", 1 + 50),  # no `first`: the default page size
        ("{ accounts(first: 0) { nodes { id } } }", 1),
        ("{ accounts(first: 100) { nodes { id balances { asset } } } }", 1 + 100 * 11),
        ('{ orderBook(market: "X", depth: 5) { bids { price } asks { price } } }', 11),
        ('{ orderBook(market: "X") { bids { price } } }', 1 + 20),  # the argument's default
    ],
)
def test_the_cost_formula(public: GraphQLSchema, query: str, expected: int) -> None:
    assert cost(public, query) == expected


def test_nested_connections_multiply(public: GraphQLSchema) -> None:
    query = "{ customers(first: 10) { nodes { accounts(first: 20) { nodes { id } } } } }"
    assert cost(public, query) == 1 + 10 * (1 + 1 + 20 * 1)


def test_variables_and_their_defaults_size_the_lists(public: GraphQLSchema) -> None:
    query = "query($n: Int = 7) { accounts(first: $n) { nodes { id } } }"
    assert cost(public, query) == 1 + 7
    assert cost(public, query, {"n": 30}) == 1 + 30
    assert cost(public, query, {"n": None}) == 1 + 50
    assert cost(public, query, {"n": "ten"}) == 1 + 50  # refused later by coercion anyway


def test_fragments_count_like_inline_selections(public: GraphQLSchema) -> None:
    inline = "{ accounts(first: 4) { nodes { id balances { asset } } } }"
    spread = """{ accounts(first: 4) { ...Page } }
        fragment Page on AccountConnection { nodes { ...A } }
        fragment A on Account { id balances { asset } }"""
    assert cost(public, spread) == cost(public, inline) == 1 + 4 * 11


def test_entities_cost_one_subtree_per_representation(orders_subgraph: GraphQLSchema) -> None:
    query = """query($r: [_Any!]!) { _entities(representations: $r) {
        ... on Account { orders(first: 5) { nodes { id } } }
        ... on Order { id market { id } } } }"""
    representations = [{"__typename": "Account", "id": str(n)} for n in range(30)]
    # the most expensive alternative of the union counts: Account's 1 + 1 + 5
    assert cost(orders_subgraph, query, {"r": representations}) == 30 * (1 + 1 + 5)


def test_the_model_defaults_are_configurable(public: GraphQLSchema) -> None:
    model = CostModel(default_list_size=3, default_page_size=5)
    assert operation_cost(public, parse("{ markets { id } }"), model=model) == 3
    assert operation_cost(public, parse("{ accounts { nodes { id } } }"), model=model) == 6


def test_a_fragment_bomb_is_costed_in_linear_time(public: GraphQLSchema) -> None:
    levels = 40  # 2**40 expansions if fragments were re-walked every time
    doubling = [f"fragment F{n} on Query {{ ...F{n + 1} ...F{n + 1} }}" for n in range(levels)]
    leaf = f"fragment F{levels} on Query {{ viewer {{ role }} }}"
    query = "{ ...F0 } " + " ".join([*doubling, leaf])
    assert cost(public, query) == 2**levels


def test_the_cost_cache_keys_on_the_text_and_the_page_size_variables(public: GraphQLSchema) -> None:
    from graph.security.cost import CostCache

    text = "query($n: Int = 7) { accounts(first: $n) { nodes { id } } }"
    document, cache, model = parse(text), CostCache(), CostModel()

    def cached(variables: dict[str, Any]) -> int:
        return cache.cost(public, document, text, None, variables, model)

    for variables in ({"n": 3}, {"n": 40}, {}, {"n": None}, {"n": 3}, {}):
        assert cached(variables) == operation_cost(public, document, None, variables)
    assert cached({"n": 3}) == 1 + 3 and cached({}) == 1 + 7 and cached({"n": None}) == 1 + 50
    other = "{ markets { id } }"
    assert cache.cost(public, parse(other), other, None, {"n": 3}, model) == 10
