"""The dashboard page's routes and headers, and that it loads nothing but its own modules and
the vendored uPlot, whose files still match the hashes the vendor README records."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import httpx
from starlette.applications import Starlette

from graph.http.dashboard import PAGE_DIR, VENDOR_DIR, dashboard_routes

IMPORT = re.compile(r"""^import\s[^"']*["']([^"']+)["'];""", re.M)


def _client() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=Starlette(routes=dashboard_routes()))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_the_page_is_served_under_a_same_origin_content_security_policy() -> None:
    async with _client() as client:
        response = await client.get("/dashboard")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert "connect-src 'self' ws://testserver wss://testserver" in policy
    assert "frame-ancestors 'none'" in policy and "unsafe" not in policy
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_a_host_header_that_is_not_a_plain_host_is_not_echoed_into_the_policy() -> None:
    async with _client() as client:
        hostile = await client.get("/dashboard", headers={"host": "evil.example; script-src *"})
        ipv6 = await client.get("/dashboard", headers={"host": "[::1]:8000"})
    assert "evil" not in hostile.headers["content-security-policy"]
    assert "ws://[::1]:8000" in ipv6.headers["content-security-policy"]


async def test_the_page_loads_only_its_own_modules_and_the_vendored_chart_library() -> None:
    html = (PAGE_DIR / "index.html").read_text()
    assert "http://" not in html and "https://" not in html and "<script>" not in html
    async with _client() as client:
        for path in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
            assert (await client.get(path)).status_code == 200, path
    for module in PAGE_DIR.glob("*.js"):
        for target in IMPORT.findall(module.read_text()):
            assert target.startswith(("./", "/static/vendor/")), (module.name, target)
            resolved = (
                PAGE_DIR / target if target.startswith("./") else VENDOR_DIR / Path(target).name
            )
            assert resolved.exists(), (module.name, target)
        assert "fetch(" not in module.read_text() or module.name == "graphql.js", module.name


def test_the_vendored_uplot_files_match_the_hashes_in_the_vendor_readme() -> None:
    readme = (VENDOR_DIR / "README.md").read_text()
    recorded = dict(
        re.findall(r"^\| (uPlot\.[\w.]+) \| (sha384-[A-Za-z0-9+/=]+) \|$", readme, re.M)
    )
    assert set(recorded) == {"uPlot.esm.js", "uPlot.min.css"}
    for name, integrity in recorded.items():
        digest = hashlib.sha384((VENDOR_DIR / name).read_bytes()).digest()
        assert integrity == "sha384-" + base64.b64encode(digest).decode(), name
    assert "MIT" in (VENDOR_DIR / "uPlot.LICENSE").read_text()
