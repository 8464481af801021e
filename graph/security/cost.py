"""Query cost: an upper bound of the objects an operation can make the server produce.

Computed on the validated document with the request's variables, before execution:

    cost(selection set) = sum of cost(field) for its fields
                          (on an abstract type, fragments on different concrete types are
                          alternatives: the most expensive one counts, not their sum)
    cost(field)         = n * (own + cost(its selection set))
      own = 1 when the field returns an object, interface or union; 0 for a scalar or enum
      n   = 1 for a field that does not return a list; for a list:
            - the value of its size argument (`first`, `last`, `depth`, `limit`, or the
              number of `representations` of `_entities`), else
            - the size argument of the field it sits in (a connection's `first` sizes its
              `edges` and `nodes`, `orderBook(depth:)` its `bids` and `asks`), else
            - the default list size (CAAS_COST_LIST_SIZE, 10).
      A `first`/`last` left out or null counts the default page size (50).
    Introspection fields (`__schema`, `__type`, `__typename`) cost 0.

Example: `{ accounts(first: 100) { nodes { id balances { asset } } } }` costs
1 (accounts) + 100 * (1 (nodes) + 10 * 1 (balances)) = 1,101.

Imports nothing from domains/: it reads only the GraphQL schema.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Undefined,
    VariableNode,
    get_named_type,
    get_operation_ast,
    is_abstract_type,
    is_leaf_type,
    value_from_ast_untyped,
)

PAGE_ARGUMENTS = ("first", "last")
SIZE_ARGUMENTS = (*PAGE_ARGUMENTS, "depth", "limit", "representations")


@dataclass(frozen=True)
class CostModel:
    """The two defaults of the formula."""

    default_list_size: int = 10
    default_page_size: int = 50


@dataclass
class _Walk:
    schema: GraphQLSchema
    model: CostModel
    variables: dict[str, Any]
    operation: OperationDefinitionNode
    fragments: dict[str, FragmentDefinitionNode]
    reads: set[str] = field(default_factory=set)  # the variables the cost depends on
    memo: dict[tuple[str, str, int | None], int] = field(default_factory=dict)

    def selection_set(
        self,
        parent: GraphQLNamedType,
        selections: SelectionSetNode,
        size: int | None,
        visiting: frozenset[str] = frozenset(),
    ) -> int:
        common = 0
        by_type: dict[str, int] = {}
        abstract = is_abstract_type(parent)
        for node in selections.selections:
            if isinstance(node, FieldNode):
                common += self.field(parent, node, size)
                continue
            if isinstance(node, InlineFragmentNode):
                type_name = node.type_condition.name.value if node.type_condition else None
                target = self.schema.get_type(type_name) if type_name else parent
                cost = self.selection_set(target or parent, node.selection_set, size, visiting)
            elif isinstance(node, FragmentSpreadNode):
                name = node.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in visiting:
                    continue
                type_name = fragment.type_condition.name.value
                cost = self.fragment(fragment, size, visiting | {name})
            else:  # pragma: no cover - graphql-core has no other selection kinds
                continue
            if abstract and type_name and type_name != parent.name:
                by_type[type_name] = by_type.get(type_name, 0) + cost
            else:
                common += cost
        return common + max(by_type.values(), default=0)

    def fragment(
        self, fragment: FragmentDefinitionNode, size: int | None, path: frozenset[str]
    ) -> int:
        key = (fragment.name.value, fragment.type_condition.name.value, size)
        if key not in self.memo:
            target = self.schema.get_type(fragment.type_condition.name.value)
            self.memo[key] = (
                self.selection_set(target, fragment.selection_set, size, path) if target else 0
            )
        return self.memo[key]

    def field(self, parent: GraphQLNamedType, node: FieldNode, inherited: int | None) -> int:
        name = node.name.value
        fields = getattr(parent, "fields", None)
        if name.startswith("__") or not fields or name not in fields:
            return 0
        definition: GraphQLField = fields[name]
        output = definition.type
        if isinstance(output, GraphQLNonNull):
            output = output.of_type
        returns_list = isinstance(output, GraphQLList)
        named = get_named_type(output)
        sized_by = self.size_argument(node, definition)
        if returns_list:
            n = sized_by if sized_by is not None else inherited
            n = self.model.default_list_size if n is None else n
            child_size = None
        else:
            n, child_size = 1, sized_by
        if is_leaf_type(named):
            return 0
        children = (
            self.selection_set(named, node.selection_set, child_size) if node.selection_set else 0
        )
        return n * (1 + children)

    def size_argument(self, node: FieldNode, definition: GraphQLField) -> int | None:
        """The list size a field's arguments ask for, or None when it has no size argument."""
        given = {arg.name.value: arg.value for arg in node.arguments or ()}
        for name in SIZE_ARGUMENTS:
            if name not in definition.args:
                continue
            value: Any = Undefined
            if name in given:
                node_value = given[name]
                if isinstance(node_value, VariableNode):
                    self.reads.add(node_value.name.value)
                value = value_from_ast_untyped(given[name], self.variables)
                if value is Undefined:
                    value = self._variable_default(given[name])
            if value is Undefined or value is None:
                value = definition.args[name].default_value
            if name == "representations":
                return len(value) if isinstance(value, list) else self.model.default_list_size
            if isinstance(value, int) and not isinstance(value, bool):
                return max(value, 0)
            if name in PAGE_ARGUMENTS:
                return self.model.default_page_size
            return self.model.default_list_size
        return None

    def _variable_default(self, value_node: Any) -> Any:
        """A variable the request left out counts its declared default."""
        variable = getattr(getattr(value_node, "name", None), "value", None)
        for definition in self.operation.variable_definitions or ():
            if definition.variable.name.value == variable and definition.default_value:
                return value_from_ast_untyped(definition.default_value, {})
        return Undefined


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None = None,
    variables: Mapping[str, Any] | None = None,
    model: CostModel = CostModel(),
    reads: set[str] | None = None,
) -> int:
    """The cost of the operation ``operation_name`` of a validated ``document``."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return 0
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    walk = _Walk(schema, model, dict(variables or {}), operation, fragments)
    cost = walk.selection_set(root, operation.selection_set, None)
    if reads is not None:
        reads.update(walk.reads)
    return cost


class CostCache:
    """Costs per document text and operation, and per value of the variables the cost
    depends on (a page size such as ``$first``): clients send fixed texts with variables,
    so the walk runs once per text and page size, not per request."""

    def __init__(self, max_documents: int = 1024, max_variants: int = 64) -> None:
        self.max_documents = max_documents
        self.max_variants = max_variants
        self._entries: OrderedDict[Any, tuple[tuple[str, ...], dict[Any, int]]] = OrderedDict()

    def cost(
        self, schema: GraphQLSchema, document: DocumentNode, text: str,
        operation_name: str | None, variables: Mapping[str, Any] | None, model: CostModel,
    ) -> int:  # fmt: skip
        given = variables or {}
        key = (id(schema), text, operation_name)  # the schemas live as long as the process
        entry = self._entries.get(key)
        if entry is not None:
            values = _cacheable(entry[0], given)
            if values is not None and values in entry[1]:
                self._entries.move_to_end(key)
                return entry[1][values]
        reads: set[str] = set()
        cost = operation_cost(schema, document, operation_name, given, model, reads=reads)
        names = tuple(sorted(reads))
        values = _cacheable(names, given)
        if values is not None:
            if entry is None or entry[0] != names:
                entry = (names, {})
                self._entries[key] = entry
            if len(entry[1]) < self.max_variants:
                entry[1][values] = cost
            while len(self._entries) > self.max_documents:
                self._entries.popitem(last=False)
        return cost


def _cacheable(names: tuple[str, ...], variables: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """The values of ``names`` as a cache key, or None when one is not a plain int or null
    (e.g. a list of `_entities` representations: its length is the cost)."""
    values = tuple(variables.get(name, _LEFT_OUT) for name in names)
    ok = all(
        v is None or v is _LEFT_OUT or (isinstance(v, int) and not isinstance(v, bool))
        for v in values
    )
    return values if ok else None


_LEFT_OUT = "<left out>"  # a variable not sent (its declared default counts), unlike null
