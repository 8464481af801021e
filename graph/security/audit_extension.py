"""Appends every mutation to the caller's tenant audit chain (domains/compliance/audit.py):
actor, role, tenant, time, source IP, operation, outcome, arguments and a before/after
summary. The only hook the audit trail needs in graph/.

Arguments of a refused or failed mutation are kept as a digest only (they may name objects
the caller could not see); secrets are never stored. The record is written before the
response leaves; a failure to write it is logged (the mutation has already happened).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
from graphql import ExecutionResult, FieldNode, FragmentDefinitionNode, OperationType
from graphql.utilities import get_operation_ast, value_from_ast_untyped
from strawberry.extensions import SchemaExtension

from domains.compliance.audit import BEFORE_NOTES, CLIENT_ADDRESS, PLATFORM_CHAIN, AuditEntry
from domains.compliance.audit_trail import AuditTrail
from domains.shared.context import RequestContext
from domains.shared.scalars import utcnow
from graph.security.access import _root_fields
from graph.security.ratelimit import client_address

SECRET_WORDS = ("secret", "password", "token", "signature", "privatekey", "mnemonic")
log = logging.getLogger("caas.audit")


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
        yield
        context = self.execution_context.context
        if not isinstance(context, RequestContext):
            return
        trail = context.services.get(AuditTrail)
        if not isinstance(trail, AuditTrail):
            return
        for entry in audit_entries(context, self.execution_context):
            try:
                await trail.append(entry)
            except Exception:
                log.exception("could not append to the audit trail",
                              extra={"operation": entry.operation})  # fmt: skip
