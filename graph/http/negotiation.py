"""GraphQL over HTTP details strawberry leaves open: media type negotiation and status codes.

``application/graphql-response+json`` is served when the client prefers it, with 4xx for
request errors (no ``data`` entry); ``application/json`` keeps 200 for every GraphQL result.
"""

from __future__ import annotations

import contextvars
from typing import Any

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"

response_media_type: contextvars.ContextVar[str] = contextvars.ContextVar(
    "response_media_type", default=APPLICATION_JSON
)


def _media_ranges(accept: str) -> list[tuple[str, float, int]]:
    ranges = []
    for position, part in enumerate(accept.split(",")):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        quality = 1.0
        for param in fields[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media:
            ranges.append((media, quality, position))
    return ranges


def negotiate(accept: str | None) -> str | None:
    """The media type to answer with, or None when the client accepts neither JSON type.

    No Accept header means ``application/json`` (the legacy default of the spec).
    """
    if not accept or not accept.strip():
        return APPLICATION_JSON
    best: tuple[float, int, str] | None = None
    for media, quality, position in _media_ranges(accept):
        if quality <= 0:
            continue
        if media in (GRAPHQL_RESPONSE_JSON, APPLICATION_JSON):
            candidate = media
        elif media in ("*/*", "application/*"):
            candidate = APPLICATION_JSON
        else:
            continue
        exact_bonus = 0 if media.endswith("*") else 1
        key = (quality + exact_bonus * 1e-3, -position, candidate)
        if best is None or key[:2] > best[:2]:
            best = key
    return best[2] if best else None


def is_request_error(body: Any) -> bool:
    """True for a result that never began executing: errors, no data, no error paths."""
    if not isinstance(body, dict) or body.get("data") is not None or not body.get("errors"):
        return False
    return all("path" not in error for error in body["errors"])


def shape(body: Any, media_type: str) -> tuple[Any, int]:
    """The body and status code for a GraphQL result in ``media_type``."""
    if is_request_error(body):
        body = {key: value for key, value in body.items() if key != "data"}
        return body, 400 if media_type == GRAPHQL_RESPONSE_JSON else 200
    return body, 200
