"""Operations built from the schema for the operation fuzz: for a root field, a valid
document (its arguments as variables, its returned object's argument-free leaf fields
selected) and a hypothesis strategy of variables of the declared types, with values from
the edges of each type, junk in the custom scalars, and the ids of real demo objects."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any

from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    Undefined,
    build_schema,
    get_named_type,
    is_leaf_type,
    is_object_type,
)
from hypothesis import strategies as st

SDL = Path(__file__).resolve().parents[2] / "schema.graphql"
MAX_LEAVES = 12  # fields selected on each returned object, besides __typename
MAX_INPUT_DEPTH = 3

INTS = st.integers(-3, 300) | st.sampled_from([-(2**31), 2**31 - 1, 10**6, 1_000_000_000])
STRINGS = st.sampled_from(
    [
        "", " ", "BTC", "USDT", "ETH", "BTC-USDT", "ETH-USDT", "BTC-USDT-PERP", "CH", "US",
        "bcrt1q4pvv7fky4mvmnsd89faf5hex4gzfl6h44xzl84", "0x" + "0" * 40, '{"$gt": ""}',
        "$where", "a" * 2000, "\u0000", "é€😀", "<script>", "../../etc/passwd",
    ]
) | st.text(max_size=24)  # fmt: skip
DECIMALS = st.sampled_from(
    ["0", "1", "0.01", "0.001", "64000", "-5", "1e3", "NaN", "", "abc", "0.000000001",
     "9" * 40, " 1", "1.", ".5", "-0", "100000000000"]
) | st.decimals(allow_nan=False, allow_infinity=False, places=4).map(str)  # fmt: skip
DATETIMES = st.datetimes(timezones=st.just(dt.UTC)).map(lambda d: d.isoformat()) | st.sampled_from(
    ["", "yesterday", "2024-13-40T25:61:00Z", "1970-01-01T00:00:00Z", "9999-12-31T23:59:59Z"]
)
DATES = st.dates().map(lambda d: d.isoformat()) | st.sampled_from(["", "2024-02-30", "x"])


@functools.cache
def composed_schema() -> GraphQLSchema:
    """The composed graph as recorded in schema.graphql (only its types are used)."""
    return build_schema(SDL.read_text())


def root_fields() -> list[tuple[str, str]]:
    """(operation type, field name) of every top-level Query and Mutation field."""
    schema = composed_schema()
    roots = (("query", schema.query_type), ("mutation", schema.mutation_type))
    return [(kind, name) for kind, root in roots if root is not None for name in root.fields]


def root_field(kind: str, name: str) -> GraphQLField:
    schema = composed_schema()
    root = schema.query_type if kind == "query" else schema.mutation_type
    assert root is not None
    field: GraphQLField = root.fields[name]
    return field


def _selection(field: GraphQLField, levels: int = 2) -> str:
    """``{ __typename ... }``: argument-free leaf fields and, ``levels`` deep, objects."""
    named = get_named_type(field.type)
    if is_leaf_type(named):
        return ""
    selected = ["__typename"]
    if is_object_type(named) and levels > 0:
        assert isinstance(named, GraphQLObjectType)
        for name, child in named.fields.items():
            if any(isinstance(a.type, GraphQLNonNull) for a in child.args.values()):
                continue
            if is_leaf_type(get_named_type(child.type)):
                selected.append(name)
            elif levels > 1 and len(selected) <= MAX_LEAVES:
                selected.append(name + _selection(child, levels - 1))
            if len(selected) > MAX_LEAVES:
                break
    return " { " + " ".join(selected) + " }"


def document(kind: str, name: str) -> str:
    """A valid operation calling ``name`` with every argument as a variable."""
    field = root_field(kind, name)
    declared = ", ".join(f"${arg}: {a.type}" for arg, a in field.args.items())
    passed = ", ".join(f"{arg}: ${arg}" for arg in field.args)
    head = f"{kind} Fuzz({declared})" if declared else f"{kind} Fuzz"
    call = f"{name}({passed})" if passed else name
    return f"{head} {{ {call}{_selection(field)} }}"


def _scalar(scalar: GraphQLScalarType, ids: tuple[str, ...]) -> st.SearchStrategy[Any]:
    by_name: dict[str, st.SearchStrategy[Any]] = {
        "Int": INTS,
        "Float": st.floats(allow_nan=False, allow_infinity=False),
        "Boolean": st.booleans(),
        "String": STRINGS,
        "ID": st.sampled_from(ids) | STRINGS if ids else STRINGS,
        "Decimal": DECIMALS,
        "DateTime": DATETIMES,
        "Date": DATES,
    }
    return by_name.get(scalar.name, STRINGS)


def values(type_: GraphQLInputType, ids: tuple[str, ...], depth: int = 0) -> st.SearchStrategy[Any]:
    """Values of ``type_``: null sometimes where it is nullable, the edges of each scalar."""
    if isinstance(type_, GraphQLNonNull):
        return _non_null(type_.of_type, ids, depth)
    if depth >= MAX_INPUT_DEPTH:
        return st.none()
    return st.none() | _non_null(type_, ids, depth)


def _non_null(type_: GraphQLInputType, ids: tuple[str, ...], depth: int) -> st.SearchStrategy[Any]:
    if isinstance(type_, GraphQLList):
        return st.lists(values(type_.of_type, ids, depth + 1), max_size=3)
    if isinstance(type_, GraphQLEnumType):
        return st.sampled_from(sorted(type_.values))
    if isinstance(type_, GraphQLInputObjectType):
        return _input_object(type_, ids, depth)
    assert isinstance(type_, GraphQLScalarType), type_
    return _scalar(type_, ids)


def _input_object(
    type_: GraphQLInputObjectType, ids: tuple[str, ...], depth: int
) -> st.SearchStrategy[dict[str, Any]]:
    fields = type_.fields
    if type_.is_one_of:
        return st.one_of(
            [
                values(GraphQLNonNull(f.type), ids, depth + 1).map(functools.partial(_keyed, name))
                for name, f in fields.items()
            ]
        )
    required = {
        n: values(f.type, ids, depth + 1)
        for n, f in fields.items()
        if isinstance(f.type, GraphQLNonNull) and f.default_value is Undefined
    }
    optional = {n: values(f.type, ids, depth + 1) for n, f in fields.items() if n not in required}
    return st.fixed_dictionaries(required, optional=optional)


def _keyed(name: str, value: Any) -> dict[str, Any]:
    return {name: value}


def variables(kind: str, name: str, ids: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    """Variables for ``document(kind, name)``: every required argument, optional ones maybe."""
    args: dict[str, GraphQLArgument] = root_field(kind, name).args
    required = {a: values(arg.type, ids) for a, arg in args.items() if _required(arg)}
    optional = {a: values(arg.type, ids) for a, arg in args.items() if not _required(arg)}
    return st.fixed_dictionaries(required, optional=optional)


def _required(arg: GraphQLArgument) -> bool:
    return isinstance(arg.type, GraphQLNonNull) and arg.default_value is Undefined
