// The dashboard: sign-in, then the caller's tenant live over graphql-transport-ws, with the
// gaps a reconnect leaves repaired by re-subscribing (streams that start with the current
// state) and by re-reading with queries what no stream replays. Every panel says whether
// its numbers are live; while the link is down or a panel has not re-synced, it is stale.

import { GraphQLError, request } from "./graphql.js";
import { LiveConnection, socketUrl } from "./transport-ws.js";
import * as ops from "./operations.js";
import { RiskModel } from "./model.js";
import * as view from "./view.js";
import { bandChart, markChart } from "./charts.js";
import { applyBrand, resetBrand } from "./brand.js";

const STORAGE_KEY = "caas.dashboard.credential";
const STATUS_EVERY_MS = 3000; // tenant, market status and marks: no stream carries them
const REREAD_AFTER_MS = 300; // re-read once the streams are subscribed again
const GROUPS = ["summary", "positions", "events", "alerts", "status"];
const $ = (id) => document.getElementById(id);

class Dashboard {
  constructor(credential, viewer) {
    this.credential = credential;
    this.viewer = viewer;
    this.model = new RiskModel();
    this.synced = Object.fromEntries(GROUPS.map((g) => [g, false])); // re-synced since the last ack
    this.unavailable = new Set(); // groups refused to this role (FORBIDDEN ...): nothing to be stale
    this.intervals = [];
    this.timeouts = new Set();
    this.status = { state: "connecting" };
    this.charts = { mark: markChart($("mark-chart")), band: bandChart($("band-chart")) };
  }

  start() {
    view.renderViewer(this.viewer);
    this.connection = new LiveConnection(socketUrl(), () => ({ Authorization: `Bearer ${this.credential}` }), {
      onStatus: (status) => this.connectionChanged(status),
      onAcknowledged: () => this.readStatus(), // the streams' own re-reads run from their sinks
      onRefused: () => this.recheckCredential(),
    });
    this.subscribeAll();
    this.connection.start();
    this.readStatus();
    this.intervals.push(setInterval(() => this.readStatus(), STATUS_EVERY_MS));
    this.intervals.push(setInterval(() => this.tick(), 1000));
  }

  stop() {
    this.stopped = true; // answers still on their way are dropped
    for (const timer of this.intervals) clearInterval(timer);
    for (const timer of this.timeouts) clearTimeout(timer);
    if (this.connection) this.connection.stop();
    this.charts.mark.destroy();
    this.charts.band.destroy();
  }

  later(fn, ms) {
    const timer = setTimeout(() => {
      this.timeouts.delete(timer);
      fn();
    }, ms);
    this.timeouts.add(timer);
  }

  subscribeAll() {
    const model = this.model;
    this.connection.subscribe("risk", { query: ops.RISK_SUMMARY }, this.sink("summary", {
      next: (data) => { // the first message after (re)subscribing is the current state
        model.setSummary(data.riskSummary);
        this.markSynced("summary");
        if (!model.positionsStreamed) this.markSynced("positions");
        this.sampleNow();
        this.render();
        this.readStatusSoon(); // a mark moved: its index and funding rate with it
      },
    }));
    this.connection.subscribe("liquidations", { query: ops.LIQUIDATIONS }, this.sink("events", {
      next: (data) => {
        model.mergeLiquidation(data.liquidations);
        view.renderEvents(model);
      },
      resync: (epoch) => this.readRecentLiquidations(epoch),
    }));
    this.connection.subscribe("alerts", { query: ops.ALERTS }, this.sink("alerts", {
      next: (data) => {
        model.mergeAlert(data.complianceAlerts);
        view.renderAlerts(model);
      },
      resync: (epoch) => this.readRecentAlerts(epoch),
    }));
    if (this.viewer.role === "RISK") this.followPositions([null]);
    else if (this.viewer.role === "TRADER") {
      model.positionsStreamed = true; // its own accounts' streams, once they are listed
      this.followOwnAccounts();
    }
  }

  /** positions(account:) streams: every account of the tenant (RISK) or one's own. Each
   * starts with every open position: what is not sent again within a second is gone. */
  followPositions(accounts) {
    const model = this.model;
    model.positionsStreamed = true;
    accounts.forEach((account, index) => {
      const variables = { account };
      this.connection.subscribe(`positions-${index}`, { query: ops.POSITIONS, variables }, this.sink("positions", {
        next: (data) => {
          model.mergePosition(data.positions.position);
          view.renderRiskiest(model);
        },
        resync: index > 0 ? null : (epoch) => {
          model.restartPositions();
          const generation = model.generation;
          this.later(() => {
            if (model.generation !== generation) return; // subscribed again meanwhile
            model.prunePositions();
            view.renderRiskiest(model);
            this.markSynced("positions", epoch);
          }, 1000);
        },
        resyncAfterMs: 0,
      }));
    });
  }

  async followOwnAccounts() {
    try {
      const { data } = await request(this.credential, ops.MY_ACCOUNTS);
      if (this.stopped) return;
      this.followPositions(data.accounts.nodes.slice(0, 5).map((a) => a.id));
    } catch (error) {
      view.showPanelError("positions", error);
    }
  }

  /** A stream's handlers. Whenever it is (re)subscribed its group is stale until re-synced:
   * by its first message, or by `resync` (a re-read), run once the subscription is sent. */
  sink(group, { next, resync = null, resyncAfterMs = REREAD_AFTER_MS }) {
    return {
      start: () => {
        this.synced[group] = false;
        this.refreshFreshness();
        const epoch = this.connection.connections; // a re-read re-syncs this connection only
        if (resync) this.later(() => resync(epoch), resyncAfterMs);
      },
      next: (data) => {
        view.showPanelError(group, null);
        this.unavailable.delete(group);
        next(data);
      },
      error: (errors, permanent) => {
        const error = GraphQLError.from(errors);
        error.permanent = permanent;
        if (permanent) this.unavailable.add(group);
        if (permanent && group === "summary" && !this.model.positionsStreamed) {
          this.unavailable.add("positions");
          view.showPanelError("positions", error);
        }
        view.showPanelError(group, error);
        this.refreshFreshness();
      },
    };
  }

  async readRecentLiquidations(epoch) {
    try {
      const { data } = await request(this.credential, ops.RECENT_LIQUIDATIONS);
      if (this.stopped) return;
      for (const step of data.liquidations.nodes) this.model.mergeLiquidation(step);
      view.renderEvents(this.model);
      this.markSynced("events", epoch);
    } catch (error) {
      view.showPanelError("events", error);
    }
  }

  async readRecentAlerts(epoch) {
    if (this.unavailable.has("alerts")) return;
    try {
      const { data } = await request(this.credential, ops.RECENT_ALERTS);
      if (this.stopped) return;
      for (const alert of data.complianceAlerts.nodes) this.model.mergeAlert(alert);
      view.renderAlerts(this.model);
      this.markSynced("alerts", epoch);
    } catch (error) {
      if (error.code === "FORBIDDEN") {
        error.permanent = true;
        this.unavailable.add("alerts");
        view.showPanelError("alerts", error);
        this.refreshFreshness();
      }
    }
  }

  /** readStatus at most every half second however often the marks move. */
  readStatusSoon() {
    if (this.statusPending) return;
    this.statusPending = true;
    this.later(() => {
      this.statusPending = false;
      this.readStatus();
    }, 500);
  }

  async readStatus() {
    const tenantId = this.viewer.tenantId;
    try {
      const { data, errors } = tenantId
        ? await request(this.credential, ops.TENANT_STATUS, { tenant: tenantId })
        : await request(this.credential, ops.PLATFORM_STATUS);
      if (this.stopped) return;
      const model = this.model;
      model.markets = data.markets || [];
      model.tenants = data.tenants ? data.tenants.nodes : [];
      if (data.tenant) {
        model.tenant = data.tenant;
        applyBrand(data.tenant.brand, data.tenant.name);
        view.renderTenant(data.tenant);
      }
      const settled = model.setMarks(data.markPrices || []);
      view.renderMarkets(model);
      view.showPanelError("status", errors.length ? GraphQLError.from(errors) : null);
      if (this.status.state === "live") this.markSynced("status");
      for (const round of settled) this.readFunding(round);
    } catch (error) {
      this.synced.status = false;
      view.showPanelError("status", error);
      this.refreshFreshness();
    }
  }

  /** A funding round settled: the payments of the accounts we follow on that market. */
  async readFunding(round) {
    const accounts = this.model.accountsOn(round.marketId);
    if (!accounts.length) {
      this.model.mergeFundingRound(round.marketId, round.settledAt, round.rate);
      view.renderEvents(this.model);
      return;
    }
    const variables = { market: round.marketId };
    accounts.forEach((id, index) => { variables[`a${index}`] = id; });
    try {
      const { data } = await request(this.credential, ops.fundingPayments(accounts), variables);
      if (this.stopped) return;
      for (const page of Object.values(data)) {
        for (const payment of page.nodes) this.model.mergeFunding(payment);
      }
      view.renderEvents(this.model);
    } catch (error) {
      view.showPanelError("events", error);
    }
  }

  async recheckCredential() {
    try {
      const { errors } = await request(this.credential, ops.VIEWER);
      if (errors.length) throw GraphQLError.from(errors);
    } catch (error) {
      if (error.code === "UNAUTHENTICATED" && !this.stopped) signOut(error);
    }
  }

  /** A group is live again; a re-read answered for an older connection does not count. */
  markSynced(group, epoch = this.connection.connections) {
    if (epoch !== this.connection.connections) return;
    this.synced[group] = true;
    this.refreshFreshness();
  }

  connectionChanged(status) {
    this.status = status;
    if (status.state !== "live") {
      for (const group of GROUPS) this.synced[group] = false;
    }
    this.refreshFreshness();
  }

  /** Live = connected, and re-synced since; refused groups are neither live nor stale. */
  refreshFreshness() {
    const connected = this.status.state === "live";
    let everything = connected;
    for (const group of GROUPS) {
      const fresh = connected && (this.synced[group] || this.unavailable.has(group));
      view.setFresh(group, fresh);
      everything = everything && fresh;
    }
    document.body.dataset.live = String(everything);
    view.renderConnection(this.status, connected);
  }

  tick() {
    this.sampleNow();
    view.renderConnection(this.status, this.status.state === "live");
  }

  sampleNow() {
    const live = this.status.state === "live" && this.synced.summary;
    this.model.sample(Date.now() / 1000, live);
    this.charts.mark.update(this.model);
    this.charts.band.update(this.model);
  }

  render() {
    view.renderSummary(this.model);
    view.renderRiskiest(this.model);
    view.renderMarkets(this.model);
  }
}

let current = null;

function showSignIn(error) {
  $("dashboard").hidden = true;
  $("session").hidden = true;
  $("sign-in").hidden = false;
  const box = $("sign-in-error");
  box.hidden = !error;
  if (error) {
    $("sign-in-error-message").textContent = error.message;
    $("sign-in-error-code").textContent = error.label || error.code;
    box.dataset.code = error.code;
  }
  $("credential").focus();
}

function signOut(error = null) {
  if (current) current.stop();
  current = null;
  sessionStorage.removeItem(STORAGE_KEY);
  resetBrand();
  showSignIn(error);
}

async function signIn(raw) {
  const credential = raw.trim().replace(/^Bearer\s+/i, "");
  const button = $("sign-in-button");
  button.disabled = true;
  try {
    const { data, errors } = await request(credential, ops.VIEWER);
    if (errors.length) throw GraphQLError.from(errors);
    sessionStorage.setItem(STORAGE_KEY, credential);
    $("credential").value = "";
    $("sign-in").hidden = true;
    $("dashboard").hidden = false;
    $("session").hidden = false;
    current = new Dashboard(credential, data.viewer);
    current.start();
  } catch (error) {
    sessionStorage.removeItem(STORAGE_KEY);
    showSignIn(error instanceof GraphQLError ? error : new GraphQLError(String(error), "CLIENT"));
  } finally {
    button.disabled = false;
  }
}

$("sign-in-form").addEventListener("submit", (event) => {
  event.preventDefault();
  signIn($("credential").value);
});
$("sign-out").addEventListener("click", () => signOut());

const saved = sessionStorage.getItem(STORAGE_KEY);
if (saved) signIn(saved);
else showSignIn(null);
