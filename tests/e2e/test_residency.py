"""Data residency through the graph: a tenant's region is set at creation, must be one this
deployment serves, is shown on Tenant, and moves only when an operator says its data was
migrated."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from domains.accounts.residency import DataRegion
from graph.ops.seed import DemoKey
from graph.settings import RecordsSettings, Settings
from tests.graphql_client import error_codes, gql

pytestmark = [pytest.mark.e2e, pytest.mark.store]

CREATE = """mutation($n: String!, $r: DataRegion) { createTenant(input: {name: $n,
  jurisdiction: "CH", brand: {displayName: $n}, dataRegion: $r}) { id dataRegion } }"""
MOVE = """mutation($t: ID!, $r: DataRegion!, $m: Boolean!) { setTenantDataRegion(tenant: $t,
  region: $r, dataMigrated: $m) { id dataRegion } }"""
TENANTS = "{ tenants(first: 200) { nodes { id name dataRegion } } }"


@pytest.fixture(scope="module")
def settings() -> Settings:
    """A deployment serving CH and the EU only (CH first: the default region)."""
    records = RecordsSettings(data_regions=(DataRegion.CH, DataRegion.EU))
    return Settings(mongodb_db=f"test_{uuid.uuid4().hex[:12]}", data_dir=Path("unused"),
                    records=records)  # fmt: skip


async def _tenants(http: httpx.AsyncClient, operator: DemoKey) -> list[dict[str, Any]]:
    body = await gql(http, TENANTS, key=operator)
    assert not body.get("errors"), body
    nodes: list[dict[str, Any]] = body["data"]["tenants"]["nodes"]
    return nodes


async def test_a_tenant_gets_a_served_region_and_others_are_refused(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    operator = demo_keys["operator"]
    before = await _tenants(http, operator)
    assert {t["dataRegion"] for t in before} == {"CH"}  # the demo tenant: the default
    refused = await gql(http, CREATE, {"n": "Yankee Bank", "r": "US"}, key=operator)
    assert error_codes(refused) == ["REGION_NOT_SERVED"]
    assert refused["errors"][0]["extensions"]["served"] == ["CH", "EU"]
    assert len(await _tenants(http, operator)) == len(before)  # nothing was created
    made = await gql(http, CREATE, {"n": "Euro Bank", "r": "EU"}, key=operator)
    assert made["data"]["createTenant"]["dataRegion"] == "EU", made
    default = await gql(http, CREATE, {"n": "Alpine Bank", "r": None}, key=operator)
    assert default["data"]["createTenant"]["dataRegion"] == "CH", default
    bad = await gql(http, CREATE, {"n": "Moon Bank", "r": "MOON"}, key=operator)
    assert error_codes(bad) == ["VALIDATION"] or bad["errors"], bad


async def test_the_region_moves_only_after_a_migration_and_only_by_operators(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    operator = demo_keys["operator"]
    made = await gql(http, CREATE, {"n": "Moving Bank", "r": "CH"}, key=operator)
    tenant = made["data"]["createTenant"]["id"]
    unmigrated = await gql(http, MOVE, {"t": tenant, "r": "EU", "m": False}, key=operator)
    assert error_codes(unmigrated) == ["DATA_MIGRATION_REQUIRED"]
    unserved = await gql(http, MOVE, {"t": tenant, "r": "SG", "m": True}, key=operator)
    assert error_codes(unserved) == ["REGION_NOT_SERVED"]
    for role in ("tenant_admin", "compliance"):
        forbidden = await gql(http, MOVE, {"t": tenant, "r": "EU", "m": True},
                              key=demo_keys[role])  # fmt: skip
        assert error_codes(forbidden) == ["FORBIDDEN"], role
    regions = {t["id"]: t["dataRegion"] for t in await _tenants(http, operator)}
    assert regions[tenant] == "CH"  # none of the refusals changed it
    moved = await gql(http, MOVE, {"t": tenant, "r": "EU", "m": True}, key=operator)
    assert moved["data"]["setTenantDataRegion"] == {"id": tenant, "dataRegion": "EU"}, moved
    missing = await gql(http, MOVE, {"t": "ten_nope", "r": "EU", "m": True}, key=operator)
    assert error_codes(missing) == ["NOT_FOUND"]


SANDBOX = """mutation($n: String!, $r: DataRegion) { createTenant(input: {name: $n,
  jurisdiction: "CH", brand: {displayName: $n}, dataRegion: $r, sandbox: true}) {
  id dataRegion } }"""
PROMOTE = "mutation($t: ID!) { promoteTenant(tenant: $t) { live { id dataRegion } } }"


async def test_a_sandbox_and_the_tenant_promoted_from_it_keep_the_region_asked_for(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    operator = demo_keys["operator"]
    refused = await gql(http, SANDBOX, {"n": "Pilot US", "r": "US"}, key=operator)
    assert error_codes(refused) == ["REGION_NOT_SERVED"]
    made = await gql(http, SANDBOX, {"n": "Pilot EU", "r": "EU"}, key=operator)
    assert made["data"]["createTenant"]["dataRegion"] == "EU", made
    promoted = await gql(http, PROMOTE, {"t": made["data"]["createTenant"]["id"]}, key=operator)
    assert promoted["data"]["promoteTenant"]["live"]["dataRegion"] == "EU", promoted
