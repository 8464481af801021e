"""The GraphQL request an HTTP request carries, or a 400 (BAD_REQUEST) saying what is wrong.

Strawberry's parsing falls short on hostile bodies: a JSON value that is not an object
(``null``, ``5``, ``"x"``) meets ``data.get`` (AttributeError, HTTP 500), JSON nested
deeper than the interpreter's recursion limit or bytes that are not UTF-8 escape its JSON
error handling (RecursionError, UnicodeDecodeError, HTTP 500), and ``NaN``/``Infinity`` or
lone surrogates are accepted although they are not JSON. Here:

- JSON is read with orjson, strictly (RFC 8259, UTF-8, at most 1024 levels deep; a byte
  order mark is ignored): anything else is ``json.JSONDecodeError``, which strawberry
  answers with 400;
- the request must be one JSON object (a GET's query string counts as one); an array is a
  batch, which is not supported; ``query`` and ``operationName`` are strings or null,
  ``variables`` and ``extensions`` objects or null;
- only GET and ``application/json`` POST bodies are read (no multipart uploads).

Imports nothing from graph/: the endpoint (graph/http/app.py) calls these.
"""

from __future__ import annotations

from typing import Any

import orjson
from cross_web import HTTPException
from strawberry.http import GraphQLRequestData

# field -> (allowed types besides null, what the message says it must be)
_FIELD_TYPES: dict[str, tuple[type, str]] = {
    "query": (str, "a string"),
    "operationName": (str, "a string"),
    "variables": (dict, "an object"),
    "extensions": (dict, "an object"),
}


def decode_json(data: str | bytes) -> object:
    """Strict JSON; raises ``json.JSONDecodeError`` (orjson's subclass) for anything else.

    A leading byte order mark is ignored (RFC 8259 lets a parser do so; the standard
    library's parser did).
    """
    if isinstance(data, bytes):
        data = data.removeprefix(b"\xef\xbb\xbf")
    return orjson.loads(data.removeprefix("\ufeff") if isinstance(data, str) else data)


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def graphql_request(data: object) -> GraphQLRequestData:
    """The request in a decoded body or query string; HTTPException(400) when it is none."""
    if isinstance(data, list):
        raise HTTPException(400, "Batching is not enabled: send one operation per request")
    if not isinstance(data, dict):
        raise HTTPException(
            400, f"The request must be a JSON object with a `query`, not {_json_kind(data)}"
        )
    fields: dict[str, Any] = {}
    for name, (kind, expected) in _FIELD_TYPES.items():
        value = data.get(name)
        if value is not None and not isinstance(value, kind):
            raise HTTPException(
                400,
                f"The GraphQL operation's `{name}` must be {expected} or null, if provided.",
            )
        fields[name] = value
    return GraphQLRequestData(
        query=fields["query"],
        variables=fields["variables"],
        operation_name=fields["operationName"],
        extensions=fields["extensions"],
    )
