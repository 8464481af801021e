"""Marks every response to a sandbox tenant's credential with ``extensions.sandbox: true``.

The flag comes from the principal, which authentication built from the key's cached record
(graph/security/authn.py): no store read per request. Responses to live tenants, operators
and anonymous callers carry no ``sandbox`` entry at all. Imports nothing of the domains but
the request context.
"""

from __future__ import annotations

from typing import Any

from strawberry.extensions import SchemaExtension

from domains.shared.context import RequestContext

SANDBOX_EXTENSION = "sandbox"


class SandboxMarker(SchemaExtension):
    """``{"sandbox": true}`` in the response extensions of a sandbox tenant's request."""

    def get_results(self) -> dict[str, Any]:
        context = self.execution_context.context
        principal = context.principal if isinstance(context, RequestContext) else None
        if principal is not None and principal.sandbox:
            return {SANDBOX_EXTENSION: True}
        return {}
