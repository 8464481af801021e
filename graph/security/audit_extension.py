"""Appends every mutation to the caller's tenant audit chain (domains/compliance/audit.py):
actor, role, tenant, time, source IP, operation, outcome, arguments and a before/after
summary. The only hook the audit trail needs in graph/.

Arguments of a refused or failed mutation are kept as a digest only (they may name objects
the caller could not see); secrets are never stored. The record is written before the
response leaves when the store answers within ``RECORD_WAIT_S``; otherwise the response
leaves and the record stays queued in the trail, written as soon as the store answers
(domains/compliance/audit_trail.py: never dropped). While the trail's queue is full, new
mutations are refused with UNAVAILABLE before they run: none may happen unrecorded.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
from graphql import (
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    OperationType,
)
from graphql.utilities import get_operation_ast, value_from_ast_untyped
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType as StrawberryOperation

from domains.compliance.audit import BEFORE_NOTES, CLIENT_ADDRESS, PLATFORM_CHAIN, AuditEntry
from domains.compliance.audit_trail import AuditTrail
from domains.shared.context import RequestContext
from domains.shared.errors import UnavailableError
from domains.shared.scalars import utcnow
from graph.security.access import _root_fields
from graph.security.ratelimit import client_address

SECRET_WORDS = ("secret", "password", "token", "signature", "privatekey", "mnemonic")
RECORD_WAIT_S = 2.0  # a response waits this long for its audit records (then they stay queued)


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "[redacted]" if any(w in k.lower() for w in SECRET_WORDS) else _redact(v)
                for k, v in value.items()}  # fmt: skip
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


def _arguments(field: FieldNode, variables: dict[str, Any]) -> dict[str, Any]:
    return {
        arg.name.value: value_from_ast_untyped(arg.value, variables)
        for arg in field.arguments or ()
    }


def _outcome(key: str, result: ExecutionResult | None) -> str:
    for error in (result.errors if result is not None else None) or ():
        if not error.path or error.path[0] == key:
            extensions = error.extensions or {}
            return str(extensions.get("code", "INTERNAL"))
    if result is None or result.data is None or result.data.get(key) is None:
        return "NO_RESULT"
    return "OK"


def audit_entries(context: RequestContext, execution: Any) -> list[AuditEntry]:
    """One entry per root field of the mutation just executed."""
    principal, document = context.principal, execution.graphql_document
    operation = get_operation_ast(document, execution.operation_name) if document else None
    if principal is None or operation is None or operation.operation is not OperationType.MUTATION:
        return []
    fragments = {d.name.value: d for d in document.definitions
                 if isinstance(d, FragmentDefinitionNode)}  # fmt: skip
    variables = execution.variables or {}
    result = execution.result
    before_notes = context.transport.get(BEFORE_NOTES)
    befores = before_notes if isinstance(before_notes, dict) else {}
    entries = []
    for field in _root_fields(operation.selection_set, fragments, set()):
        key = (field.alias or field.name).value
        outcome = _outcome(key, result)
        arguments = _redact(_arguments(field, variables))
        if outcome != "OK":  # what was asked may name another tenant's objects: digest only
            digest = orjson.dumps(arguments, default=str, option=orjson.OPT_SORT_KEYS)
            arguments = {"sha256": hashlib.sha256(digest).hexdigest()}
        after = result.data.get(key) if outcome == "OK" and result and result.data else None
        entries.append(AuditEntry(
            tenant_id=principal.tenant_id or PLATFORM_CHAIN, actor=principal.key_id,
            role=principal.role.value, at=utcnow(),
            source_ip=str(context.transport.get(CLIENT_ADDRESS) or client_address.get()),
            operation=f"mutation {field.name.value}", outcome=outcome,
            request_id=context.request_id, arguments=arguments,
            before=befores.get(key) if outcome == "OK" else None, after=_redact(after),
        ))  # fmt: skip
    return entries


class AuditRecorder(SchemaExtension):
    """Schema extension: after a mutation executes, append its audit records."""

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        trail = context.services.get(AuditTrail) if isinstance(context, RequestContext) else None
        if not isinstance(trail, AuditTrail):
            yield
            return
        mutation = self.execution_context.operation_type is StrawberryOperation.MUTATION
        if mutation and trail.full:  # its record could not be kept: it does not run
            trail.stats.refused += 1
            refusal = UnavailableError("the audit trail cannot keep up with the store; retry")
            self.execution_context.result = ExecutionResult(
                data=None, errors=[GraphQLError(str(refusal), original_error=refusal)]
            )
            yield
            return
        yield
        entries = audit_entries(context, self.execution_context)
        # queued in order, one flush; kept (never dropped) when the store fails meanwhile
        await asyncio.gather(*(trail.record(entry, RECORD_WAIT_S) for entry in entries))
