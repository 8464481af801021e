"""GET /dashboard: the real-time risk dashboard page, its static modules and the vendored chart
library, under a Content-Security-Policy that lets it reach nothing but this origin.

The page is static (plain ES modules, no build step); everything it shows it reads from
/graphql over HTTP and graphql-transport-ws with the credential the user pastes in. Imports
nothing from the rest of graph/.
"""

from __future__ import annotations

import re
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent.parent / "static"
PAGE_DIR = STATIC_DIR / "dashboard"
VENDOR_DIR = STATIC_DIR / "vendor"
# a Host header is echoed into connect-src only when it is a plain host[:port]
_HOST = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")


def content_security_policy(host: str | None) -> str:
    """Same origin only: scripts, styles, images and fonts from here, the GraphQL endpoint
    over HTTP and WebSocket (ws: and wss: of this host), no frames, no plugins, no forms
    elsewhere. 'self' covers same-origin WebSockets in CSP 3; the explicit ws(s) sources are
    for browsers that read CSP 2."""
    sockets = f" ws://{host} wss://{host}" if host and _HOST.match(host) else ""
    return "; ".join((
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        f"connect-src 'self'{sockets}",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ))  # fmt: skip


async def dashboard_page(request: Request) -> Response:
    """The page shell; the credential never travels in its URL (it lives in sessionStorage)."""
    response = FileResponse(PAGE_DIR / "index.html", media_type="text/html; charset=utf-8")
    response.headers.update({
        "content-security-policy": content_security_policy(request.headers.get("host")),
        "cache-control": "no-store",
        "referrer-policy": "no-referrer",
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
    })  # fmt: skip
    return response


def dashboard_routes() -> list[BaseRoute]:
    """/dashboard, its modules (/static/dashboard/), vendored libraries (/static/vendor/)."""
    return [
        Route("/dashboard", dashboard_page, methods=["GET"]),
        Mount("/static/dashboard", StaticFiles(directory=PAGE_DIR), name="dashboard-assets"),
        Mount("/static/vendor", StaticFiles(directory=VENDOR_DIR), name="vendor-assets"),
    ]
