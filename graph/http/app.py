"""create_app(settings) -> Starlette: /graphql, /subgraphs/<name>/graphql, health, metrics, UI."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from pymongo.errors import ConnectionFailure
from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema import BaseSchema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET, UnsetType

from domains.shared.context import RequestContext
from graph.bootstrap import Platform
from graph.context import authenticate_connection_init, build_context
from graph.errors import STORE_UNAVAILABLE
from graph.http.dashboard import dashboard_routes
from graph.http.explorer import explorer_html
from graph.http.negotiation import APPLICATION_JSON, negotiate, response_media_type, shape
from graph.http.observability import RequestIdMiddleware, metrics_endpoint
from graph.http.payload_limits import (
    REQUEST_TOO_LARGE,
    PayloadTooLargeError,
    buffer_body,
    limit_websocket,
)
from graph.http.request_body import decode_json, graphql_request
from graph.reports.http import regulatory_endpoint, report_endpoint
from graph.reports.invoices import invoices_endpoint
from graph.schema import PublicSchema, build_subgraphs
from graph.security.authn import AuthRejectedError
from graph.security.query_limits import query_limits
from graph.security.ratelimit import (
    RequestRateLimiter,
    address_of,
    client_address,
    rate_limit_response,
)
from graph.settings import Settings
from graph.streams.fanout import FanoutRegistry
from graph.ws import GraphQLTransportWSHandler, WebSocketAdapter


class GraphQLEndpoint(GraphQL[RequestContext, None]):
    """Strawberry's ASGI view with our context: principal from headers, wired services."""

    # graphql-transport-ws close codes and message checks as the protocol defines them
    graphql_transport_ws_handler_class = GraphQLTransportWSHandler
    websocket_adapter_class = WebSocketAdapter

    def __init__(self, schema: BaseSchema, platform: Platform) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if platform.settings.graphiql else None,
            allow_queries_via_get=True,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        )
        self.platform = platform
        self.fanout = FanoutRegistry()  # serialize-once groups of this endpoint's streams

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Transport errors (bad JSON, wrong method) answer as GraphQL errors in JSON."""
        limits = self.platform.settings.limits
        address = client_address.set(address_of(scope, limits.trusted_proxy_hops))
        try:
            if scope["type"] == "websocket":
                receive, send = limit_websocket(receive, send, limits.max_ws_message_bytes)
                await super().__call__(scope, receive, send)
            else:
                await self._serve_http(scope, receive, send)
        finally:
            client_address.reset(address)

    async def _serve_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope=scope, receive=receive)
        media_type = negotiate(request.headers.get("accept"))
        wants_ide = request.method == "GET" and "text/html" in request.headers.get("accept", "")
        if media_type is None and not wants_ide:
            response = transport_error(406, "Accept application/graphql-response+json", scope)
            await response(scope, receive, send)
            return
        token = response_media_type.set(media_type or APPLICATION_JSON)
        try:
            max_bytes = self.platform.settings.limits.max_body_bytes
            request = Request(scope=scope, receive=await buffer_body(scope, receive, max_bytes))
            response = await self.run(request)
        except PayloadTooLargeError as exc:
            response = transport_error(413, str(exc), scope)
        except HTTPException as exc:
            response = transport_error(exc.status_code, exc.reason, scope)
        except ConnectionFailure:  # authentication could not read the key: retry later
            response = transport_error(503, STORE_UNAVAILABLE, scope)
        finally:
            response_media_type.reset(token)
        await response(scope, receive, send)

    def decode_json(self, data: str | bytes) -> object:
        """Strict JSON for bodies, query-string parameters and WebSocket messages alike."""
        return decode_json(data)

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter) -> GraphQLRequestData:
        """One GraphQL request from a GET query string or a JSON POST body, or a 400."""
        if request.method == "GET":
            data: object = self.parse_query_params(request.query_params)
        elif "application/json" in parse_content_type(request.content_type or "")[0]:
            data = self.parse_json(await request.get_body())
        else:  # also what keeps form posts (CSRF) from ever executing
            raise HTTPException(400, "Unsupported content type: send application/json")
        return graphql_request(data)

    async def execute_single(
        self, request: Request, request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response, context: RequestContext, root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:  # fmt: skip
        """Queries over GET or POST, mutations over POST, subscriptions only over the socket.

        Strawberry lets a subscription through over HTTP and runs it as a query, which fails
        inside (INTERNAL); here it is a 400 naming the transport to use.
        """
        method = request_adapter.method
        allowed = OperationType.from_http(method) - {OperationType.SUBSCRIPTION}
        try:
            return await self.schema.execute(
                request_data.query, root_value=root_value, context_value=context,
                variable_values=request_data.variables, allowed_operation_types=allowed,
                operation_name=request_data.operation_name,
                operation_extensions=request_data.extensions,
            )  # fmt: skip
        except CannotGetOperationTypeError as e:
            raise HTTPException(400, e.as_http_error_reason()) from e
        except InvalidOperationTypeError as e:
            if e.operation_type is OperationType.SUBSCRIPTION:
                raise HTTPException(400, SUBSCRIPTIONS_OVER_HTTP) from e
            raise HTTPException(400, e.as_http_error_reason(method)) from e
        except MissingQueryError as e:
            raise HTTPException(400, "No GraphQL query found in the request") from e

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        """Serve the negotiated media type with GraphQL-over-HTTP status codes."""
        media_type = response_media_type.get()
        body, status = shape(response_data, media_type)
        status, headers = rate_limit_response(body) or (status, {})
        response = Response(
            self.encode_json(body), status_code=status, headers=headers, media_type=media_type
        )
        response.headers.raw.extend(sub_response.headers.raw)
        if sub_response.status_code:
            response.status_code = sub_response.status_code
        return response

    @property
    def graphql_ide_html(self) -> str:
        """GraphiQL opening with our example operations."""
        return explorer_html()

    async def on_ws_connect(self, context: RequestContext) -> UnsetType | dict[str, object] | None:
        """graphql-transport-ws: credentials may come in connection_init's payload.

        ``{"Authorization": "Bearer <token>"}`` or the X-CAAS signature fields (README
        "Authentication"); refused credentials close 4403.
        """
        try:
            await authenticate_connection_init(context)
        except AuthRejectedError as rejected:
            raise ConnectionRejectionError({"reason": rejected.reason}) from None
        unset: UnsetType = UNSET
        return unset

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> RequestContext:
        connection: HTTPConnection = request
        return await build_context(
            self.platform.services,
            connection,
            connection.scope.get("state", {}).get("request_id"),
        )


VENDOR_DIR = Path(__file__).parent.parent / "static" / "vendor"
SUBSCRIPTIONS_OVER_HTTP = "subscriptions are served over the WebSocket (graphql-transport-ws) only"
TRANSPORT_CODES = {
    400: "BAD_REQUEST",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    413: REQUEST_TOO_LARGE,
    503: "UNAVAILABLE",
}


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
    media_type = response_media_type.get()
    return JSONResponse(body, status_code=status, headers=headers, media_type=media_type)


def _graphql_routes(path: str, endpoint: GraphQLEndpoint) -> list[BaseRoute]:
    """HTTP and WebSocket routes for one GraphQL endpoint.

    Every method reaches the endpoint, which answers GET and POST and refuses the others with
    a JSON 405 (Starlette's method check would answer in plain text).
    """
    return [Route(path, endpoint), WebSocketRoute(path, endpoint)]


def create_app(settings: Settings, mongodb_uri: str, subgraph: str | None = None) -> Starlette:
    """The ASGI app. ``mongodb_uri`` is the store to use (embedded or MONGODB_URI).

    With ``subgraph``, the process is that one subgraph alone (for a federation gateway):
    it serves it at /graphql and at /subgraphs/<name>/graphql, and nothing else.
    """
    platform = Platform(settings, mongodb_uri)
    limiter = (
        RequestRateLimiter(settings.limits, settings.redis_url)
        if settings.limits.rate_limits
        else None
    )
    limits = query_limits(settings.limits, limiter)
    if limiter is not None:  # build_context throttles addresses that keep failing to log in
        platform.services[RequestRateLimiter] = limiter
    schemas = build_subgraphs(introspection=settings.introspection, limits=limits)
    if subgraph is not None and subgraph not in schemas:
        raise ValueError(f"unknown subgraph {subgraph!r}; one of {', '.join(schemas)}")
    subgraphs = {
        name: GraphQLEndpoint(schema, platform)
        for name, schema in schemas.items()
        if subgraph in (None, name)
    }
    public = (
        subgraphs[subgraph]
        if subgraph is not None
        else GraphQLEndpoint(
            PublicSchema(introspection=settings.introspection, limits=limits), platform
        )
    )

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        checks = await platform.readiness()
        ready = all(checks.values())
        return JSONResponse(
            {
                "status": "ready" if ready else "unavailable",
                "checks": checks,
                "engine": platform.role,
                "engineSeq": platform.engine_seq,
            },
            status_code=200 if ready else 503,
        )

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await platform.start()
        try:
            yield
        finally:
            if limiter is not None:
                await limiter.close()
            await platform.close()

    routes = [
        Mount("/static/graphiql", StaticFiles(directory=VENDOR_DIR), name="graphiql-assets"),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
        *_graphql_routes("/graphql", public),
        *[
            route
            for name, endpoint in subgraphs.items()
            for route in _graphql_routes(f"/subgraphs/{name}/graphql", endpoint)
        ],
    ]
    if subgraph in (None, "compliance"):  # compliance report downloads (graph/reports/http.py)
        routes.append(Route("/reports/regulatory", regulatory_endpoint, methods=["GET"]))
        routes.append(Route("/reports/{kind}", report_endpoint, methods=["GET"]))
    if subgraph in (None, "accounts"):  # invoices (graph/reports/invoices.py), first: not a {kind}
        routes.insert(0, Route("/reports/invoices", invoices_endpoint, methods=["GET"]))
    if subgraph is None:  # the risk dashboard, fed by the composed graph (graph/http/dashboard.py)
        routes.extend(dashboard_routes())
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.platform = platform
    app.state.figures = platform.writer.figures  # /metrics: writer and read-model counters
    app.add_middleware(RequestIdMiddleware)
    return app
