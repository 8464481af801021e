// GraphQL over HTTP to this origin's /graphql: one POST per operation, with a timeout, so a
// stalled network is reported as such instead of leaving a panel waiting forever.

export const ENDPOINT = "/graphql";

/** A GraphQL error (or a transport failure) with its `extensions.code`. */
export class GraphQLError extends Error {
  constructor(message, code, extensions = {}) {
    super(message);
    this.name = "GraphQLError";
    this.code = code || "UNKNOWN";
    this.extensions = extensions;
  }

  /** The first error of a GraphQL answer's `errors` list. */
  static from(errors) {
    const first = (errors && errors[0]) || {};
    const extensions = first.extensions || {};
    return new GraphQLError(first.message || "request failed", extensions.code, extensions);
  }

  /** "message (CODE, REASON)" as the page shows it. */
  get label() {
    const reason = this.extensions.reason ? `, ${this.extensions.reason}` : "";
    return `${this.code}${reason}`;
  }
}

export function authorization(credential) {
  return credential ? { Authorization: `Bearer ${credential}` } : {};
}

/**
 * POST one operation. Resolves to `{data, errors}` as the server answered (errors may come
 * with partial data); rejects with a GraphQLError coded NETWORK or TIMEOUT when there was no
 * answer, or with the server's error when a request error (no `data`) came back.
 */
export async function request(credential, query, variables = {}, { timeoutMs = 5000 } = {}) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  let response;
  try {
    response = await fetch(ENDPOINT, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/graphql-response+json, application/json",
        ...authorization(credential),
      },
      body: JSON.stringify({ query, variables }),
      signal: abort.signal,
      credentials: "omit",
      cache: "no-store",
    });
  } catch (error) {
    const timedOut = abort.signal.aborted;
    throw new GraphQLError(
      timedOut ? `no answer from ${ENDPOINT} within ${timeoutMs / 1000} s` : `network: ${error.message}`,
      timedOut ? "TIMEOUT" : "NETWORK",
    );
  } finally {
    clearTimeout(timer);
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new GraphQLError(`HTTP ${response.status} without a GraphQL answer`, "BAD_RESPONSE");
  }
  if (!("data" in body) || body.data === null) {
    if (body.errors && body.errors.length) throw GraphQLError.from(body.errors);
  }
  return { data: body.data || {}, errors: body.errors || [] };
}
