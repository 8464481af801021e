"""Readable views of EVENT_DTYPE records: one dict per event with the fields its kind uses.

For the API layer and for tests; the hot path never calls this. Imports numpy only.
"""

from __future__ import annotations

from typing import Any

from engine import codes
from engine.layout import Records

_FIELDS: dict[int, tuple[str, ...]] = {
    codes.EV_ACCEPTED: (
        "order_id", "account", "maker_account", "market", "asset", "side", "price", "qty",
        "status", "code", "value_a", "value_b",
    ),
    codes.EV_TRADE: (
        "order_id", "maker_order_id", "account", "maker_account", "market", "market_seq",
        "side", "price", "qty", "value_a", "value_b",
    ),
    codes.EV_ORDER_DONE: (
        "order_id", "account", "market", "side", "price", "status", "code", "qty", "value_a",
    ),
    codes.EV_BALANCE_CHANGED: ("account", "asset", "value_a", "value_b"),
    codes.EV_BOOK_DELTA: ("market", "market_seq", "side", "price", "qty"),
    codes.EV_ORDER_AMENDED: ("order_id", "account", "market", "side", "price", "qty", "value_a"),
    codes.EV_SELF_TRADE_PREVENTED: (
        "order_id", "maker_order_id", "account", "maker_account", "market", "side", "price",
        "qty", "code",
    ),
    codes.EV_STOP_TRIGGERED: ("order_id", "account", "market", "side", "price", "qty"),
    codes.EV_POSITION_CHANGED: (
        "account", "market", "qty", "value_a", "value_b", "order_id", "maker_order_id",
        "status", "price", "code",
    ),
    codes.EV_MARK_PRICE: ("market", "price", "qty", "value_a", "value_b", "market_seq"),
    codes.EV_FUNDING: ("account", "market", "qty", "price", "value_a", "value_b"),
    codes.EV_LIQUIDATION: (
        "account", "market", "code", "order_id", "qty", "price", "value_a", "maker_account",
        "value_b",
    ),
}  # fmt: skip
_FIELDS[codes.EV_REJECTED] = _FIELDS[codes.EV_ACCEPTED]

_RENAMES: dict[int, dict[str, str]] = {
    codes.EV_ACCEPTED: {
        "value_a": "client_tag",
        "value_b": "command",
        "maker_account": "to_account",
    },
    codes.EV_TRADE: {
        "order_id": "taker_order_id",
        "account": "taker_account",
        "market_seq": "trade_seq",
        "value_a": "maker_fee",
        "value_b": "taker_fee",
    },
    codes.EV_ORDER_DONE: {"qty": "filled", "value_a": "unfilled"},
    codes.EV_BALANCE_CHANGED: {"value_a": "available", "value_b": "locked"},
    codes.EV_ORDER_AMENDED: {"qty": "remaining", "value_a": "kept_priority"},
    codes.EV_SELF_TRADE_PREVENTED: {"order_id": "taker_order_id", "account": "taker_account"},
    codes.EV_POSITION_CHANGED: {
        "value_a": "cost",
        "value_b": "margin",
        "order_id": "realized",
        "maker_order_id": "leverage",
        "status": "margin_mode",
        "price": "mark",
    },
    codes.EV_MARK_PRICE: {
        "price": "mark",
        "qty": "index",
        "value_a": "funding_rate_ppm",
        "value_b": "next_funding_ns",
        "market_seq": "mark_seq",
    },
    codes.EV_FUNDING: {"price": "mark", "value_a": "payment", "value_b": "rate_ppm"},
    codes.EV_LIQUIDATION: {
        "order_id": "liquidation_order_id",
        "value_a": "amount",
        "maker_account": "counterparty",
        "value_b": "insurance_balance",
    },
}
_RENAMES[codes.EV_REJECTED] = _RENAMES[codes.EV_ACCEPTED]


def describe(event: Any) -> dict[str, Any]:
    """One event as {"kind": NAME, "seq": ..., field: value} with kind-specific names."""
    kind = int(event["kind"])
    out: dict[str, Any] = {"kind": codes.EVENT_NAMES.get(kind, str(kind)), "seq": int(event["seq"])}
    renames = _RENAMES.get(kind, {})
    for name in _FIELDS.get(kind, ()):
        out[renames.get(name, name)] = int(event[name])
    if "code" in out:
        out["reason"] = codes.REASON_NAMES.get(out["code"], str(out["code"]))
    return out


def describe_all(events: Records) -> list[dict[str, Any]]:
    """describe() over an event array."""
    return [describe(e) for e in events]


Row = dict[str, int]


def rows(records: Records) -> list[Row]:
    """Command or event records as plain dicts of ints, keyed by field name (one pass, no numpy
    scalars): what projections iterate over."""
    names = records.dtype.names or ()
    return [dict(zip(names, row, strict=True)) for row in records.tolist()]
