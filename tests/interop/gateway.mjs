// A real Hive gateway (programmatic @graphql-hive/gateway-runtime) in front of our subgraphs.
//
// usage: node gateway.mjs <supergraph.graphql> <port>
// Serves the supergraph at http://127.0.0.1:<port>/graphql over HTTP and graphql-transport-ws,
// forwards `Authorization` to the subgraphs (as a header over HTTP, in the connection_init
// payload over WebSocket), and prints one JSON line {"ready": true, "port": n} once listening.
// Subgraph subscriptions go over graphql-transport-ws (design.md §8: the default, SSE,
// delivers nothing from strawberry).
import { createServer } from 'node:http';
import { createGatewayRuntime, getGraphQLWSOptions } from '@graphql-hive/gateway-runtime';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';

const [supergraph, portArg] = process.argv.slice(2);
if (!supergraph || !portArg) {
  process.stderr.write('usage: node gateway.mjs <supergraph.graphql> <port>\n');
  process.exit(2);
}

const gateway = createGatewayRuntime({
  supergraph,
  logging: process.env.GATEWAY_LOG_LEVEL ?? 'error',
  landingPage: false,
  graphiql: false,
  maskedErrors: false,
  propagateHeaders: {
    fromClientToSubgraphs: ({ request }) => ({
      authorization: request?.headers.get('authorization') ?? undefined,
    }),
  },
  transportEntries: {
    '*.http': {
      options: {
        subscriptions: {
          kind: 'ws',
          location: '/graphql',
          options: {
            connectionParams: { Authorization: '{context.connectionParams.Authorization}' },
          },
        },
      },
    },
  },
});

const server = createServer(gateway);
const wsServer = new WebSocketServer({ server, path: gateway.graphqlEndpoint });
useServer(
  getGraphQLWSOptions(gateway, (ctx) => ({
    req: ctx.extra?.request,
    socket: ctx.extra?.socket,
  })),
  wsServer,
);

async function shutdown() {
  wsServer.close();
  server.close();
  await gateway.dispose();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

// Load the supergraph before announcing readiness, so the first query does not race it.
await gateway.getSchema?.();
server.listen(Number(portArg), '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ ready: true, port: Number(portArg) }) + '\n');
});
