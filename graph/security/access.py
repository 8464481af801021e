"""The access guard: a refused credential ends the operation; each root field needs a scope.

Roles say who may do what (resolvers check them with ``RequestContext.require``); scopes say
what a particular credential was issued for. Queries and subscriptions need READ; each
mutation is mapped below, and a mutation missing from the map needs ADMIN (fail closed; a
contract test keeps the map complete). Checked once per operation, before execution, so
an operation with one field the credential may not use runs none of them.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationType,
    SelectionSetNode,
)
from graphql.utilities import get_operation_ast
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType as StrawberryOperationType

from domains.shared.context import RequestContext, Scope
from domains.shared.errors import ForbiddenError

MUTATION_SCOPES: dict[str, Scope] = {
    # configuration, onboarding and keys
    "createTenant": Scope.ADMIN,
    "promoteTenant": Scope.ADMIN,
    "resetSandbox": Scope.ADMIN,
    "setTenantDataRegion": Scope.ADMIN,
    "createCustomer": Scope.ADMIN,
    "setFeeSchedule": Scope.ADMIN,
    "setListedMarkets": Scope.ADMIN,
    "setRoutingPolicy": Scope.ADMIN,
    "setRiskWarning": Scope.ADMIN,
    "setBrand": Scope.ADMIN,
    "setProductPermissions": Scope.ADMIN,
    "setMarketStatus": Scope.ADMIN,
    "createMarket": Scope.ADMIN,
    "createPerpetualMarket": Scope.ADMIN,
    "postIndexPrice": Scope.ADMIN,
    "adjustBalance": Scope.ADMIN,
    "bustTrades": Scope.ADMIN,
    "openWallet": Scope.ADMIN,
    # compliance (design.md section 5): KYC decisions, levels, alerts, cases, lists, audit
    "setKycStatus": Scope.ADMIN,
    "setKycLevel": Scope.ADMIN,
    "openCase": Scope.ADMIN,
    "updateCase": Scope.ADMIN,
    "reloadSanctionsLists": Scope.ADMIN,
    "setAmlRules": Scope.ADMIN,
    "setSurveillanceParameters": Scope.ADMIN,
    "setAuditRetention": Scope.ADMIN,
    "purgeExpiredAuditRecords": Scope.ADMIN,
    "setRetentionPolicy": Scope.ADMIN,
    "purgeExpiredRecords": Scope.ADMIN,
    "issueApiKey": Scope.ADMIN,
    "rotateApiKey": Scope.ADMIN,
    "revokeApiKey": Scope.ADMIN,
    "issueCustomerToken": Scope.ADMIN,
    # billing (operators): plans and month closes
    "setBillingPlan": Scope.ADMIN,
    "closeBillingMonth": Scope.ADMIN,
    # trading: orders and moves between accounts that stay on the platform
    "placeOrder": Scope.TRADE,
    "cancelOrder": Scope.TRADE,
    "amendOrder": Scope.TRADE,
    "cancelAllOrders": Scope.TRADE,
    "countdownCancelAll": Scope.TRADE,
    # wind-down: RISK keys (READ + TRADE) may restrict their tenant; the roles are checked
    "setTenantTradingMode": Scope.TRADE,
    "transferFunds": Scope.TRADE,
    "sandboxFaucet": Scope.TRADE,  # test funds for a sandbox tenant's own accounts only
    "setLeverage": Scope.TRADE,
    "adjustIsolatedMargin": Scope.TRADE,
    "openSubAccount": Scope.TRADE,
    # customer onboarding through the institution's front end (the customer itself)
    "submitKyc": Scope.TRADE,
    "recordSuitability": Scope.TRADE,
    # funds leaving the platform (custody, design.md section 6)
    "requestWithdrawal": Scope.WITHDRAW,
    "approveWithdrawal": Scope.WITHDRAW,
    "rejectWithdrawal": Scope.WITHDRAW,
    "submitColdSignature": Scope.WITHDRAW,
    "requestRefill": Scope.WITHDRAW,
    # custody: addresses (funds coming in), treasury, governance, compliance, simulator
    "requestDepositAddress": Scope.TRADE,
    "sweepHotWallet": Scope.ADMIN,
    "setTreasurySettings": Scope.ADMIN,
    "setCustodyMode": Scope.ADMIN,
    "registerApprover": Scope.ADMIN,
    "proposeAddressBookEntry": Scope.ADMIN,
    "approveAddressBookEntry": Scope.ADMIN,
    "saveCustodyPolicyDraft": Scope.ADMIN,
    "publishCustodyPolicy": Scope.ADMIN,
    "setWithdrawalFrozen": Scope.ADMIN,
    "setWalletFrozen": Scope.ADMIN,
    "setAccountFrozen": Scope.ADMIN,
    "setAddressBlocked": Scope.ADMIN,
    "publishProofOfReserves": Scope.ADMIN,
    "simulateChainTransfer": Scope.ADMIN,
    "mineBlocks": Scope.ADMIN,
}
UNSCOPED_FIELDS = frozenset({"__typename", "__schema", "__type", "_service"})


def _root_fields(
    selection_set: SelectionSetNode,
    fragments: dict[str, FragmentDefinitionNode],
    seen: set[str],
) -> Iterator[FieldNode]:
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _root_fields(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in fragments and name not in seen:
                seen.add(name)
                yield from _root_fields(fragments[name].selection_set, fragments, seen)


def required_scopes(document: DocumentNode, operation_name: str | None) -> list[tuple[str, Scope]]:
    """(response key, scope) for each root field of the selected operation, in order."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return []
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    needed: list[tuple[str, Scope]] = []
    for field in _root_fields(operation.selection_set, fragments, set()):
        name, key = field.name.value, (field.alias or field.name).value
        if name in UNSCOPED_FIELDS:
            continue
        if operation.operation is OperationType.MUTATION:
            needed.append((key, MUTATION_SCOPES.get(name, Scope.ADMIN)))
        else:
            needed.append((key, Scope.READ))
    return needed


class AccessGuard(SchemaExtension):
    """Refuses an operation before it runs: UNAUTHENTICATED for a refused credential (with its
    reason and the server time), FORBIDDEN at the first root field needing a missing scope."""

    def on_execute(self) -> Iterator[None]:
        execution = self.execution_context
        context, document = execution.context, execution.graphql_document
        if isinstance(context, RequestContext):
            if context.auth_failure is not None:
                raise context.unauthenticated()
            if context.principal is not None and document is not None:
                self._check_scopes(context, document)
        yield

    def _check_scopes(self, context: RequestContext, document: DocumentNode) -> None:
        execution = self.execution_context
        for key, scope in required_scopes(document, execution.operation_name):
            try:
                context.require_scope(scope)
            except ForbiddenError as denied:
                if execution.operation_type is StrawberryOperationType.SUBSCRIPTION:
                    raise  # subscriptions ignore a preset result: the error ends the stream
                error = GraphQLError(denied.message, path=[key], original_error=denied)
                execution.result = ExecutionResult(data=None, errors=[error])
                return
