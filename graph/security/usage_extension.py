"""Counts every operation a tenant's credential runs for billing (domains/accounts/billing/
metering.py): in memory, no I/O on the request path. The only hook the meter needs in graph/.

Counted once per operation that passed parsing, validation, the limits and the access guard
(HTTP request or WebSocket ``subscribe``), by the caller's tenant; operators' calls, refused
operations and the fan-out's shared executions are not billed.
"""

from __future__ import annotations

from collections.abc import Iterator

from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from domains.accounts.billing.metering import UsageMeter
from domains.shared.context import RequestContext
from graph.security.query_limits import _internal_execution


class UsageCounter(SchemaExtension):
    """Schema extension: one count per executed operation of a tenant's caller."""

    def on_execute(self) -> Iterator[None]:
        execution = self.execution_context
        context = execution.context
        if (
            isinstance(context, RequestContext)
            and context.principal is not None
            and context.principal.tenant_id is not None
            and not execution.pre_execution_errors
            and execution.result is None  # not refused by the access guard or the audit trail
            and not _internal_execution(execution.root_value)
        ):
            meter = context.services.get(UsageMeter)
            if isinstance(meter, UsageMeter):
                mutation = execution.operation_type is OperationType.MUTATION
                meter.count(context.principal.tenant_id, mutation)
        yield
