// Compose subgraph SDLs with @theguild/federation-composition and compare the public API
// schema it derives with the schema a server actually serves.
//
// stdin:  {"subgraphs": [{"name", "url", "sdl"}],
//          "compare": {<label>: {"introspection": <introspection result `data`>} | {"sdl"}}}
// stdout: {"ok", "errors": [{"message", "code"}], "ms", "supergraphSdl", "publicSdl",
//          "compared": {<label>: {"sdl", "equal"}}}
// Both schemas are normalised the same way (lexicographicSortSchema + printSchema) before
// they are compared, so only the order of definitions may differ.
import { composeServices, compositionHasErrors } from '@theguild/federation-composition';
import {
  buildClientSchema,
  buildSchema,
  lexicographicSortSchema,
  parse,
  printSchema,
} from 'graphql';

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

const normalise = (schema) => printSchema(lexicographicSortSchema(schema));

const input = await readStdin();
const services = input.subgraphs.map(({ name, url, sdl }) => ({
  name,
  url,
  typeDefs: parse(sdl),
}));

const started = performance.now();
const result = composeServices(services);
const ms = performance.now() - started;

const out = { ok: !compositionHasErrors(result), ms, errors: [] };
if (compositionHasErrors(result)) {
  out.errors = result.errors.map((e) => ({
    message: e.message,
    code: e.extensions?.code ?? null,
  }));
} else {
  out.supergraphSdl = result.supergraphSdl;
  out.publicSdl = normalise(buildSchema(result.publicSdl));
  out.compared = {};
  for (const [label, other] of Object.entries(input.compare ?? {})) {
    const schema = other.introspection
      ? buildClientSchema(other.introspection)
      : buildSchema(other.sdl);
    const sdl = normalise(schema);
    out.compared[label] = { sdl, equal: sdl === out.publicSdl };
  }
}
process.stdout.write(JSON.stringify(out));
