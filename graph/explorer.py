"""The GraphiQL explorer page, opening with example operations for the common jobs."""

from __future__ import annotations

import functools
import json
from pathlib import Path

_TEMPLATE = Path(__file__).with_name("static") / "graphiql.html"
_HEADERS = '{\n  "Authorization": "Bearer <paste a demo key printed by make run>"\n}'

EXAMPLES: tuple[tuple[str, str, dict[str, object]], ...] = (
    (
        "List markets",
        """# Markets your institution lists: symbols, increments, status.
# Paste a demo key into the Headers tab below first.
query Markets {
  markets {
    id
    kind
    baseAsset
    quoteAsset
    tickSize
    lotSize
    minNotional
    status
  }
}""",
        {},
    ),
    (
        "My accounts and orders",
        """# A trader's accounts with their latest orders, positions and KYC state.
query MyAccounts {
  viewer { role customerId }
  accounts(first: 10) {
    nodes {
      id
      kind
      label
      orders(first: 5) { nodes { id market { id } side type price quantity status } }
      positions { market { id } quantity entryPrice }
      customer { displayName kyc { status level } }
    }
  }
}""",
        {},
    ),
    (
        "Customers of my institution",
        """# Staff keys (tenant_admin, compliance, risk): customers page by page.
query Customers($after: String) {
  customers(first: 20, after: $after) {
    nodes { id displayName email kyc { status level } }
    pageInfo { hasNextPage endCursor }
  }
}""",
        {"after": None},
    ),
    (
        "Watch my orders",
        """# A live stream of order changes (graphql-transport-ws).
subscription OrderUpdates {
  orderUpdates {
    order { id market { id } status filledQuantity }
  }
}""",
        {},
    ),
)


@functools.cache
def explorer_html() -> str:
    """GraphiQL with one tab per example and a headers template for the demo keys."""
    tabs = [
        {"query": query, "variables": json.dumps(variables, indent=2), "headers": _HEADERS}
        for _, query, variables in EXAMPLES
    ]
    payload = json.dumps(tabs).replace("</", "<\\/")
    return _TEMPLATE.read_text().replace("/*EXAMPLE_TABS*/[]", payload)
