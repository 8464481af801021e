"""Tenant configuration over HTTP: who may set fees, listings, routing, warnings and brand,
who may see them, and how product permissions per jurisdiction gate listings.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import httpx
import pytest
import pytest_asyncio
from starlette.applications import Starlette

from domains.accounts.service import AccountsService
from domains.orders.model import MarketKind
from domains.orders.service import OrdersService
from domains.shared.context import Role
from graph.ops.seed import DemoKey
from tests.factories import demo_style_key
from tests.graphql_client import error_codes, gql

pytestmark = [pytest.mark.e2e, pytest.mark.store]

CONFIG = """fragment Config on Tenant {
  feeSchedule { tiers { minVolume30d makerBps takerBps } markupBps }
  listedMarkets
  routingPolicy { mode maxSlippageBps }
  riskWarnings { product text isDefault }
  custodyPolicyId permittedProducts
  configAudit { updatedBy updatedAt }
  brand { displayName primaryColor }
}"""
READ = CONFIG + "query($t: ID!) { tenant(id: $t) { ...Config } }"
SET_FEES = """mutation($in: FeeScheduleInput!, $t: ID) {
  setFeeSchedule(input: $in, tenantId: $t) { feeSchedule { markupBps } } }"""
SET_MARKETS = """mutation($m: [ID!]!, $t: ID) {
  setListedMarkets(marketIds: $m, tenantId: $t) { listedMarkets } }"""
SET_PERMISSIONS = """mutation($j: String!, $p: [Product!]!) {
  setProductPermissions(jurisdiction: $j, products: $p) { jurisdiction products isDefault } }"""
TIERS = {
    "tiers": [
        {"minVolume30d": "0", "makerBps": 10, "takerBps": 20},
        {"minVolume30d": "1000000", "makerBps": 8, "takerBps": 16},
    ],
    "markupBps": 5,
}


class OrdersMarketCatalog:
    """What graph/bootstrap.py is expected to wire: the accounts MarketCatalog over orders."""

    def __init__(self, orders: OrdersService) -> None:
        self._orders = orders

    async def market_kinds(self, market_ids: Sequence[str]) -> dict[str, str]:
        return {m.id: m.kind.value for m in await self._orders.markets_by_ids(market_ids)}


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def accounts(app: Starlette, demo_keys: dict[str, DemoKey]) -> AccountsService:
    """The app's AccountsService with a market catalog (wired here until bootstrap does it)."""
    service: AccountsService = app.state.platform.get(AccountsService)
    if service.config.market_catalog is None:
        service.attach_market_catalog(OrdersMarketCatalog(app.state.platform.get(OrdersService)))
    return service


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def other_admin(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> DemoKey:
    """The TENANT_ADMIN of a second institution."""
    created = await gql(
        http,
        """mutation { createTenant(input: {name: "Rival Bank", jurisdiction: "CH",
             brand: {displayName: "Rival"}}) { id } }""",
        key=demo_keys["operator"],
    )
    tenant_id = created["data"]["createTenant"]["id"]
    return await demo_style_key(app.state.platform, Role.TENANT_ADMIN, tenant_id)


async def _config(http: httpx.AsyncClient, key: DemoKey, tenant_id: str | None) -> Any:
    body = await gql(http, READ, {"t": tenant_id}, key=key)
    assert "errors" not in body, body
    return body["data"]["tenant"]


async def test_a_tenant_admin_sets_and_reads_its_configuration(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey], accounts: AccountsService
) -> None:
    admin = demo_keys["tenant_admin"]
    for query, variables in (
        (SET_FEES, {"in": TIERS}),
        (SET_MARKETS, {"m": ["BTC-USDT", "eth-usdt"]}),
        ("""mutation { setRoutingPolicy(input: {mode: INTERNAL_ONLY, maxSlippageBps: 25})
              { routingPolicy { mode } } }""", {}),
        ("""mutation { setRiskWarning(product: SPOT, text: "Crypto is volatile.")
              { riskWarnings { product } } }""", {}),
        ("""mutation { setBrand(brand: {displayName: "Demo Crypto", primaryColor: "#123456"})
              { brand { displayName } } }""", {}),
    ):  # fmt: skip
        body = await gql(http, query, variables, key=admin)
        assert "errors" not in body, body

    config = await _config(http, admin, admin.tenant_id)
    assert config["feeSchedule"] == TIERS
    assert config["listedMarkets"] == ["BTC-USDT", "ETH-USDT"]
    assert config["routingPolicy"] == {"mode": "INTERNAL_ONLY", "maxSlippageBps": 25}
    warnings = {w["product"]: w for w in config["riskWarnings"]}
    assert warnings["SPOT"] == {
        "product": "SPOT",
        "text": "Crypto is volatile.",
        "isDefault": False,
    }
    assert warnings["PERPETUAL"]["isDefault"] is True
    # the demo seed permits derivatives in CH (Demo Bank lists BTC-USDT-PERP)
    assert config["custodyPolicyId"] is None
    assert config["permittedProducts"] == ["SPOT", "PERPETUAL"]
    assert config["configAudit"]["updatedBy"] == "key_demo_tenant_admin"
    assert config["configAudit"]["updatedAt"].endswith("Z")
    assert config["brand"] == {"displayName": "Demo Crypto", "primaryColor": "#123456"}

    internal = await accounts.tenant_config(str(admin.tenant_id))
    assert internal.fee_schedule.rates_for(Decimal(2_000_000)) == (8, 16)
    assert internal.markup_bps == 5


async def test_a_trader_reads_fees_and_warnings_but_cannot_change_them(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    alice = demo_keys["alice"]
    body = await gql(http, SET_FEES, {"in": TIERS}, key=alice)
    assert error_codes(body) == ["FORBIDDEN"] and body["data"] is None
    config = await _config(http, alice, alice.tenant_id)
    assert len(config["feeSchedule"]["tiers"]) >= 1 and len(config["riskWarnings"]) == 2
    assert config["configAudit"] is None


async def test_another_tenants_admin_can_neither_change_nor_see_the_configuration(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey], other_admin: DemoKey
) -> None:
    demo_tenant = demo_keys["tenant_admin"].tenant_id
    before = await _config(http, demo_keys["tenant_admin"], demo_tenant)
    for query, variables in (
        (SET_FEES, {"in": {"tiers": [{"minVolume30d": "0", "makerBps": 0, "takerBps": 0}]}}),
        (SET_MARKETS, {"m": []}),
        ("""mutation($t: ID) { setBrand(tenantId: $t, brand: {displayName: "Pwned"}) { id } }""",
         {}),
    ):  # fmt: skip
        body = await gql(http, query, {**variables, "t": demo_tenant}, key=other_admin)
        assert error_codes(body) == ["FORBIDDEN"], body
    assert (await gql(http, READ, {"t": demo_tenant}, key=other_admin))["data"]["tenant"] is None
    assert await _config(http, demo_keys["tenant_admin"], demo_tenant) == before


async def test_bad_input_is_a_validation_error_and_changes_nothing(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey], accounts: AccountsService
) -> None:
    admin = demo_keys["tenant_admin"]
    before = await _config(http, admin, admin.tenant_id)
    bad_tiers = {"tiers": [{"minVolume30d": "5", "makerBps": 10, "takerBps": 20}]}
    for query, variables in (
        (SET_FEES, {"in": bad_tiers}),
        (SET_FEES, {"in": {**TIERS, "markupBps": 501}}),
        (SET_FEES, {"in": {"tiers": [{"minVolume30d": 0, "makerBps": 1, "takerBps": 2}]}}),
        (SET_MARKETS, {"m": ["BTC-USDT", "NOPE-USDT"]}),
        ("""mutation { setRoutingPolicy(input: {mode: EXTERNAL_ONLY, maxSlippageBps: 5000})
              { id } }""", {}),
        ("""mutation { setBrand(brand: {displayName: "X", logoUrl: "http://x.example/l.png"})
              { id } }""", {}),
    ):  # fmt: skip
        body = await gql(http, query, variables, key=admin)
        assert error_codes(body) == ["VALIDATION"], body
    assert await _config(http, admin, admin.tenant_id) == before


async def test_an_operator_configures_a_tenant_it_names(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey], other_admin: DemoKey
) -> None:
    operator = demo_keys["operator"]
    unnamed = await gql(http, SET_FEES, {"in": TIERS}, key=operator)
    assert error_codes(unnamed) == ["VALIDATION"]
    named = await gql(http, SET_FEES, {"in": TIERS, "t": other_admin.tenant_id}, key=operator)
    assert named["data"]["setFeeSchedule"]["feeSchedule"]["markupBps"] == 5
    config = await _config(http, other_admin, other_admin.tenant_id)
    assert config["configAudit"]["updatedBy"] == "key_demo_operator"


async def test_perpetual_listings_follow_the_operators_product_permissions(
    app: Starlette,
    http: httpx.AsyncClient,
    demo_keys: dict[str, DemoKey],
    accounts: AccountsService,
) -> None:
    operator, admin = demo_keys["operator"], demo_keys["tenant_admin"]
    orders: OrdersService = app.state.platform.get(OrdersService)
    await gql(http, SET_PERMISSIONS, {"j": "CH", "p": ["SPOT"]}, key=operator)  # seed allows it
    perp = await orders.create_market(
        "ETH", "USDT", Decimal("0.1"), Decimal("0.001"), Decimal("5"), MarketKind.PERPETUAL
    )
    refused = await gql(http, SET_MARKETS, {"m": ["BTC-USDT", perp.id]}, key=admin)
    assert error_codes(refused) == ["PRODUCT_NOT_PERMITTED"]
    assert refused["errors"][0]["extensions"]["markets"] == [perp.id]

    forbidden = await gql(http, SET_PERMISSIONS, {"j": "CH", "p": ["SPOT", "PERPETUAL"]}, key=admin)
    assert error_codes(forbidden) == ["FORBIDDEN"]
    allowed = await gql(
        http, SET_PERMISSIONS, {"j": "ch", "p": ["PERPETUAL", "SPOT"]}, key=operator
    )
    assert allowed["data"]["setProductPermissions"] == {
        "jurisdiction": "CH", "products": ["SPOT", "PERPETUAL"], "isDefault": False,
    }  # fmt: skip
    listed = await gql(http, SET_MARKETS, {"m": ["BTC-USDT", perp.id]}, key=admin)
    assert listed["data"]["setListedMarkets"]["listedMarkets"] == ["BTC-USDT", perp.id]

    table = await gql(
        http,
        """{ productPermissions { jurisdiction products }
             de: productPermissions(jurisdiction: "de") { jurisdiction products isDefault } }""",
        key=admin,
    )
    assert table["data"]["productPermissions"] == [
        {"jurisdiction": "CH", "products": ["SPOT", "PERPETUAL"]}
    ]
    assert table["data"]["de"] == [{"jurisdiction": "DE", "products": ["SPOT"], "isDefault": True}]
    assert (await accounts.tenant_config(str(admin.tenant_id))).permits("PERPETUAL")

    await gql(http, SET_PERMISSIONS, {"j": "CH", "p": ["SPOT"]}, key=operator)
    again = await gql(http, SET_MARKETS, {"m": [perp.id]}, key=admin)
    assert error_codes(again) == ["PRODUCT_NOT_PERMITTED"]


async def test_the_accounts_subgraph_resolves_a_tenants_configuration_as_an_entity(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    admin = demo_keys["tenant_admin"]
    body = await gql(
        http,
        """query($r: [_Any!]!) { _entities(representations: $r) {
             ... on Tenant { routingPolicy { mode } permittedProducts } } }""",
        {"r": [{"__typename": "Tenant", "id": admin.tenant_id}]},
        key=admin,
        path="/subgraphs/accounts/graphql",
    )
    assert "errors" not in body, body
    assert body["data"]["_entities"][0]["permittedProducts"] == ["SPOT"]
