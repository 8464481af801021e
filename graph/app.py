"""create_app(settings) -> Starlette: /graphql, /subgraphs/<name>/graphql, health, metrics."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from cross_web import HTTPException
from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.schema import BaseSchema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from domains.shared.context import RequestContext
from graph.bootstrap import Platform
from graph.context import build_context
from graph.observability import RequestIdMiddleware, metrics_endpoint
from graph.schema import PublicSchema, build_subgraphs
from graph.settings import Settings


class GraphQLEndpoint(GraphQL[RequestContext, None]):
    """Strawberry's ASGI view with our context: principal from headers, wired services."""

    def __init__(self, schema: BaseSchema, platform: Platform) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if platform.settings.graphiql else None,
            allow_queries_via_get=True,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        )
        self.platform = platform

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Transport errors (bad JSON, wrong method) answer as GraphQL errors in JSON."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as exc:
            response = transport_error(exc.status_code, exc.reason, scope)
        await response(scope, receive, send)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> RequestContext:
        connection: HTTPConnection = request
        return await build_context(
            self.platform.services,
            connection.headers,
            connection.scope.get("state", {}).get("request_id"),
        )


TRANSPORT_CODES = {400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


def transport_error(status: int, reason: str, scope: Scope) -> Response:
    """A GraphQL-over-HTTP error response for a request that never reached execution.

    A mutation over GET is 405 with ``Allow: POST`` (GraphQL over HTTP), not strawberry's 400.
    """
    headers = {}
    if reason.startswith("mutations are not allowed when using GET"):
        status, headers = 405, {"allow": "POST"}
    elif status == 405:
        headers = {"allow": "GET, POST"}
    code = TRANSPORT_CODES.get(status, "BAD_REQUEST")
    body = {"errors": [{"message": reason, "extensions": {"code": code}}]}
    return JSONResponse(body, status_code=status, headers=headers)


def create_app(settings: Settings, mongodb_uri: str) -> Starlette:
    """The ASGI app. ``mongodb_uri`` is the store to use (embedded or MONGODB_URI)."""
    platform = Platform(settings, mongodb_uri)
    public = GraphQLEndpoint(PublicSchema(introspection=settings.introspection), platform)
    subgraphs = {
        name: GraphQLEndpoint(schema, platform)
        for name, schema in build_subgraphs(introspection=settings.introspection).items()
    }

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        checks = await platform.readiness()
        ready = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "unavailable", "checks": checks},
            status_code=200 if ready else 503,
        )

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await platform.start()
        try:
            yield
        finally:
            await platform.close()

    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
        Route("/graphql", public, methods=["GET", "POST"]),
        *[
            Route(f"/subgraphs/{name}/graphql", endpoint, methods=["GET", "POST"])
            for name, endpoint in subgraphs.items()
        ],
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.platform = platform
    app.add_middleware(RequestIdMiddleware)
    return app
