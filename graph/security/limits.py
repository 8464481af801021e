"""Abuse limits configuration: every limit, its default and its environment variable.

Only configuration lives here (read by graph/settings.py); the limits themselves are enforced
by graph/security/query_limits.py (tokens, field repeats, directives, depth, aliases, cost;
the document's shape in graph/security/document_shape.py), graph/security/ratelimit.py
(requests per key or client address) and graph/http/payload_limits.py (request body and
WebSocket message size).
README "Limits" lists the same table for operators.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from limits import parse as parse_rate

from domains.shared.relay import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

MIB = 1024 * 1024


def _int(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, not {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value}")
    return value


def _rate(name: str, default: str) -> str:
    raw = os.environ.get(name, "").strip() or default
    try:
        parse_rate(raw)
    except ValueError:
        message = f"{name} must look like '600/minute' or '10 per second', not {raw!r}"
        raise ValueError(message) from None
    return raw


def _switch(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    return raw in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class LimitSettings:
    """Limits applied to every GraphQL endpoint (composed and subgraphs, HTTP and WebSocket)."""

    # Parser level, before any validation work
    max_tokens: int = 5_000
    max_comments: int = 200
    # Document shape, after parsing and before validation (graph/security/document_shape.py)
    max_field_repeats: int = 20  # one response key in one selection set, fragments included
    max_directives: int = 5  # on one location (field, fragment, operation, variable)
    # Validation level
    max_depth: int = 12
    max_aliases: int = 30
    # Cost (graph/security/cost.py documents the formula), checked after validation, before
    # execution
    max_cost: int = 10_000
    default_list_size: int = 10
    default_page_size: int = DEFAULT_PAGE_SIZE
    # Transport
    max_body_bytes: int = MIB
    max_ws_message_bytes: int = MIB
    # Rate limits: sliding windows in Redis (REDIS_URL) or in process
    rate_limits: bool = True
    rate_reads: str = "1200/minute"
    rate_mutations: str = "600/minute"
    rate_anonymous: str = "300/minute"
    rate_auth_failures: str = "30/minute"  # refused credentials per client address
    rate_key_prefix: str = "caas:ratelimit"
    trusted_proxy_hops: int = 0

    @property
    def max_page_size(self) -> int:
        """Connections refuse a larger `first` with VALIDATION (domains/shared/relay.py)."""
        return MAX_PAGE_SIZE

    @classmethod
    def from_env(cls) -> LimitSettings:
        d = cls()
        return cls(
            max_tokens=_int("CAAS_MAX_TOKENS", d.max_tokens),
            max_comments=_int("CAAS_MAX_COMMENTS", d.max_comments, minimum=0),
            max_field_repeats=_int("CAAS_MAX_FIELD_REPEATS", d.max_field_repeats),
            max_directives=_int("CAAS_MAX_DIRECTIVES", d.max_directives, minimum=0),
            max_depth=_int("CAAS_MAX_DEPTH", d.max_depth),
            max_aliases=_int("CAAS_MAX_ALIASES", d.max_aliases, minimum=0),
            max_cost=_int("CAAS_MAX_COST", d.max_cost),
            default_list_size=_int("CAAS_COST_LIST_SIZE", d.default_list_size),
            max_body_bytes=_int("CAAS_MAX_BODY_BYTES", d.max_body_bytes),
            max_ws_message_bytes=_int("CAAS_MAX_WS_MESSAGE_BYTES", d.max_ws_message_bytes),
            rate_limits=_switch("CAAS_RATE_LIMITS", d.rate_limits),
            rate_reads=_rate("CAAS_RATE_LIMIT_READS", d.rate_reads),
            rate_mutations=_rate("CAAS_RATE_LIMIT_MUTATIONS", d.rate_mutations),
            rate_anonymous=_rate("CAAS_RATE_LIMIT_ANONYMOUS", d.rate_anonymous),
            rate_auth_failures=_rate("CAAS_RATE_LIMIT_AUTH_FAILURES", d.rate_auth_failures),
            rate_key_prefix=os.environ.get("CAAS_RATE_LIMIT_PREFIX", "").strip()
            or d.rate_key_prefix,
            trusted_proxy_hops=_int("CAAS_TRUSTED_PROXY_HOPS", d.trusted_proxy_hops, minimum=0),
        )
