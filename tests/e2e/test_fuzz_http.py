"""Hostile HTTP requests to /graphql and every subgraph endpoint: JSON values that are no
request, fields of the wrong type, deep and huge values, bytes that are not UTF-8, wrong
content types, odd GET parameters and methods. Each gets a typed answer (status below 500,
JSON errors with a stable ``extensions.code``, no traceback), the fixed corpus the exact
status and code, and hypothesis adds arbitrary JSON values, request objects and bytes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.hostile_input import (
    ENDPOINTS,
    TRIED,
    json_values,
    refusal_code,
    request_objects,
    typed_answer,
)

pytestmark = [pytest.mark.e2e, pytest.mark.store]

JSON = "application/json"
TYPENAME = "{ __typename }"
DEEP = 10_000
MIB = 1024 * 1024


@dataclass(frozen=True)
class Case:
    """One request and the answer it must get: ``code`` None means it executes."""

    name: str
    status: int = 400
    code: str | None = "BAD_REQUEST"
    method: str = "POST"
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": JSON})
    params: tuple[tuple[str, str], ...] | None = None


def post(name: str, body: object, status: int = 400, code: str | None = "BAD_REQUEST") -> Case:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Case(name, status, code, body=content)


def get(
    name: str, params: list[tuple[str, str]], status: int = 400, code: str | None = "BAD_REQUEST"
) -> Case:
    return Case(name, status, code, "GET", None, {"accept": JSON}, tuple(params))


def _not_requests() -> list[Case]:
    """Valid JSON that is not one request object: each a 400 BAD_REQUEST."""
    values: list[tuple[str, Any]] = [
        ("null", None), ("true", True), ("false", False), ("zero", 0), ("negative", -1),
        ("float", 1.5), ("huge number", 10**400), ("empty string", ""), ("a query as a string",
        TYPENAME), ("empty array", []), ("batch of one", [{"query": TYPENAME}]),
        ("batch of two", [{"query": TYPENAME}] * 2), ("array of null", [None]),
        ("array of junk", [1, "x", []]), ("empty object", {}),
    ]  # fmt: skip
    return [post(f"body: {name}", value) for name, value in values]


def _wrong_field_types() -> list[Case]:
    wrong: dict[str, list[Any]] = {
        "query": [5, 1.5, True, [], [TYPENAME], {}, {"query": TYPENAME}],
        "variables": ["x", "{}", [], [1], 5, True],
        "operationName": [5, [], {}, True],
        "extensions": ["x", [], 5, False],
    }
    cases = [
        post(f"{name}: {json.dumps(value)}", {"query": TYPENAME, name: value})
        for name, values in wrong.items()
        for value in values
    ]
    return [*cases, post("query: null", {"query": None}), post("no query", {"variables": {}})]


def _deep_and_huge() -> list[Case]:
    nested_arrays = b"[" * DEEP + b"]" * DEEP
    nested_objects = b'{"a":' * DEEP + b"1" + b"}" * DEEP
    under_limit = "x" * (MIB - 200)
    return [
        post("variables nested 10,000 arrays deep", b'{"query":"{ __typename }","variables":{"v":'
             + nested_arrays + b"}}"),
        post("variables nested 10,000 objects deep", b'{"query":"{ __typename }","variables":'
             + nested_objects + b"}"),
        post("a body nested 10,000 arrays deep", nested_arrays),
        post("nested junk", {"query": {"query": {"query": TYPENAME}}}),
        post("junk variables beside a valid query", {"query": TYPENAME, "variables":
             {"a": {"b": [[[{"c": None}]]], "d": "\u0000"}}}, 200, None),
        post("a 1 MB string in variables", {"query": TYPENAME, "variables": {"s": "x" * MIB}},
             413, "REQUEST_TOO_LARGE"),
        post("a string just under the body limit", {"query": TYPENAME, "variables":
             {"s": under_limit}}, 200, None),
        post("a query padded with 1 MB of spaces", {"query": " " * (MIB - 100) + TYPENAME},
             200, None),
    ]  # fmt: skip


def _not_json() -> list[Case]:
    raw = [
        ("bytes that are not UTF-8", b'{"query": "{ __typename \xff\xfe }"}'),
        ("a lone surrogate", b'{"query": "{ __typename }", "variables": {"s": "\\ud800"}}'),
        ("NaN", b'{"query": "{ __typename }", "variables": {"f": NaN}}'),
        ("Infinity", b'{"query": "{ __typename }", "variables": {"f": -Infinity}}'),
        ("truncated", b'{"query": "{ __typename }"'),
        ("empty body", b""),
        ("single quotes", b"{'query': '{ __typename }'}"),
        ("a trailing comma", b'{"query": "{ __typename }",}'),
        ("two documents", b'{"query": "{ __typename }"} {"query": "{ __typename }"}'),
    ]
    bom = post(
        "a byte order mark is ignored", b'\xef\xbb\xbf{"query": "{ __typename }"}', 200, None
    )
    return [*(post(f"not JSON: {name}", body) for name, body in raw), bom]


def _content_types() -> list[Case]:
    body = json.dumps({"query": TYPENAME}).encode()
    types = {
        "text/plain": body,
        "application/x-www-form-urlencoded": b"query=%7B+__typename+%7D",
        "multipart/form-data; boundary=x": b'--x\r\nContent-Disposition: form-data; name="query"'
        b"\r\n\r\n{ __typename }\r\n--x--\r\n",
        "application/graphql": TYPENAME.encode(),
        "application/xml": b"<query/>",
    }
    cases = [
        Case(f"content type {t}", body=b, headers={"content-type": t}) for t, b in types.items()
    ]
    return [
        *cases,
        Case("no content type", body=body, headers={}),
        Case("json with a charset", 200, None, body=body,
             headers={"content-type": "application/json; charset=utf-8"}),
    ]  # fmt: skip


def _gets() -> list[Case]:
    query = ("query", TYPENAME)
    return [
        get("GET: variables not JSON", [query, ("variables", "{not json")]),
        get("GET: variables a number", [query, ("variables", "5")]),
        get("GET: variables an array", [query, ("variables", "[]")]),
        get("GET: extensions a string", [query, ("extensions", '"x"')]),
        get("GET: extensions nested 10,000 deep", [query, ("extensions", "[" * DEEP + "]" * DEEP)]),
        get("GET: no query", [("variables", "{}")]),
        get("GET: empty query", [("query", "")]),
        get("GET: unknown operation", [query, ("operationName", "Nope")]),
        get("GET: a repeated query parameter", [query, ("query", "{ __typename __typename }")],
            200, None),
        get("GET: a mutation", [("query", "mutation { __typename }")], 405, "METHOD_NOT_ALLOWED"),
        get("GET: a subscription", [("query", "subscription { __typename }")]),
        get("GET: a query with ?debug=1", [query, ("debug", "1")], 200, None),
    ]  # fmt: skip


def _elsewhere() -> list[Case]:
    body = json.dumps({"query": TYPENAME}).encode()
    methods = [
        Case(f"method {m}", 405, "METHOD_NOT_ALLOWED", m, body)
        for m in ("PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND", "FOO")
    ]
    return [
        *methods,
        post("a subscription over POST", {"query": "subscription { __typename }"}),
        post("two operations, no operationName", {"query": "query A { a: __typename } "
             "query B { b: __typename }"}, 200, "VALIDATION"),
        Case("accept text/csv", 406, "NOT_ACCEPTABLE", body=body,
             headers={"content-type": JSON, "accept": "text/csv"}),
    ]  # fmt: skip


CORPUS = [
    *_not_requests(),
    *_wrong_field_types(),
    *_deep_and_huge(),
    *_not_json(),
    *_content_types(),
    *_gets(),
    *_elsewhere(),
]


async def outcome(http: httpx.AsyncClient, path: str, case: Case) -> tuple[int, str | None]:
    """(status, the code of a refusal before execution, or None for a clean execution)."""
    response = await http.request(
        case.method, path, content=case.body, headers=case.headers, params=case.params
    )
    TRIED["http corpus (inputs x endpoints)"] += 1
    body = typed_answer(response)
    if "data" not in body:
        return response.status_code, refusal_code(response)
    return response.status_code, None if "errors" not in body else f"executed with {body}"


def test_the_corpus_names_every_input_once() -> None:
    assert len({case.name for case in CORPUS}) == len(CORPUS) >= 80


@pytest.mark.parametrize("case", CORPUS, ids=[case.name for case in CORPUS])
async def test_every_hostile_request_gets_its_typed_answer_on_every_endpoint(
    http: httpx.AsyncClient, case: Case
) -> None:
    answers = {path: await outcome(http, path, case) for path in ENDPOINTS}
    assert answers == dict.fromkeys(ENDPOINTS, (case.status, case.code))


async def test_a_refused_method_says_which_are_allowed(http: httpx.AsyncClient) -> None:
    response = await http.put("/graphql", json={"query": TYPENAME})
    assert response.status_code == 405 and response.headers["allow"] == "GET, POST"
    head = await http.head("/graphql")
    assert head.status_code == 405 and head.headers["allow"] == "GET, POST"


async def test_a_batch_is_refused_without_running_any_of_it(http: httpx.AsyncClient) -> None:
    batch = [{"query": "mutation { __typename }"}, {"query": TYPENAME}]
    response = await http.post("/graphql", json=batch)
    assert response.status_code == 400 and refusal_code(response) == "BAD_REQUEST"
    assert "Batching" in response.json()["errors"][0]["message"]


HYPOTHESIS = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


@HYPOTHESIS
@given(value=json_values, path=st.sampled_from(ENDPOINTS))
async def test_any_json_value_as_a_body_is_a_typed_answer(
    http: httpx.AsyncClient, value: Any, path: str
) -> None:
    response = await http.post(path, json=value)
    TRIED["http hypothesis: JSON values"] += 1
    body = typed_answer(response)
    if not isinstance(value, dict):
        assert response.status_code == 400 and refusal_code(response) == "BAD_REQUEST", body


@HYPOTHESIS
@given(request=request_objects, path=st.sampled_from(ENDPOINTS))
async def test_any_request_object_is_a_typed_answer(
    http: httpx.AsyncClient, request: dict[str, Any], path: str
) -> None:
    response = await http.post(path, json=request)
    TRIED["http hypothesis: request objects"] += 1
    typed_answer(response)
    if not isinstance(request.get("query"), str):
        assert response.status_code == 400 and refusal_code(response) == "BAD_REQUEST"


@HYPOTHESIS
@given(body=st.binary(max_size=200), path=st.sampled_from(ENDPOINTS))
async def test_any_bytes_as_a_body_are_a_typed_answer(
    http: httpx.AsyncClient, body: bytes, path: str
) -> None:
    response = await http.post(path, content=body, headers={"content-type": JSON})
    TRIED["http hypothesis: bytes"] += 1
    typed_answer(response)
