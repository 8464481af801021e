"""A tiny GraphQL-over-HTTP helper for tests."""

from __future__ import annotations

from typing import Any

import httpx

from graph.ops.seed import DemoKey


async def gql(
    http: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    key: DemoKey | None = None,
    path: str = "/graphql",
) -> dict[str, Any]:
    """POST a query; return the JSON body (data and errors)."""
    headers = {"authorization": f"Bearer {key.token}"} if key else {}
    response = await http.post(
        path, json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def error_codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors") or []]
