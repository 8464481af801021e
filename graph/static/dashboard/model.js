// What the dashboard knows, merged from streams and queries: the latest riskSummary, the
// tenant's open positions, liquidation and funding events, alerts, marks, and a few minutes
// of history for the charts. No DOM here.

import { liquidationDistance } from "./format.js";

export const BANDS = ["SAFE", "WATCH", "DANGER", "LIQUIDATION"];
export const HISTORY_SECONDS = 300; // the charts show the last 5 minutes
const MAX_EVENTS = 100;

export class RiskModel {
  constructor() {
    this.summary = null;
    this.positions = new Map(); // "account|market" -> {position, generation}
    this.generation = 0; // bumped on every (re)subscription of the positions stream
    this.positionsStreamed = false; // false: the riskiest table falls back to largestPositions
    this.events = new Map(); // "liq:<id>" / "fund:<id>" -> event
    this.alerts = new Map();
    this.marks = new Map(); // market -> MarkPrice
    this.markets = [];
    this.tenant = null;
    this.tenants = [];
    this.history = { t: [], marks: new Map(), bands: BANDS.map(() => []) };
  }

  setSummary(summary) {
    this.summary = summary;
    for (const market of summary.markets) {
      const known = this.marks.get(market.marketId) || { marketId: market.marketId };
      if (market.markPrice !== null) {
        this.marks.set(market.marketId, { ...known, markPrice: market.markPrice, streamed: true });
      }
    }
  }

  /** The positions stream starts again: what it does not send anew is gone. */
  restartPositions() {
    this.generation += 1;
    this.positionsStreamed = true;
  }

  prunePositions() {
    for (const [key, entry] of this.positions) {
      if (entry.generation < this.generation) this.positions.delete(key);
    }
  }

  /** One position from the stream; an older `sequence` than the one held is ignored. */
  mergePosition(position) {
    const key = `${position.accountId}|${position.market ? position.market.id : ""}`;
    const held = this.positions.get(key);
    if (held && held.generation === this.generation && held.position.sequence > position.sequence) {
      return;
    }
    if (position.side === "FLAT" || Number(position.quantity) === 0) this.positions.delete(key);
    else this.positions.set(key, { position, generation: this.generation });
    if (position.market && position.markPrice !== null) {
      const known = this.marks.get(position.market.id) || { marketId: position.market.id };
      this.marks.set(position.market.id, { ...known, markPrice: position.markPrice, streamed: true });
    }
  }

  /** One row per account, its worst position first: highest margin ratio, then closest to
   * liquidation. From the positions stream (RISK) or riskSummary's largest positions. */
  riskiest(limit = 8) {
    const source = this.positionsStreamed
      ? [...this.positions.values()].map((entry) => entry.position)
      : (this.summary ? this.summary.largestPositions : []);
    const byAccount = new Map();
    for (const position of source) {
      const row = { position, ratio: Number(position.marginRatio || 0), distance: liquidationDistance(position) };
      const held = byAccount.get(position.accountId);
      if (!held || worse(row, held)) byAccount.set(position.accountId, row);
    }
    return [...byAccount.values()].sort((a, b) => (worse(a, b) ? -1 : 1)).slice(0, limit);
  }

  mergeLiquidation(step) {
    this.events.set(`liq:${step.id}`, { kind: "liquidation", id: step.id, sequence: step.sequence, at: step.at, step });
    this.trimEvents();
  }

  mergeFunding(payment) {
    this.events.set(`fund:${payment.id}`, {
      kind: "funding", id: payment.id, sequence: payment.sequence, at: payment.paidAt, payment,
    });
    this.trimEvents();
  }

  /** A funding round seen only through the marks (no payment of an account we follow). */
  mergeFundingRound(marketId, settledAt, rate) {
    this.events.set(`round:${marketId}:${settledAt}`, {
      kind: "round", id: `${marketId}:${settledAt}`, sequence: 0, at: settledAt, round: { marketId, rate },
    });
    this.trimEvents();
  }

  /** Newest first: by time, then engine sequence, then id (ids are sortable). */
  sortedEvents() {
    return [...this.events.values()].sort(newestFirst);
  }

  trimEvents() {
    if (this.events.size <= MAX_EVENTS) return;
    const keep = new Set(this.sortedEvents().slice(0, MAX_EVENTS));
    for (const [key, event] of this.events) if (!keep.has(event)) this.events.delete(key);
  }

  mergeAlert(alert) {
    this.alerts.set(alert.id, alert);
  }

  sortedAlerts() {
    return [...this.alerts.values()].sort((a, b) => String(b.detectedAt).localeCompare(String(a.detectedAt)));
  }

  /** Marks from the markPrices query; returns the markets whose funding time moved on (a
   * funding round settled since the last read). A mark a stream pushed since the last read
   * is kept unless the answer is newer (a higher `sequence`), and an answer older than
   * one already applied is dropped: reads sent before a mark change may be answered after
   * it was pushed, or after a later read. */
  setMarks(markPrices) {
    const settled = [];
    for (const mark of markPrices) {
      const known = this.marks.get(mark.marketId);
      if (known && known.sequence !== undefined && mark.sequence < known.sequence) continue; // overtaken
      if (known && known.nextFundingAt && mark.nextFundingAt && known.nextFundingAt !== mark.nextFundingAt) {
        settled.push({ marketId: mark.marketId, settledAt: known.nextFundingAt, rate: known.fundingRate });
      }
      const older = known && known.streamed && known.sequence !== undefined && mark.sequence <= known.sequence;
      this.marks.set(mark.marketId, older ? { ...mark, markPrice: known.markPrice, streamed: true } : mark);
    }
    return settled;
  }

  /** Accounts holding a position on a market (whose funding payments to read). */
  accountsOn(marketId, limit = 10) {
    const ids = new Set();
    for (const { position } of this.positions.values()) {
      if (position.market && position.market.id === marketId) ids.add(position.accountId);
    }
    return [...ids].slice(0, limit);
  }

  perpetuals() {
    const kinds = new Map(this.markets.map((m) => [m.id, m.kind]));
    return [...this.marks.keys()].filter((id) => kinds.get(id) !== "SPOT").sort();
  }

  /** One chart sample at `nowSeconds`: marks and band counts, or a gap (nulls) when stale. */
  sample(nowSeconds, live) {
    const history = this.history;
    const last = history.t.length ? history.t[history.t.length - 1] : -Infinity;
    if (nowSeconds <= last) return;
    history.t.push(nowSeconds);
    const size = history.t.length;
    for (const market of this.perpetuals()) {
      if (!history.marks.has(market)) history.marks.set(market, new Array(size - 1).fill(null));
    }
    for (const [market, values] of history.marks) {
      const mark = this.marks.get(market);
      values.push(live && mark && mark.markPrice !== undefined ? Number(mark.markPrice) : null);
    }
    const bands = this.summary ? this.summary.marginRatioBands : [];
    BANDS.forEach((name, index) => {
      const band = bands.find((b) => b.name === name);
      history.bands[index].push(live && band ? band.accounts : null);
    });
    while (history.t.length && history.t[0] < nowSeconds - HISTORY_SECONDS) {
      history.t.shift();
      for (const values of history.marks.values()) values.shift();
      for (const values of history.bands) values.shift();
    }
  }
}

function newestFirst(a, b) {
  return String(b.at).localeCompare(String(a.at)) || Number(b.sequence) - Number(a.sequence)
    || String(b.id).localeCompare(String(a.id));
}

function worse(a, b) {
  if (a.ratio !== b.ratio) return a.ratio > b.ratio;
  const da = a.distance === null ? Infinity : a.distance;
  const db = b.distance === null ? Infinity : b.distance;
  return da < db;
}
