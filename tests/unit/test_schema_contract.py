"""The published schema is a contract: no drift, and a description on everything."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    build_schema,
    find_breaking_changes,
)

from graph.ops.cli import SUBGRAPH_SDL_DIR
from graph.schema import PublicSchema, build_subgraphs

ROOT = Path(__file__).resolve().parents[2]
BUILTIN_SCALARS = {"String", "Int", "Float", "Boolean", "ID"}
DESCRIBABLE = (
    GraphQLObjectType,
    GraphQLInputObjectType,
    GraphQLEnumType,
    GraphQLScalarType,
    GraphQLUnionType,
    GraphQLInterfaceType,
)


def test_schema_graphql_matches_caas_schema_export() -> None:
    published = (ROOT / "schema.graphql").read_text()
    assert published == PublicSchema().public_sdl(), "run `caas schema export` and commit"


@pytest.mark.parametrize("name", sorted(build_subgraphs()))
def test_subgraph_sdl_files_match_caas_schema_export(name: str) -> None:
    published = (ROOT / SUBGRAPH_SDL_DIR / f"{name}.graphql").read_text()
    assert published == build_subgraphs()[name].as_str() + "\n"


def _missing_descriptions(named: GraphQLNamedType) -> list[str]:
    missing = [] if named.description else [named.name]
    if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
        for field_name, field in named.fields.items():
            if not field.description:
                missing.append(f"{named.name}.{field_name}")
            missing += [
                f"{named.name}.{field_name}({arg})"
                for arg, definition in field.args.items()
                if not definition.description
            ]
    elif isinstance(named, GraphQLInputObjectType):
        missing += [f"{named.name}.{n}" for n, f in named.fields.items() if not f.description]
    elif isinstance(named, GraphQLEnumType):
        missing += [f"{named.name}.{n}" for n, v in named.values.items() if not v.description]
    return missing


def test_every_public_type_field_argument_and_enum_value_has_a_description() -> None:
    schema = PublicSchema()._schema
    missing: list[str] = []
    for name, named in schema.type_map.items():
        if name.startswith("__") or name in BUILTIN_SCALARS:
            continue
        if name in {"Query", "Mutation", "Subscription"}:
            named_fields = named  # root types carry no description of their own
            missing += [m for m in _missing_descriptions(named_fields) if m != name]
            continue
        assert isinstance(named, DESCRIBABLE)
        missing += _missing_descriptions(named)
    assert missing == []


def unrecorded_breaking_changes(
    released: GraphQLSchema, current: GraphQLSchema, changelog: str
) -> list[str]:
    """Breaking changes from ``released`` to ``current`` not quoted in the Unreleased section."""
    unreleased = changelog.split("## Unreleased", 1)[-1].split("\n## ", 1)[0]
    return [
        change.description
        for change in find_breaking_changes(released, current)
        if change.description not in unreleased
    ]


def test_no_breaking_change_since_the_last_release_goes_unrecorded() -> None:
    released = build_schema((ROOT / SUBGRAPH_SDL_DIR / "released.graphql").read_text())
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert unrecorded_breaking_changes(released, PublicSchema()._schema, changelog) == []


def test_a_removed_field_is_a_breaking_change_until_the_changelog_quotes_it() -> None:
    released = build_schema((ROOT / SUBGRAPH_SDL_DIR / "released.graphql").read_text())
    trimmed_sdl = (
        (ROOT / "schema.graphql")
        .read_text()
        .replace('  """Name the customer gave the account."""\n  label: String!\n', "")
    )
    trimmed = build_schema(trimmed_sdl)
    assert unrecorded_breaking_changes(released, trimmed, "## Unreleased\n") == [
        "Field Account.label was removed."
    ]
    recorded = "## Unreleased\n### Breaking\n- `Field Account.label was removed.` Use `name`.\n"
    assert unrecorded_breaking_changes(released, trimmed, recorded) == []
