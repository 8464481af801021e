// Rendering: the model into the page's panels. Text goes in through textContent only (names,
// ids and summaries come from other people's input); each number cell keeps the exact
// decimal string the graph sent in data-value.

import { BANDS } from "./model.js";
import { clock, decimal, percent, rounded, shortId, until } from "./format.js";

const $ = (id) => document.getElementById(id);

function el(tag, attributes = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null) continue;
    if (name === "text") node.textContent = value;
    else if (name === "class") node.className = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

/** A number cell: shown grouped (or rounded), exact in data-value. */
function num(value, { places = null, field = null } = {}) {
  const shown = places === null ? decimal(value) : rounded(value, places);
  const negative = typeof value === "string" && value.startsWith("-");
  return el("td", { class: negative ? "num negative" : "num", text: shown,
                    "data-value": value ?? "", "data-field": field });
}

function replaceRows(body, rows) {
  body.replaceChildren(...rows);
}

function bandOf(ratio) {
  if (ratio >= 1) return "LIQUIDATION";
  if (ratio >= 0.8) return "DANGER";
  if (ratio >= 0.5) return "WATCH";
  return "SAFE";
}

export function renderSummary(model) {
  const summary = model.summary;
  if (!summary) return;
  const accounts = $("kpi-accounts");
  accounts.textContent = String(summary.accountsWithPositions);
  accounts.dataset.value = String(summary.accountsWithPositions);
  $("kpi-margin").replaceChildren(...amounts(summary.marginInUse.map((m) => [m.asset, m.amount]), "margin"));
  $("kpi-insurance").replaceChildren(...amounts(summary.insuranceFunds.map((f) => [f.asset, f.balance]), "insurance"));
  $("kpi-bands").replaceChildren(...BANDS.map((name) => {
    const band = summary.marginRatioBands.find((b) => b.name === name) || { accounts: 0 };
    return el("div", { class: `band band-${name.toLowerCase()}`, "data-band": name }, [
      el("span", { class: "band-count", text: String(band.accounts), "data-value": String(band.accounts) }),
      el("span", { class: "band-name", text: name.toLowerCase() }),
    ]);
  }));
  replaceRows($("exposure-rows"), summary.markets.map((market) => el("tr", { "data-market": market.marketId }, [
    el("th", { text: market.marketId, scope: "row" }),
    num(market.markPrice, { field: "markPrice" }),
    num(market.longNotional, { places: 2, field: "longNotional" }),
    num(market.shortNotional, { places: 2, field: "shortNotional" }),
    num(market.netNotional, { places: 2, field: "netNotional" }),
    num(market.marginInUse, { places: 2, field: "marginInUse" }),
    num(String(market.openPositions), { field: "openPositions" }),
  ])));
  $("exposure-empty").hidden = summary.markets.length > 0;
}

function amounts(pairs, field) {
  if (!pairs.length) return [el("span", { class: "muted", text: "none" })];
  return pairs.map(([asset, amount]) => el("div", { class: "amount", "data-asset": asset }, [
    el("span", { class: "figure", text: rounded(amount, 2), "data-value": amount, "data-field": field }),
    el("span", { class: "asset", text: ` ${asset}` }),
  ]));
}

export function renderRiskiest(model) {
  const rows = model.riskiest();
  $("riskiest-source").textContent = model.positionsStreamed
    ? "by margin ratio, every account of the tenant"
    : "among the 10 largest positions";
  replaceRows($("riskiest-rows"), rows.map(({ position, ratio, distance }) => el("tr", {
    "data-account": position.accountId, class: `risk-row risk-${bandOf(ratio).toLowerCase()}`, "data-band": bandOf(ratio),
  }, [
    el("td", { class: "id", text: shortId(position.accountId), title: position.accountId }),
    el("td", { text: position.market ? position.market.id : "–" }),
    el("td", { class: position.side === "LONG" ? "long" : "short", text: position.side.toLowerCase() }),
    num(position.quantity, { field: "quantity" }),
    num(position.markPrice, { field: "markPrice" }),
    num(position.liquidationPrice, { field: "liquidationPrice" }),
    el("td", { class: "num", text: distance === null ? "none" : percent(distance, 1), "data-field": "distance" }),
    num(position.marginRatio, { field: "marginRatio" }),
  ])));
  $("riskiest-empty").hidden = rows.length > 0;
}

const STEP_LABELS = {
  STARTED: "liquidation started", ORDERS_CANCELED: "orders canceled",
  ORDER_FILLED: "liquidation order filled", INSURANCE_PAID: "insurance fund paid",
  INSURANCE_CREDITED: "insurance fund credited", AUTO_DELEVERAGED: "ADL",
  DONE: "liquidation done",
};

export function renderEvents(model) {
  const items = model.sortedEvents().slice(0, 40).map((event) => {
    if (event.kind === "liquidation") {
      const s = event.step;
      const what = STEP_LABELS[s.step] || s.step;
      // STARTED: `amount` is equity - maintenance margin (`count`: positions concerned)
      const detail = s.step === "STARTED"
        ? [s.price && `at mark ${decimal(s.price)}`, `equity − maintenance ${decimal(s.amount)}`].filter(Boolean).join(" · ")
        : [s.quantity && `${decimal(s.quantity)} @ ${decimal(s.price)}`,
        s.amount !== "0" && `amount ${decimal(s.amount)}`,
        s.step.startsWith("INSURANCE") && `fund ${decimal(s.insuranceFundAfter)}`,
        s.counterpartyAccountId && `against ${shortId(s.counterpartyAccountId)}`].filter(Boolean).join(" · ");
      return el("li", { class: `event step-${s.step.toLowerCase()}`, "data-kind": s.step === "AUTO_DELEVERAGED" ? "adl" : "liquidation",
                        "data-step": s.step, "data-account": s.accountId, "data-id": s.id }, [
        el("time", { text: clock(s.at) }),
        el("span", { class: "tag", text: what }),
        el("span", { class: "id", text: shortId(s.accountId), title: s.accountId }),
        el("span", { class: "market", text: s.marketId || "" }),
        el("span", { class: "detail", text: detail }),
      ]);
    }
    if (event.kind === "funding") {
      const p = event.payment;
      return el("li", { class: "event funding", "data-kind": "funding", "data-account": p.accountId, "data-id": p.id }, [
        el("time", { text: clock(p.paidAt) }),
        el("span", { class: "tag", text: "funding" }),
        el("span", { class: "id", text: shortId(p.accountId), title: p.accountId }),
        el("span", { class: "market", text: p.marketId }),
        el("span", { class: "detail", text: `${decimal(p.amount)} ${p.asset} at rate ${percent(p.rate, 3)}` }),
      ]);
    }
    const r = event.round;
    return el("li", { class: "event funding", "data-kind": "funding" }, [
      el("time", { text: clock(event.at) }),
      el("span", { class: "tag", text: "funding" }),
      el("span", { class: "market", text: r.marketId }),
      el("span", { class: "detail", text: `settled (estimate was ${percent(r.rate, 3)})` }),
    ]);
  });
  $("event-rows").replaceChildren(...items);
  $("events-empty").hidden = items.length > 0;
}

export function renderAlerts(model) {
  const items = model.sortedAlerts().slice(0, 30).map((alert) => el("li", {
    class: `event alert severity-${String(alert.severity).toLowerCase()}`, "data-id": alert.id,
  }, [
    el("time", { text: clock(alert.detectedAt) }),
    el("span", { class: "tag", text: String(alert.severity).toLowerCase() }),
    el("span", { class: "detail", text: `${alert.rule}: ${alert.summary}` }),
    el("span", { class: "muted", text: alert.status }),
  ]));
  $("alert-rows").replaceChildren(...items);
  $("alerts-empty").hidden = items.length > 0;
}

export function renderMarkets(model) {
  const rows = model.markets.map((market) => {
    const mark = model.marks.get(market.id) || {};
    return el("tr", { "data-market": market.id }, [
      el("th", { text: market.id, scope: "row" }),
      el("td", { class: `status status-${market.status.toLowerCase()}`, text: market.status.toLowerCase().replace("_", " "),
                 "data-value": market.status }),
      num(mark.markPrice, { field: "markPrice" }),
      num(mark.indexPrice, { field: "indexPrice" }),
      el("td", { class: "num", text: mark.fundingRate === undefined ? "–" : percent(mark.fundingRate, 3),
                 "data-value": mark.fundingRate ?? "" }),
      el("td", { class: "num", text: until(mark.nextFundingAt), title: mark.nextFundingAt || "" }),
    ]);
  });
  replaceRows($("market-rows"), rows);
  const tenants = $("tenant-rows");
  tenants.hidden = model.tenants.length === 0;
  tenants.replaceChildren(...model.tenants.map((t) => el("li", {}, [
    el("span", { text: t.name }), el("span", { class: `badge status-${t.status.toLowerCase()}`, text: t.status }),
  ])));
}

export function renderTenant(tenant) {
  const status = $("tenant-status");
  status.hidden = !tenant;
  if (!tenant) return;
  $("tenant-name").textContent = tenant.name;
  status.textContent = tenant.status;
  status.className = `badge status-${tenant.status.toLowerCase()}`;
  status.dataset.value = tenant.status;
}

/** An error for a panel group: "message (CODE)"; null clears it. */
export function showPanelError(group, error) {
  for (const panel of document.querySelectorAll(`[data-panel="${group}"]`)) {
    const note = panel.querySelector('[data-role="error"]');
    if (!note) continue;
    note.hidden = !error;
    note.textContent = error ? `${error.message} (${error.label || error.code})` : "";
    if (error) note.dataset.code = error.code;
    else delete note.dataset.code;
    panel.classList.toggle("unavailable", Boolean(error) && error.permanent === true);
  }
}

/** Live or stale, per panel group. */
export function setFresh(group, fresh) {
  for (const panel of document.querySelectorAll(`[data-panel="${group}"]`)) {
    panel.classList.toggle("live", fresh);
    panel.classList.toggle("stale", !fresh);
  }
}

export function renderConnection(status, fresh) {
  const node = $("connection");
  node.dataset.state = status.state;
  let text = "connecting…";
  if (status.state === "live") text = "live";
  else if (status.state === "reconnecting") {
    const seconds = status.retryAt ? Math.max(0, Math.ceil((status.retryAt - Date.now()) / 1000)) : 0;
    text = seconds > 0 ? `reconnecting in ${seconds} s` : "reconnecting…";
  } else if (status.state === "idle") text = "signed out";
  node.textContent = text;
  const banner = $("stale-banner");
  banner.hidden = fresh;
  $("stale-detail").textContent = status.reason ? `(${status.reason})` : "";
}

export function renderViewer(viewer) {
  const who = viewer.customerId ? `customer ${shortId(viewer.customerId)}` : viewer.keyId;
  $("viewer").textContent = `${viewer.role} · ${who}`;
  $("viewer").dataset.role = viewer.role;
}
