// Subscribe with the npm `graphql-ws` client (graphql-transport-ws) to one or more endpoints.
//
// usage: node subscribe.mjs '<json>' where json is
//   {"targets": [{"label", "url"}], "token", "query", "variables", "count", "timeoutMs"}
// Prints one JSON line per event: {"label", "event": "connected" | "next" | "error" |
// "complete" | "closed", ...}; a `next` line carries the received frame as text (`raw`) and
// its parsed payload. Exits 0 once every target has delivered `count` results, 1 on timeout.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const config = JSON.parse(process.argv[2]);
const count = config.count ?? 1;
const emit = (line) => process.stdout.write(JSON.stringify(line) + '\n');

/** A `ws` WebSocket that remembers the text of the last frame it received. */
function recordingWebSocket(label, frames) {
  return class RecordingWebSocket extends WebSocket {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (event) => {
        frames.push(String(event.data));
      });
    }
  };
}

const clients = [];
const pending = config.targets.map(({ label, url }) => {
  const frames = [];
  const client = createClient({
    url,
    webSocketImpl: recordingWebSocket(label, frames),
    connectionParams: config.token ? { Authorization: `Bearer ${config.token}` } : undefined,
    retryAttempts: 0,
    lazy: false,
    on: {
      connected: () => emit({ label, event: 'connected' }),
      closed: (event) => emit({ label, event: 'closed', code: event?.code ?? null }),
    },
  });
  clients.push(client);
  return new Promise((resolve, reject) => {
    let received = 0;
    const unsubscribe = client.subscribe(
      { query: config.query, variables: config.variables ?? {} },
      {
        next: (payload) => {
          const raw = frames.findLast((frame) => frame.includes('"next"')) ?? null;
          emit({ label, event: 'next', payload, raw });
          received += 1;
          if (received >= count) {
            unsubscribe();
            resolve();
          }
        },
        error: (error) => {
          emit({ label, event: 'error', error: Array.isArray(error) ? error : String(error) });
          reject(error);
        },
        complete: () => {
          emit({ label, event: 'complete' });
          resolve();
        },
      },
    );
  });
});

const timer = setTimeout(() => {
  emit({ event: 'timeout' });
  process.exit(1);
}, config.timeoutMs ?? 30000);

try {
  await Promise.all(pending);
  clearTimeout(timer);
  await Promise.all(clients.map((c) => c.dispose()));
  process.exit(0);
} catch {
  clearTimeout(timer);
  process.exit(1);
}
