// Run graphql-http's GraphQL-over-HTTP server audits against endpoints.
//
// usage: node audit.mjs <url> [<url> ...]
// stdout: {"<url>": {"counts": {"MUST": {"ok", "fail"}, "SHOULD": {...}, "MAY": {...}},
//                    "failures": [{"id", "name", "status", "reason", "status_code", "body"}]}}
// An audit's level is the first word of its name; a MUST that is not ok is `error`, a SHOULD
// `warn`, a MAY `notice`.
import { serverAudits } from 'graphql-http';

async function audit(url) {
  const counts = {
    MUST: { ok: 0, fail: 0 },
    SHOULD: { ok: 0, fail: 0 },
    MAY: { ok: 0, fail: 0 },
  };
  const failures = [];
  for (const { id, name, fn } of serverAudits({ url })) {
    const level = name.split(' ')[0];
    const result = await fn();
    if (result.status === 'ok') {
      counts[level].ok += 1;
      continue;
    }
    counts[level].fail += 1;
    let body = null;
    try {
      body = await result.response.clone().text();
    } catch {
      body = null;
    }
    failures.push({
      id,
      name,
      status: result.status,
      reason: result.reason,
      status_code: result.response.status,
      content_type: result.response.headers.get('content-type'),
      body: body === null ? null : body.slice(0, 500),
    });
  }
  return { counts, failures };
}

const report = {};
for (const url of process.argv.slice(2)) {
  report[url] = await audit(url);
}
process.stdout.write(JSON.stringify(report));
