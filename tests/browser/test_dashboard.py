"""The risk dashboard in a real browser (Playwright driving Debian's Chromium) against a real
`caas serve` on the embedded store, reached through a fault proxy: sign-in and its errors,
the numbers riskSummary returns, a mark change on the page within 1 s, liquidations and ADL
as they happen, tenant isolation, and reconnects that repair gaps without ever showing
stale numbers as live. Positions, marks and the second tenant are made through the API.

A page that stays signed in for the whole module (``watcher``) is screenshotted at the end
into var/dashboard.png (docs/dashboard.png in the README is a copy).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from graphql import parse, validate
from playwright.async_api import Browser, Page, async_playwright

from graph.ops.faultproxy import FaultProxy, ProxyThread
from graph.schema import PublicSchema
from tests.browser.risk_desk import PERP, Credential, RiskDesk, Trader
from tests.e2e.test_scale_out import Servers, _keys

pytestmark = [pytest.mark.browser, pytest.mark.store, pytest.mark.slow]

CHROMIUM = Path(os.environ.get("CAAS_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOT = Path(__file__).resolve().parents[2] / "var" / "dashboard.png"
LIVE = 'body[data-live="true"]'
MARK_CELL = f'#exposure-rows tr[data-market="{PERP}"] td[data-field="markPrice"]'

# the page's view of riskSummary, read from the cells' exact data-value decimals
PAGE_SUMMARY = """() => {
  const value = (node) => node ? node.dataset.value : null;
  const pairs = (id) => Object.fromEntries([...document.querySelectorAll(`#${id} [data-asset]`)]
    .map((n) => [n.dataset.asset, value(n.querySelector("[data-value]"))]));
  return {
    accounts: value(document.getElementById("kpi-accounts")),
    margin: pairs("kpi-margin"),
    insurance: pairs("kpi-insurance"),
    bands: Object.fromEntries([...document.querySelectorAll("#kpi-bands [data-band]")]
      .map((n) => [n.dataset.band, value(n.querySelector("[data-value]"))])),
    markets: Object.fromEntries([...document.querySelectorAll("#exposure-rows tr")]
      .map((tr) => [tr.dataset.market, Object.fromEntries([...tr.querySelectorAll("td[data-field]")]
        .map((td) => [td.dataset.field, td.dataset.value])) ])),
  };
}"""


def _expected(summary: dict[str, Any]) -> dict[str, Any]:
    """riskSummary over HTTP in the page's shape."""
    fields = ("markPrice", "longNotional", "shortNotional", "netNotional", "marginInUse")
    return {
        "accounts": str(summary["accountsWithPositions"]),
        "margin": {m["asset"]: m["amount"] for m in summary["marginInUse"]},
        "insurance": {f["asset"]: f["balance"] for f in summary["insuranceFunds"]},
        "bands": {b["name"]: str(b["accounts"]) for b in summary["marginRatioBands"]},
        "markets": {
            m["marketId"]: {**{f: m[f] for f in fields}, "openPositions": str(m["openPositions"])}
            for m in summary["markets"]
        },
    }


@dataclass
class Stack:
    """The server, the proxy pages go through, and the demo keys."""

    server: str
    page_base: str
    proxy: ProxyThread
    keys: dict[str, dict[str, Any]]

    def fault(self, action: str) -> None:
        """refuse, reset_all, blackhole or heal on the proxy in front of the pages."""
        calls = {"refuse": FaultProxy.refuse, "reset_all": FaultProxy.reset_all,
                 "blackhole": FaultProxy.blackhole, "heal": FaultProxy.heal}  # fmt: skip
        self.proxy.call(calls[action])


def _chromium() -> str:
    if CHROMIUM.exists():
        return str(CHROMIUM)
    reason = f"no Chromium at {CHROMIUM}: `apt-get install chromium` (.ci/run installs it)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def stack(mongodb_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`caas seed-demo` then `caas serve` on their own database; no index feed (the marks
    move only when a test posts an index), the in-process broker."""
    _chromium()  # skipped (failed in CI) before anything starts
    data = tmp_path_factory.mktemp("dashboard")
    database = f"test_dash_{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "MONGODB_URI": mongodb_uri, "MONGODB_DB": database,
           "CAAS_DATA_DIR": str(data), "LOG_LEVEL": "WARNING",
           "CAAS_INDEX_FEED_SECONDS": "0"}  # fmt: skip
    for name in ("REDIS_URL", "CAAS_ROLE", "PORT", "CAAS_REDIS_PREFIX"):
        env.pop(name, None)
    keys = _keys(env)
    servers = Servers(env, data)
    try:
        url = servers.start("dashboard", expect="writer")
        with ProxyThread(int(url.rsplit(":", 1)[1])) as proxy:
            yield Stack(url, f"http://127.0.0.1:{proxy.port}", proxy, keys)
    finally:
        servers.stop_all()


@dataclass
class Book:
    """Two demo traders holding opposite positions of 0.5 BTC-USDT-PERP at 64,000."""

    desk: RiskDesk
    dave: Trader
    cleo: Trader


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def book(stack: Stack) -> AsyncIterator[Book]:
    desk = RiskDesk(stack.server, stack.keys)
    dave, cleo = await desk.trader("Dave"), await desk.trader("Cleo")
    await desk.quiet("64000")
    await desk.open(dave, cleo, "0.5", "64000")
    yield Book(desk, dave, cleo)
    await desk.close()


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def browser(stack: Stack) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=_chromium(), args=["--no-sandbox"]
        )
        yield launched
        await launched.close()


PAGE_ERRORS: list[str] = []  # uncaught exceptions of any page: none, checked at each close


async def _page(browser: Browser) -> Page:
    context = await browser.new_context(viewport={"width": 1440, "height": 1000})
    page = await context.new_page()
    page.on("pageerror", lambda error: PAGE_ERRORS.append(str(error)))
    return page


async def _close(page: Page) -> None:
    await page.context.close()
    assert PAGE_ERRORS == []


async def _sign_in(page: Page, base: str, token: str) -> None:
    await page.goto(f"{base}/dashboard")
    await page.fill("#credential", token)
    await page.click("#sign-in-button")
    await page.wait_for_selector(LIVE, timeout=10_000)


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def watcher(stack: Stack, book: Book, browser: Browser) -> AsyncIterator[Page]:
    """The risk desk's page: signed in once, kept open until the screenshot."""
    page = await _page(browser)
    await _sign_in(page, stack.page_base, stack.keys["risk"]["token"])
    yield page
    await _close(page)


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Browser) -> AsyncIterator[Page]:
    opened = await _page(browser)
    yield opened
    await _close(opened)


async def _agrees(
    page: Page, desk: RiskDesk, key: Credential | None = None, within_s: float = 3.0
) -> None:
    """The page shows what riskSummary returns over HTTP (once its push arrived)."""
    deadline = time.monotonic() + within_s
    while True:
        expected = _expected(await desk.risk_summary(key))
        shown = await page.evaluate(PAGE_SUMMARY)
        if shown == expected or time.monotonic() > deadline:
            assert shown == expected
            return
        await asyncio.sleep(0.1)


async def _mark_shown(page: Page) -> str | None:
    return await page.get_attribute(MARK_CELL, "data-value")


async def test_a_bad_or_empty_key_shows_the_graphql_error_and_its_code(
    stack: Stack, page: Page
) -> None:
    response = await page.goto(f"{stack.page_base}/dashboard")
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert f"connect-src 'self' ws://127.0.0.1:{stack.proxy.port}" in policy
    await page.click("#sign-in-button")  # empty
    await page.wait_for_selector("#sign-in-error:not([hidden])")
    assert await page.get_attribute("#sign-in-error", "data-code") == "UNAUTHENTICATED"
    assert "needs credentials" in await page.inner_text("#sign-in-error-message")
    await page.fill("#credential", "key_nope.not-a-secret")
    await page.click("#sign-in-button")
    await page.wait_for_function("() => document.getElementById('sign-in-error-code')"
                                 ".textContent.includes('BAD_CREDENTIALS')")  # fmt: skip
    assert await page.inner_text("#sign-in-error-message") == (
        "the API key is unknown, revoked or malformed"
    )
    assert await page.is_hidden("#dashboard")
    assert await page.evaluate("() => sessionStorage.length") == 0


async def test_the_risk_key_signs_in_and_the_page_shows_what_risk_summary_returns(
    stack: Stack, book: Book, watcher: Page, page: Page
) -> None:
    token = stack.keys["risk"]["token"]
    await _sign_in(page, stack.page_base, token)
    assert token not in page.url and page.url.endswith("/dashboard")
    stored = await page.evaluate("() => sessionStorage.getItem('caas.dashboard.credential')")
    assert stored == token
    assert await page.inner_text("#brand-name") == "Demo Bank Crypto"  # tenant { brand }
    primary = await page.evaluate("() => getComputedStyle(document.documentElement)"
                                  ".getPropertyValue('--brand-primary').trim()")  # fmt: skip
    assert primary.upper() == "#0B5FFF"
    assert await page.inner_text("#tenant-status") == "ACTIVE"
    assert await page.get_attribute("#viewer", "data-role") == "RISK"
    await _agrees(page, book.desk)
    await _agrees(watcher, book.desk)
    riskiest = await page.eval_on_selector_all(
        "#riskiest-rows tr", "rows => rows.map(r => r.dataset.account)"
    )
    assert set(riskiest) == {book.dave.account_id, book.cleo.account_id}
    assert await page.get_attribute('#market-rows tr[data-market="BTC-USDT-PERP"] td[data-value]',
                                    "data-value") == "TRADING"  # fmt: skip
    # a RISK key sees no compliance alerts: the panel says so with the code
    assert await page.get_attribute('#panel-alerts [data-role="error"]', "data-code") == "FORBIDDEN"
    await page.reload()  # the session survives a reload (sessionStorage), no sign-in form
    await page.wait_for_selector(LIVE, timeout=10_000)
    assert await page.is_hidden("#sign-in")

    documents = await page.evaluate("""async () => {
      const ops = await import("/static/dashboard/operations.js");
      return Object.values(ops).map((op) => typeof op === "function" ? op(["a", "b"]) : op); }""")
    schema = PublicSchema()._schema
    for document in documents:
        assert validate(schema, parse(document)) == [], document


async def test_a_mark_change_posted_through_the_api_moves_the_page_within_one_second(
    stack: Stack, book: Book, watcher: Page
) -> None:
    await book.desk.quiet("64000")
    await _agrees(watcher, book.desk)
    started = time.monotonic()
    await book.desk.post_index("64500")
    await watcher.wait_for_function(
        "([cell, mark]) => document.querySelector(cell)?.dataset.value === mark",
        arg=[MARK_CELL, "64500"], timeout=1000,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, elapsed
    await _agrees(watcher, book.desk, within_s=1.0)  # notionals moved with it
    await watcher.wait_for_function("""() => {
      const marks = [...document.querySelectorAll('#riskiest-rows td[data-field="markPrice"]')];
      return marks.length > 0 && marks.every((cell) => cell.dataset.value === "64500"); }""",
                                    timeout=1000)  # fmt: skip


async def _liquidated_on_page(page: Page, account: str, step: str, within_ms: int) -> None:
    await page.wait_for_selector(f'#event-rows li[data-account="{account}"][data-step="{step}"]',
                                 timeout=within_ms, state="attached")  # fmt: skip


async def test_a_liquidation_appears_as_it_happens(stack: Stack, book: Book, watcher: Page) -> None:
    desk = book.desk
    await desk.quiet("64000")
    # Hal: isolated 50x long 0.1 at 64,000 (margin 128): liquidated at 62,971.9 and below,
    # bankrupt at 62,720 (prices stay within the market's 10% band around the last trade)
    hal = await desk.trader("Hal", usdt="1000")
    await desk.leverage(hal, 50, "ISOLATED")
    await desk.open(hal, book.cleo, "0.1", "64000")
    await watcher.wait_for_selector(f'#riskiest-rows tr[data-account="{hal.account_id}"]')
    assert await desk.order(book.dave, "BUY", "0.1", "62900") == "NEW"  # absorbs it
    await desk.post_index("62900")
    for step in ("STARTED", "ORDER_FILLED", "INSURANCE_CREDITED", "DONE"):
        await _liquidated_on_page(watcher, hal.account_id, step, within_ms=2000)
    await watcher.wait_for_selector(f'#riskiest-rows tr[data-account="{hal.account_id}"]',
                                    state="detached", timeout=2000)  # fmt: skip
    await _agrees(watcher, desk)  # the fund got the 18 the fill beat bankruptcy by (x 0.1)
    shown = await watcher.evaluate(PAGE_SUMMARY)
    assert shown["insurance"] == {"USDT": "18"}


async def test_another_tenants_positions_never_appear(
    stack: Stack, book: Book, watcher: Page, page: Page
) -> None:
    desk = book.desk
    await desk.quiet("64000")
    rival = await desk.tenant("Rival Bank", "#AA3300")
    rex = await desk.trader("Rex", admin=rival["tenant_admin"], compliance=rival["compliance"])
    rose = await desk.trader("Rose", admin=rival["tenant_admin"], compliance=rival["compliance"])
    await desk.open(rex, rose, "0.25", "64000")
    await desk.post_index("64100")  # both tenants' streams wake on the mark change

    await _sign_in(page, stack.page_base, rival["risk"].token)
    assert await page.inner_text("#brand-name") == "Rival Bank"
    primary = await page.evaluate("() => getComputedStyle(document.documentElement)"
                                  ".getPropertyValue('--brand-primary').trim()")  # fmt: skip
    assert primary.upper() == "#AA3300"
    await _agrees(page, desk, rival["risk"])
    await _agrees(watcher, desk)
    rival_page, demo_page = await page.content(), await watcher.content()
    theirs = {rex.account_id, rose.account_id, rex.customer_id, rose.customer_id}
    ours = {book.dave.account_id, book.cleo.account_id, book.dave.customer_id}
    assert not [found for found in theirs if found in demo_page]
    assert not [found for found in ours if found in rival_page]
    shown = await page.evaluate(PAGE_SUMMARY)
    assert shown["accounts"] == "2" and shown["markets"][PERP]["longNotional"] == "16025"


async def test_a_customer_token_sees_its_own_positions_and_not_the_tenants_risk(
    stack: Stack, book: Book, page: Page
) -> None:
    await _sign_in(page, stack.page_base, book.dave.credential.token)
    assert await page.get_attribute("#viewer", "data-role") == "TRADER"
    await page.wait_for_selector(f'#riskiest-rows tr[data-account="{book.dave.account_id}"]')
    rows = await page.eval_on_selector_all(
        "#riskiest-rows tr", "rows => rows.map(r => r.dataset.account)"
    )
    assert rows == [book.dave.account_id]
    assert await page.get_attribute('#panel-kpis [data-role="error"]', "data-code") == "FORBIDDEN"
    assert book.cleo.account_id not in await page.content()


async def _stale(page: Page, within_ms: int) -> None:
    await page.wait_for_selector('body[data-live="false"]', timeout=within_ms)
    await page.wait_for_selector('#connection[data-state="reconnecting"]', timeout=within_ms)
    for panel in ("panel-kpis", "panel-exposure", "panel-riskiest", "panel-events"):
        assert "stale" in (await page.get_attribute(f"#{panel}", "class") or ""), panel
    assert await page.is_visible("#stale-banner")
    assert await page.is_visible("#panel-exposure .stale-tag")


async def test_a_reconnect_repairs_what_was_missed_and_stale_numbers_are_never_shown_as_live(
    stack: Stack, book: Book, watcher: Page, page: Page
) -> None:
    desk = book.desk
    await desk.quiet("64000")
    ike = await desk.trader("Ike", usdt="1000")  # isolated 50x long: no bid below, so ADL
    await desk.leverage(ike, 50, "ISOLATED")
    await desk.open(ike, book.cleo, "0.1", "64000")
    await _sign_in(page, stack.page_base, stack.keys["risk"]["token"])
    await page.wait_for_selector(f'#riskiest-rows tr[data-account="{ike.account_id}"]')

    # the server out of reach: connections reset, new ones refused
    stack.fault("refuse")
    stack.fault("reset_all")
    await _stale(page, within_ms=3000)
    await desk.post_index("62900")  # Ike liquidated, auto-deleveraged against a short
    await desk.post_index("63500")
    await asyncio.sleep(0.5)
    assert await _mark_shown(page) == "64000"  # the old number, labelled stale above
    assert "stale" in (await page.get_attribute("#panel-exposure", "class") or "")
    assert not await page.query_selector(f'#event-rows li[data-account="{ike.account_id}"]')
    stack.fault("heal")
    await page.wait_for_selector(LIVE, timeout=15_000)
    assert await _mark_shown(page) == "63500"  # riskSummary's first message re-synced it
    for step in ("STARTED", "AUTO_DELEVERAGED", "DONE"):  # re-read: the stream cannot replay
        await _liquidated_on_page(page, ike.account_id, step, within_ms=2000)
    await _agrees(page, desk)

    # a network that goes silent (no RST): the missing pongs take the page out of live
    stack.fault("blackhole")
    await _stale(page, within_ms=9000)
    await desk.post_index("63600")
    await asyncio.sleep(0.3)
    assert await _mark_shown(page) == "63500"
    stack.fault("heal")
    await page.wait_for_selector(LIVE, timeout=15_000)
    assert await _mark_shown(page) == "63600"
    await _agrees(page, desk)
    await watcher.wait_for_selector(LIVE, timeout=15_000)  # the other page came back too
    await _agrees(watcher, desk)


async def test_a_screenshot_of_the_dashboard_is_saved_for_the_readme(
    stack: Stack, book: Book, watcher: Page
) -> None:
    desk = book.desk
    await desk.quiet("64000")
    # accounts in other bands: isolated 100x and 125x longs of 0.2 (WATCH / DANGER at 63,800)
    for name, leverage in (("Gail", 100), ("Hank", 125)):
        trader = await desk.trader(name, usdt="500")
        await desk.leverage(trader, leverage, "ISOLATED")
        await desk.open(trader, book.cleo, "0.2", "64000")
    for index in ("63900", "63850", "63800", "63880", "63820", "63800"):
        await desk.post_index(index)
        await asyncio.sleep(0.4)
    await _agrees(watcher, desk)
    index = f'#market-rows tr[data-market="{PERP}"] td[data-field="indexPrice"]'
    shows = "([cell, value]) => document.querySelector(cell)?.dataset.value === value"
    await watcher.wait_for_function(shows, arg=[index, "63800"], timeout=2000)
    shown = await watcher.evaluate(PAGE_SUMMARY)
    assert shown["bands"]["WATCH"] == "1" and shown["bands"]["DANGER"] == "1", shown["bands"]
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    await watcher.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 20_000
    if os.environ.get("CAAS_UPDATE_DOCS_SCREENSHOT"):  # refresh the README's copy on purpose
        shutil.copyfile(SCREENSHOT, SCREENSHOT.parents[1] / "docs" / "dashboard.png")
