"""Structured JSON logs with a request id, and Prometheus metrics."""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)

REQUESTS = Counter(
    "caas_http_requests_total", "HTTP requests by route and status.", ["route", "status"]
)
LATENCY = Histogram(
    "caas_http_request_seconds",
    "HTTP request latency by route.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_SECRETS = (
    (re.compile(r"([a-zA-Z][\w+.-]*://)[^/\s:@]+:[^/\s@]+@"), r"\1***@"),  # user:pass@ in URLs
    (re.compile(r"(?i)\b(bearer\s+)[^\s\"',;]+"), r"\1***"),  # Authorization values
    (re.compile(r"\b(key_[A-Za-z0-9_]+)\.[A-Za-z0-9_-]{16,}"), r"\1.***"),  # <keyId>.<secret>
)


def redact(text: str) -> str:
    """``text`` without credentials: URL passwords, bearer tokens, API key secrets."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str = "INFO") -> None:
    """Route every logger to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.formatter.converter = time.gmtime  # type: ignore[union-attr]
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("pymongo", "hypercorn.access"):
        logging.getLogger(noisy).setLevel("WARNING")


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _route_label(path: str) -> str:
    if path.startswith("/subgraphs/"):
        return "/subgraphs/" + path.split("/")[2]
    return path if path in {"/graphql", "/healthz", "/readyz", "/metrics"} else "other"


class RequestIdMiddleware:
    """Gives each HTTP request an id (or takes the caller's X-Request-ID), logs and counts it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log = logging.getLogger("caas.http")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")[:64]
        request_id = given if given.replace("-", "").isalnum() else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        status = {"code": 0}
        started = time.perf_counter()

        async def send_with_id(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if scope["type"] == "http":
                route = _route_label(scope["path"])
                elapsed = time.perf_counter() - started
                REQUESTS.labels(route, str(status["code"])).inc()
                LATENCY.labels(route).observe(elapsed)
                self.log.info(
                    "%s %s %s",
                    scope["method"],
                    scope["path"],
                    status["code"],
                    extra={"duration_ms": round(elapsed * 1000, 3)},
                )
            request_id_var.reset(token)


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus text: the HTTP metrics, then the process's own figures (engine writer and
    read models) as gauges, from ``app.state.figures`` when the app set one."""
    body = generate_latest()
    figures: Callable[[], dict[str, float]] | None = getattr(request.app.state, "figures", None)
    if figures is not None:
        lines = [f"# TYPE {name} gauge\n{name} {value:g}\n" for name, value in figures().items()]
        body += "".join(lines).encode()
    return Response(body, media_type=CONTENT_TYPE_LATEST)
