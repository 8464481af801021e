"""Every top-level Query and Mutation field, called with hypothesis-generated arguments of
its declared types (edges of each type, junk in custom scalars, real demo ids), as every
demo role and without credentials: the answer is never INTERNAL and never a 5xx.
Rate limits are off here so the requests reach the resolvers."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from graph.ops.seed import DEMO_MARKETS, DemoKey
from graph.security.limits import LimitSettings
from graph.settings import Settings
from tests.e2e.hostile_input import TRIED, typed_answer
from tests.e2e.schema_operations import document, root_fields, variables

pytestmark = [pytest.mark.e2e, pytest.mark.store]

FIELDS = root_fields()
EXAMPLES_PER_FIELD = 2


@pytest.fixture(scope="module")
def settings() -> Settings:
    limits = LimitSettings(rate_limits=False)
    return Settings(mongodb_db=f"test_{uuid.uuid4().hex[:12]}", data_dir=Path("x"), limits=limits)


def known_ids(keys: dict[str, DemoKey]) -> tuple[str, ...]:
    """Ids of real demo objects (accounts, customers, the tenant, markets), never key ids."""
    ids = {v for k in keys.values() for v in (k.tenant_id, k.customer_id, k.account_id) if v}
    markets = {f"{base}-{quote}" for base, quote, *_ in DEMO_MARKETS} | {"BTC-USDT-PERP"}
    return tuple(sorted(ids | markets))


def test_every_root_field_is_fuzzed() -> None:
    kinds = {kind for kind, _ in FIELDS}
    assert kinds == {"query", "mutation"} and len(FIELDS) >= 100


@pytest.mark.parametrize(("kind", "name"), FIELDS, ids=[f"{k} {n}" for k, n in FIELDS])
@hypothesis.settings(
    max_examples=EXAMPLES_PER_FIELD, deadline=None, suppress_health_check=list(HealthCheck)
)
@given(data=st.data())
async def test_generated_arguments_never_get_an_internal_error_as_any_role(
    http: httpx.AsyncClient,
    demo_keys: dict[str, DemoKey],
    kind: str,
    name: str,
    data: st.DataObject,
) -> None:
    query = document(kind, name)
    values: dict[str, Any] = data.draw(variables(kind, name, known_ids(demo_keys)))
    for key in [*demo_keys.values(), None]:
        headers = {"authorization": f"Bearer {key.token}"} if key else {}
        response = await http.post(
            "/graphql", json={"query": query, "variables": values}, headers=headers
        )
        TRIED["operations (fields x examples x roles)"] += 1
        typed_answer(response)
