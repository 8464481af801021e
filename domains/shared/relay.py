"""Relay-style cursor connections: opaque cursors, keyset pagination, bounded page sizes."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import strawberry

from domains.shared.errors import ValidationError

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class PageRequest:
    """A validated page request: how many items and which key to continue after."""

    first: int
    after_key: str | None


def encode_cursor(key: str) -> str:
    """Make an opaque cursor from a sort key."""
    return base64.urlsafe_b64encode(f"k:{key}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """Recover the sort key from a cursor; anything not minted by us is a VALIDATION error."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValidationError("after is not a valid cursor", field="after") from exc
    if not raw.startswith("k:") or len(raw) < 3:
        raise ValidationError("after is not a valid cursor", field="after")
    return raw[2:]


def page_request(first: int | None, after: str | None) -> PageRequest:
    """Validate ``first``/``after`` arguments into a PageRequest."""
    size = DEFAULT_PAGE_SIZE if first is None else first
    if size < 0 or size > MAX_PAGE_SIZE:
        raise ValidationError(
            f"first must be between 0 and {MAX_PAGE_SIZE}", field="first", max=MAX_PAGE_SIZE
        )
    return PageRequest(first=size, after_key=decode_cursor(after) if after else None)


@strawberry.federation.type(
    shareable=True, description="Where a page sits in a list, for cursor pagination (Relay)."
)
class PageInfo:
    has_next_page: bool = strawberry.field(description="True when more items follow this page.")
    end_cursor: str | None = strawberry.field(
        description="Cursor of the last item of this page; pass it as `after` for the next page."
    )


@strawberry.federation.type(
    shareable=True, description="One item of a list with the cursor that points at it."
)
class Edge(Generic[T]):
    node: T = strawberry.field(description="The item.")
    cursor: str = strawberry.field(description="Opaque cursor of this item.")


@strawberry.federation.type(
    shareable=True, description="A page of a list that can grow, Relay connection style."
)
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The items of this page with cursors.")
    page_info: PageInfo = strawberry.field(description="Pagination state of this page.")

    @strawberry.field(description="The items of this page, without cursors.")
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]


def build_connection(
    rows: Sequence[R], request: PageRequest, key: Callable[[R], str], node: Callable[[R], T]
) -> Connection[T]:
    """Build a connection from ``first + 1`` rows fetched in order (the extra row = has next)."""
    page = list(rows[: request.first])
    edges = [Edge(node=node(row), cursor=encode_cursor(key(row))) for row in page]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(rows) > request.first,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )
