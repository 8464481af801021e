"""JSON form of custody's frozen dataclasses (and Principal) for calls between processes.

Driven by the dataclasses' type hints: enums by value, datetimes ISO-8601, Decimals and
integers exactly, tuples and frozensets as lists, nested dataclasses as objects. Imports no
pymongo, no strawberry, no Redis.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import types
import typing
from decimal import Decimal
from typing import Any, TypeVar

T = TypeVar("T")
JSON = Any


def encode(value: object) -> JSON:
    """``value`` as JSON-ready data (the inverse of ``decode``)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (tuple, list)):
        return [encode(v) for v in value]
    if isinstance(value, frozenset):
        return sorted(encode(v) for v in value)
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"cannot encode {type(value).__name__}")


def decode(kind: type[T], data: JSON) -> T:
    """Rebuild a ``kind`` (a dataclass, usually) from ``encode``'s output."""
    value: T = _decode(kind, data)
    return value


def _decode(kind: Any, data: JSON) -> Any:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if data is None and type(None) in args:
            return None
        return _decode(next(a for a in args if a is not type(None)), data)
    if origin is tuple:
        return tuple(_decode(args[0], v) for v in data)
    if origin in (list, frozenset):
        return origin(_decode(args[0], v) for v in data)
    if origin is dict:
        return {k: _decode(args[1], v) for k, v in data.items()}
    if kind is object or kind is Any:
        return data
    if dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        fields = {f.name: _decode(hints[f.name], data[f.name]) for f in dataclasses.fields(kind)
                  if f.init and f.name in data}  # fmt: skip
        return kind(**fields)  # type: ignore[operator]
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind(data)
    if kind is dt.datetime:
        return dt.datetime.fromisoformat(data)
    if kind is Decimal:
        return Decimal(data)
    if kind in (int, str, bool, float):
        if not isinstance(data, kind):
            raise TypeError(f"expected {kind.__name__}, got {type(data).__name__}")
        return data
    raise TypeError(f"cannot decode {kind!r}")
