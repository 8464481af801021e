"""graphql-http's server audits (GraphQL over HTTP) against /graphql and every subgraph."""

from __future__ import annotations

from typing import Any

import pytest

from tests.interop.conftest import REPORT, SUBGRAPH_NAMES, Servers, run_node

pytestmark = [
    pytest.mark.interop,
    pytest.mark.e2e,
    pytest.mark.store,
    pytest.mark.redis,
    pytest.mark.slow,
]

ENDPOINTS = ["/graphql", *(f"/subgraphs/{name}/graphql" for name in SUBGRAPH_NAMES)]


@pytest.fixture(scope="module")
def audits(node: str, servers: Servers) -> dict[str, Any]:
    """Every endpoint audited in one run of audit.mjs, by path."""
    urls = [f"{servers.composed}{path}" for path in ENDPOINTS]
    report: dict[str, Any] = run_node(node, "audit.mjs", *urls, timeout_s=120)
    by_path = {path: report[f"{servers.composed}{path}"] for path in ENDPOINTS}
    REPORT["graphql_http_audits"] = {path: r["counts"] for path, r in by_path.items()}
    return by_path


@pytest.mark.parametrize("path", ENDPOINTS)
def test_no_must_fails_and_no_should_warns(path: str, audits: dict[str, Any]) -> None:
    result = audits[path]
    failures = [f for f in result["failures"] if f["name"].startswith(("MUST", "SHOULD"))]
    assert failures == [], failures
    counts = result["counts"]
    assert counts["MUST"]["fail"] == 0 and counts["SHOULD"]["fail"] == 0
    assert counts["MUST"]["ok"] > 0 and counts["SHOULD"]["ok"] > 0
