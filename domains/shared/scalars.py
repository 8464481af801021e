"""The API's scalars: Decimal as a string (never a float) and DateTime as ISO-8601 UTC."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import strawberry

from domains.shared.money import parse_decimal


def _serialize_decimal(value: decimal.Decimal) -> str:
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def _parse_decimal(value: Any) -> decimal.Decimal:
    if not isinstance(value, str):
        raise ValueError('Decimal values are strings such as "0.015", never JSON numbers')
    return parse_decimal(value, field="Decimal")


def _serialize_datetime(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_datetime(value: Any) -> dt.datetime:
    if not isinstance(value, str):
        raise ValueError('DateTime values are ISO-8601 strings such as "2026-01-31T12:00:00Z"')
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("DateTime values must carry a time zone, e.g. a trailing Z for UTC")
    return parsed.astimezone(dt.UTC)


DecimalScalar = strawberry.scalar(
    name="Decimal",
    description=(
        'An exact decimal number sent as a string, e.g. "0.00150000" or "64250.5". '
        "Never a JSON number; no exponent, NaN or Infinity."
    ),
    serialize=_serialize_decimal,
    parse_value=_parse_decimal,
)

DateTimeScalar = strawberry.scalar(
    name="DateTime",
    description='A point in time as an ISO-8601 string in UTC, e.g. "2026-11-25T13:08:09.123Z".',
    serialize=_serialize_datetime,
    parse_value=_parse_datetime,
)

SCALAR_MAP: dict[object, Any] = {
    decimal.Decimal: DecimalScalar,
    dt.datetime: DateTimeScalar,
}


def utcnow() -> dt.datetime:
    """The current time in UTC, truncated to milliseconds (what Mongo stores)."""
    now = dt.datetime.now(dt.UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
