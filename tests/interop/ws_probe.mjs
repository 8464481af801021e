// Drive graphql-transport-ws connections frame by frame with the npm `ws` client, to see how
// a server answers protocol errors (which close code, which reason).
//
// usage: node ws_probe.mjs '<json>' with json {"url", "timeoutMs", "scenarios": {name: {
//   "subprotocols": ["graphql-transport-ws"] (default), "steps": [step, ...]}}}
// steps: {"send": <object, sent as JSON>} | {"sendText": "<raw text>"} |
//        {"sendBinary": "<text>"} | {"recv": true} (wait for the next message) |
//        {"close": true} (wait for the server to close)
// stdout: {name: {"messages": [...], "code": <close code> | null, "reason", "protocol",
//                 "timedOut": bool}}; `code` null means the server left the socket open
// (the probe then closes it itself with 1000).
import WebSocket from 'ws';

const config = JSON.parse(process.argv[2]);
const timeoutMs = config.timeoutMs ?? 5000;

function probe({ subprotocols = ['graphql-transport-ws'], steps }) {
  return new Promise((resolve) => {
    const socket = new WebSocket(config.url, subprotocols);
    const result = { messages: [], code: null, reason: null, protocol: null, timedOut: false };
    const inbox = [];
    let waiter = null;
    let closed = false;
    let finished = false;

    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      if (!closed) socket.close(1000);
      resolve(result);
    };
    const timer = setTimeout(() => {
      result.timedOut = true;
      finish();
    }, timeoutMs);

    const wake = () => {
      if (waiter) {
        const w = waiter;
        waiter = null;
        w();
      }
    };
    socket.on('message', (data, isBinary) => {
      const text = data.toString('utf8');
      let message;
      try {
        message = JSON.parse(text);
      } catch {
        message = { unparsable: text, binary: isBinary };
      }
      result.messages.push(message);
      inbox.push(message);
      wake();
    });
    socket.on('close', (code, reason) => {
      closed = true;
      if (!finished) {
        result.code = code;
        result.reason = reason.toString('utf8');
      }
      wake();
    });
    socket.on('error', (error) => {
      result.error = String(error);
    });

    const next = () =>
      new Promise((res) => {
        if (inbox.length || closed) res();
        else waiter = res;
      });

    socket.on('open', async () => {
      result.protocol = socket.protocol || null;
      for (const step of steps) {
        if (closed) break;
        if ('send' in step) socket.send(JSON.stringify(step.send));
        else if ('sendText' in step) socket.send(step.sendText);
        else if ('sendBinary' in step) socket.send(Buffer.from(step.sendBinary), { binary: true });
        else if (step.recv) {
          await next();
          inbox.shift();
        } else if (step.close) {
          while (!closed) {
            await next();
            inbox.shift();
          }
        }
      }
      finish();
    });
    socket.on('unexpected-response', (_, response) => {
      result.code = null;
      result.reason = `HTTP ${response.statusCode}`;
      finish();
    });
  });
}

const names = Object.keys(config.scenarios);
const results = await Promise.all(names.map((name) => probe(config.scenarios[name])));
process.stdout.write(JSON.stringify(Object.fromEntries(names.map((n, i) => [n, results[i]]))));
