"""Document shape limits, checked after parsing and before validation: a response key
selected too many times in one selection set, and too many directives on one location.

Both are cheap walks over the parsed document, and they run before validation because
validation is where such documents hurt: graphql-core's OverlappingFieldsCanBeMergedRule
compares every pair of fields that share a response key, so 500 copies of
``viewer { role }`` (or 300 fragments selecting it, or 400 inline fragments) cost over a
second of CPU each; and each repeated or unknown directive is an error of its own.

A selection set counts its fields as graphql-core collects them: its own, those of its
inline fragments, and those of every named fragment it spreads, directly or through other
fragments, each fragment once.

Imports only graphql-core.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    Node,
    OperationDefinitionNode,
    SelectionSetNode,
)

TOO_MANY_FIELD_REPEATS = "TOO_MANY_FIELD_REPEATS"
TOO_MANY_DIRECTIVES = "TOO_MANY_DIRECTIVES"


@dataclass(frozen=True)
class ShapeProblem:
    """The first limit a document is over: its code, message, where, and the limit."""

    code: str
    message: str
    node: Node
    details: dict[str, object]


@dataclass
class _Flat:
    """A selection set with its inline fragments flattened: response keys, spread names."""

    keys: Counter[str] = field(default_factory=Counter)
    spreads: list[str] = field(default_factory=list)


def _flatten(selection_set: SelectionSetNode, nested: list[SelectionSetNode]) -> _Flat:
    """``selection_set`` flattened; fields' own selection sets are appended to ``nested``."""
    flat, pending = _Flat(), [selection_set]
    while pending:
        for node in pending.pop().selections:
            if isinstance(node, FieldNode):
                flat.keys[(node.alias or node.name).value] += 1
                if node.selection_set is not None:
                    nested.append(node.selection_set)
            elif isinstance(node, InlineFragmentNode):
                pending.append(node.selection_set)
            elif isinstance(node, FragmentSpreadNode):
                flat.spreads.append(node.name.value)
    return flat


class _Walk:
    def __init__(self, document: DocumentNode, max_repeats: int, max_directives: int) -> None:
        self.max_repeats = max_repeats
        self.max_directives = max_directives
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.flat: dict[str, _Flat] = {}  # per fragment name, without its nested selections

    def fragment(self, name: str) -> _Flat:
        if name not in self.flat:
            definition = self.fragments.get(name)
            ignored: list[SelectionSetNode] = []  # checked where the definition is walked
            self.flat[name] = _flatten(definition.selection_set, ignored) if definition else _Flat()
        return self.flat[name]

    def repeated_key(self, flat: _Flat) -> str | None:
        """A response key selected more than ``max_repeats`` times, fragments included."""
        counts = Counter(flat.keys)
        seen: set[str] = set()
        pending = list(flat.spreads)
        while True:
            over = next((k for k, n in counts.items() if n > self.max_repeats), None)
            if over is not None or not pending:
                return over
            name = pending.pop()
            if name in seen:
                continue
            seen.add(name)
            fragment = self.fragment(name)
            counts.update(fragment.keys)
            pending.extend(fragment.spreads)

    def selection_sets(self, roots: list[SelectionSetNode]) -> ShapeProblem | None:
        pending = list(roots)
        while pending:
            selection_set = pending.pop()
            problem = self.directives(selection_set)
            if problem is not None:
                return problem
            key = self.repeated_key(_flatten(selection_set, pending))
            if key is not None:
                message = (
                    f"'{key}' is selected more than {self.max_repeats} times in one selection "
                    "set (fragments included): select it once"
                )
                details: dict[str, object] = {"maxFieldRepeats": self.max_repeats}
                return ShapeProblem(TOO_MANY_FIELD_REPEATS, message, selection_set, details)
        return None

    def directives(self, selection_set: SelectionSetNode) -> ShapeProblem | None:
        """Too many directives on one of ``selection_set``'s selections (inline ones too)."""
        pending = [selection_set]
        while pending:
            for node in pending.pop().selections:
                problem = self.location(node)
                if problem is not None:
                    return problem
                if isinstance(node, InlineFragmentNode):
                    pending.append(node.selection_set)
        return None

    def location(self, node: Node) -> ShapeProblem | None:
        directives = getattr(node, "directives", None) or ()
        if len(directives) <= self.max_directives:
            return None
        message = f"{len(directives)} directives on one location; at most {self.max_directives}"
        return ShapeProblem(
            TOO_MANY_DIRECTIVES, message, node, {"maxDirectives": self.max_directives}
        )


def shape_problem(
    document: DocumentNode, *, max_field_repeats: int, max_directives: int
) -> ShapeProblem | None:
    """The first shape limit ``document`` is over, or None."""
    walk = _Walk(document, max_field_repeats, max_directives)
    roots: list[SelectionSetNode] = []
    for definition in document.definitions:
        if isinstance(definition, (OperationDefinitionNode, FragmentDefinitionNode)):
            for node in (definition, *(getattr(definition, "variable_definitions", None) or ())):
                problem = walk.location(node)
                if problem is not None:
                    return problem
            roots.append(definition.selection_set)
    return walk.selection_sets(roots)
