"""CAAS_GRAPHIQL=off and CAAS_INTROSPECTION=off close the explorer and introspection on the
composed graph and on every subgraph; federation's `_service` still answers a gateway.
(Both are on by default: tests/e2e/test_errors.py serves the explorer, the interop tests
introspect.)
"""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from graph.settings import Settings
from tests.graphql_client import error_codes

pytestmark = [pytest.mark.e2e, pytest.mark.store]

ENDPOINTS = ["/graphql", "/subgraphs/accounts/graphql", "/subgraphs/orders/graphql"]


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(
        mongodb_db=f"test_{uuid.uuid4().hex[:12]}",
        data_dir=Path("x"),
        graphiql=False,
        introspection=False,
    )


def test_the_switches_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings.from_env().graphiql and Settings.from_env().introspection
    monkeypatch.setenv("CAAS_GRAPHIQL", "off")
    monkeypatch.setenv("CAAS_INTROSPECTION", "false")
    assert not Settings.from_env().graphiql and not Settings.from_env().introspection


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_no_explorer_page_when_graphiql_is_off(http: httpx.AsyncClient, path: str) -> None:
    page = await http.get(path, headers={"accept": "text/html"})
    assert page.status_code == 404 and "graphiql" not in page.text.lower()
    assert page.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_introspection_is_a_validation_error_when_off(
    http: httpx.AsyncClient, path: str
) -> None:
    response = await http.post(path, json={"query": "{ __schema { queryType { name } } }"})
    body = response.json()
    assert "data" not in body and set(error_codes(body)) == {"VALIDATION"}
    assert "introspection" in body["errors"][0]["message"]
    typename = await http.post(path, json={"query": "{ __typename }"})
    assert typename.json() == {"data": {"__typename": "Query"}}


async def test_a_gateway_still_reads_a_subgraph_sdl_when_introspection_is_off(
    http: httpx.AsyncClient,
) -> None:
    response = await http.post("/subgraphs/orders/graphql", json={"query": "{ _service { sdl } }"})
    assert "type Order" in response.json()["data"]["_service"]["sdl"]
