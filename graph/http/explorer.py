"""The GraphiQL explorer page, opening with example operations for the common jobs."""

from __future__ import annotations

import functools
import json
from pathlib import Path

_TEMPLATE = Path(__file__).parent.parent / "static" / "graphiql.html"
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
      balances { asset available locked }
      positions { market { id } quantity entryPrice }
      customer { displayName kyc { status level } }
    }
  }
}""",
        {},
    ),
    (
        "Place an order",
        """# Buy 0.01 BTC at 64,000 USDT (a trader key). Retrying with the same clientOrderId
# never executes twice: the answer says replayed: true.
mutation Place($input: PlaceOrderInput!) {
  placeOrder(input: $input) {
    replayed
    order { id status side price quantity filledQuantity reason }
  }
}""",
        {
            "input": {
                "accountId": "<your account id from 'My accounts and orders'>",
                "market": "BTC-USDT",
                "side": "BUY",
                "type": "LIMIT",
                "price": "64000",
                "quantity": "0.01",
                "clientOrderId": "my-first-order",
            }
        },
    ),
    (
        "Market order, routed",
        """# A market buy: what the internal book cannot fill goes to the external venue
# within your institution's max slippage. `routing` shows the split and the venue prices.
mutation MarketBuy($input: PlaceOrderInput!) {
  placeOrder(input: $input) {
    order {
      id status quantity filledQuantity reason
      routing {
        venue status internalQuantity externalQuantity
        limitPrice externalAveragePrice externalFee reason
      }
    }
  }
}""",
        {
            "input": {
                "accountId": "<your account id from 'My accounts and orders'>",
                "market": "BTC-USDT",
                "side": "BUY",
                "type": "MARKET",
                "quantity": "0.05",
            }
        },
    ),
    (
        "Cancel an order",
        """mutation Cancel($accountId: ID!, $clientOrderId: String!) {
  cancelOrder(accountId: $accountId, clientOrderId: $clientOrderId) {
    order { id status }
  }
}""",
        {"accountId": "<your account id>", "clientOrderId": "my-first-order"},
    ),
    (
        "Order book and trades",
        """query Book {
  orderBook(market: "BTC-USDT", depth: 10) {
    sequence
    bids { price quantity }
    asks { price quantity }
  }
  trades(market: "BTC-USDT", first: 10) {
    nodes { price quantity takerSide executedAt }
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
        "Follow a book",
        """# A live order book (graphql-transport-ws; README "Streams"). The first message is a
# SNAPSHOT with its sequence; then DELTAs with firstSequence..lastSequence and each changed
# level's absolute quantity (0 = remove the level). Apply a delta when firstSequence <=
# your sequence + 1; a later firstSequence is a gap: resubscribe. A SNAPSHOT can arrive at
# any time (reason CONFLATED: you fell behind; RESYNC: the server lost continuity):
# replace your book with it.
subscription FollowBook($market: ID!, $depth: Int!) {
  orderBook(market: $market, depth: $depth) {
    kind
    sequence
    firstSequence
    lastSequence
    conflated
    reason
    bids { price quantity }
    asks { price quantity }
  }
}""",
        {"market": "BTC-USDT", "depth": 10},
    ),
    (
        "Follow trades",
        """# Trades of the platform's book as they execute; `sequence` numbers them without gaps,
# so a jump means messages were lost: re-read `trades(market:)` to fill it.
subscription FollowTrades($market: ID!) {
  trades(market: $market) { id sequence price quantity takerSide executedAt }
}""",
        {"market": "BTC-USDT"},
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
