// A graphql-transport-ws client (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md)
// that reconnects by itself: connection_init with the credential, subscribe/next/error/
// complete, ping/pong both ways. Subscriptions are kept here and sent again on every new
// connection, so a stream whose first message is the current state (riskSummary,
// positions) re-syncs by itself; each subscription's `start` runs whenever it is sent (again),
// where the page re-reads with queries what a stream cannot replay; `onStatus` tells the
// page when the link is live and when not.

const PROTOCOL = "graphql-transport-ws";
// errors a new attempt cannot fix: the subscription stays failed until the next sign-in
const PERMANENT = new Set([
  "FORBIDDEN", "VALIDATION", "NOT_FOUND", "UNAUTHENTICATED", "MARKET_NOT_LISTED",
  "QUERY_TOO_DEEP", "QUERY_TOO_COSTLY", "TOO_MANY_ALIASES",
]);

export const DEFAULTS = {
  pingIntervalMs: 3000, // a ping after 3 s without a message ...
  silenceTimeoutMs: 3000, // ... unanswered 3 s later: the link is dead
  ackTimeoutMs: 5000, // connect + connection_ack must take less than this
  backoffBaseMs: 500, // reconnect after 0.5, 1, 2, 4, 8 s ... (with jitter)
  backoffCapMs: 10000, // ... never waiting more than 10 s
  resubscribeMs: 1000, // a stream the server completed is asked for again after this
};

export class LiveConnection {
  /**
   * @param {string} url ws(s)://host/graphql
   * @param {() => object} connectionParams the connection_init payload, read on every attempt
   * @param {object} hooks onStatus(status), onAcknowledged(count), onRefused(code, reason)
   */
  constructor(url, connectionParams, hooks = {}, options = {}) {
    this.url = url;
    this.connectionParams = connectionParams;
    this.hooks = hooks;
    this.options = { ...DEFAULTS, ...options };
    this.subscriptions = new Map(); // key -> {payload, sink, id, failed}
    this.socket = null;
    this.acked = false;
    this.attempt = 0;
    this.connections = 0; // acknowledged connections so far
    this.stopped = true;
    this.serial = 0;
    this.timers = {};
    this.status = { state: "idle" };
    this.onOnline = () => this.reconnectNow();
  }

  start() {
    this.stopped = false;
    window.addEventListener("online", this.onOnline);
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.onOnline);
    this.clearTimers();
    if (this.socket) this.socket.close(1000, "signed out");
    this.socket = null;
    this.subscriptions.clear();
    this.setStatus({ state: "idle" });
  }

  /** Subscribe (now if connected, else once acknowledged); returns the unsubscribe. */
  subscribe(key, payload, sink) {
    const entry = { payload, sink, id: null, failed: false };
    this.subscriptions.set(key, entry);
    if (this.acked) this.sendSubscribe(key, entry);
    return () => {
      this.subscriptions.delete(key);
      if (entry.id && this.acked) this.send({ id: entry.id, type: "complete" });
    };
  }

  /** Drop the current link and connect again at once (the browser came back online). */
  reconnectNow() {
    if (this.stopped) return;
    this.attempt = 0;
    clearTimeout(this.timers.retry);
    if (this.socket) this.socket.close(4000, "reconnect");
    else this.connect();
  }

  connect() {
    if (this.stopped) return;
    this.clearTimers();
    this.acked = false;
    this.setStatus({ state: this.connections ? "reconnecting" : "connecting", attempt: this.attempt });
    let socket;
    try {
      socket = new WebSocket(this.url, PROTOCOL);
    } catch (error) {
      this.closed(socket, 1006, String(error));
      return;
    }
    this.socket = socket;
    this.timers.ack = setTimeout(() => this.drop(socket, "no connection_ack in time"),
                                 this.options.ackTimeoutMs);
    socket.onopen = () => {
      this.send({ type: "connection_init", payload: this.connectionParams() });
    };
    socket.onmessage = (event) => this.received(socket, event.data);
    socket.onclose = (event) => this.closed(socket, event.code, event.reason);
    socket.onerror = () => {}; // onclose follows with the code
  }

  received(socket, text) {
    if (socket !== this.socket) return;
    this.heard();
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      this.drop(socket, "a message that is not JSON");
      return;
    }
    switch (message.type) {
      case "connection_ack":
        this.acknowledged();
        break;
      case "ping":
        this.send({ type: "pong" });
        break;
      case "pong":
        break;
      case "next": // errors without data (FORBIDDEN, SLOW_CONSUMER ...) end the operation
        this.forSubscription(message.id, (key, entry) => {
          const errors = message.payload && message.payload.errors;
          if (errors && errors.length && !message.payload.data) this.failed(entry, errors);
          else entry.sink.next(message.payload.data, errors || []);
        });
        break;
      case "error":
        this.forSubscription(message.id, (key, entry) => {
          this.failed(entry, Array.isArray(message.payload) ? message.payload : [message.payload]);
          entry.id = null;
          if (!entry.failed) this.later(key, entry);
        });
        break;
      case "complete":
        this.forSubscription(message.id, (key, entry) => {
          entry.id = null;
          // e.g. after SLOW_CONSUMER: ask again, the first message re-syncs; never after FORBIDDEN
          if (!entry.failed) this.later(key, entry);
        });
        break;
      default:
        break;
    }
  }

  acknowledged() {
    clearTimeout(this.timers.ack);
    this.acked = true;
    this.attempt = 0;
    this.connections += 1;
    this.setStatus({ state: "live" });
    for (const [key, entry] of this.subscriptions) {
      if (!entry.failed) this.sendSubscribe(key, entry);
    }
    if (this.hooks.onAcknowledged) this.hooks.onAcknowledged(this.connections);
  }

  sendSubscribe(key, entry) {
    this.serial += 1;
    entry.id = `${key}-${this.serial}`;
    if (entry.sink.start) entry.sink.start(this.connections);
    this.send({ id: entry.id, type: "subscribe", payload: entry.payload });
  }

  later(key, entry) {
    setTimeout(() => {
      if (this.acked && this.subscriptions.get(key) === entry && entry.id === null) {
        this.sendSubscribe(key, entry);
      }
    }, this.options.resubscribeMs);
  }

  /** An operation refused or ended with errors; permanent ones are not asked for again. */
  failed(entry, errors) {
    const code = errors[0] && errors[0].extensions && errors[0].extensions.code;
    entry.failed = PERMANENT.has(code);
    entry.sink.error(errors, entry.failed);
  }

  forSubscription(id, fn) {
    for (const [key, entry] of this.subscriptions) {
      if (entry.id === id) {
        fn(key, entry);
        return;
      }
    }
  }

  /** Something arrived: the link is alive. Ping when idle, give up when silent too long. */
  heard() {
    clearTimeout(this.timers.ping);
    clearTimeout(this.timers.silence);
    const socket = this.socket;
    this.timers.ping = setTimeout(() => this.send({ type: "ping" }), this.options.pingIntervalMs);
    this.timers.silence = setTimeout(() => this.drop(socket, "no answer to ping"),
                                     this.options.pingIntervalMs + this.options.silenceTimeoutMs);
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
    }
  }

  /** Give up on a link that went quiet: close it and treat it as closed right away. */
  drop(socket, reason) {
    if (socket !== this.socket) return;
    try {
      socket.close(4000, reason);
    } catch {
      /* already closing */
    }
    this.closed(socket, 4000, reason);
  }

  closed(socket, code, reason) {
    if (socket !== undefined && socket !== this.socket) return; // an old link
    this.socket = null;
    this.acked = false;
    this.clearTimers();
    for (const entry of this.subscriptions.values()) entry.id = null;
    if (this.stopped) return;
    if ((code === 4403 || code === 4401) && this.hooks.onRefused) this.hooks.onRefused(code, reason);
    if (this.stopped) return;
    const delay = backoff(this.attempt, this.options);
    this.attempt += 1;
    this.setStatus({
      state: "reconnecting", attempt: this.attempt, code, reason, retryAt: Date.now() + delay,
    });
    this.timers.retry = setTimeout(() => this.connect(), delay);
  }

  clearTimers() {
    for (const timer of Object.values(this.timers)) clearTimeout(timer);
    this.timers = {};
  }

  setStatus(status) {
    this.status = status;
    if (this.hooks.onStatus) this.hooks.onStatus(status);
  }
}

/** Exponential backoff with full jitter in its upper half, capped. */
export function backoff(attempt, { backoffBaseMs, backoffCapMs }) {
  const ceiling = Math.min(backoffCapMs, backoffBaseMs * 2 ** attempt);
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

/** ws(s)://<this host>/graphql */
export function socketUrl(path = "/graphql") {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${window.location.host}${path}`;
}
