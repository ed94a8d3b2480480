// What a browser front end of the LiquiFact API does, as small async steps the browser tests
// (tests/browser/test_browser_flows.py) run one by one with liquifact.run(name, args).
//
// The page is served from an origin of its own; the API's base URL is its ?api= parameter, so
// every call is cross-origin: JSON bodies, the Authorization header and Idempotency-Key make
// the browser send a CORS preflight first. Every step resolves to plain JSON for the test to
// assert on, never throws for an HTTP error:
//   {status, ok, body, problem, headers}  an answer; `problem` is the application/problem+json
//                                          document of an error ({code, detail, ...}), else null;
//                                          `headers` holds the response headers a front end
//                                          reads (only those the API exposes are visible)
//   {networkError: "TypeError: ..."}      fetch itself rejected: the browser refused the
//                                          answer (CORS) or could not connect
// To add a step: one more entry in `steps` below, built on call(); the test runs it by name.
"use strict";

(() => {
  const api = new URL(new URLSearchParams(location.search).get("api") || "http://127.0.0.1:3001");

  // The signed-in principal of this page, as a front end keeps it (memory only).
  const session = { token: null, address: null };

  // The wallet, with the shape of the Freighter extension's API: getAddress() resolves to
  // {address}, signTransaction(xdr, {networkPassphrase, address}) to {signedTxXdr,
  // signerAddress}. The browser tests play it from Python (page.expose_function).
  const wallet = {
    getAddress: () => window.walletGetAddress(),
    signTransaction: (xdr, options) => window.walletSignTransaction(xdr, options),
  };

  // Response headers a front end reads (the API lists them in Access-Control-Expose-Headers).
  const READ_HEADERS = [
    "content-type",
    "x-correlation-id",
    "idempotent-replayed",
    "location",
    "etag",
    "ratelimit-remaining",
  ];

  async function call(method, path, { json, query, idempotencyKey, auth = true } = {}) {
    const url = new URL(path, api);
    for (const [name, value] of Object.entries(query || {})) {
      // An array is a repeatable parameter (status=a&status=b).
      for (const each of Array.isArray(value) ? value : [value]) {
        if (each !== undefined && each !== null) url.searchParams.append(name, String(each));
      }
    }
    const headers = {};
    if (auth && session.token) headers.Authorization = `Bearer ${session.token}`;
    if (json !== undefined) headers["Content-Type"] = "application/json";
    if (idempotencyKey !== undefined) headers["Idempotency-Key"] = idempotencyKey;
    let response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: json === undefined ? undefined : JSON.stringify(json),
        mode: "cors",
        credentials: "omit", // tokens travel in headers, never cookies
      });
    } catch (error) {
      return { networkError: `${error.name}: ${error.message}` };
    }
    const type = response.headers.get("content-type") || "";
    const text = await response.text();
    const body = type.includes("json") && text ? JSON.parse(text) : text;
    const read = {};
    for (const name of READ_HEADERS) {
      const value = response.headers.get(name);
      if (value !== null) read[name] = value;
    }
    const problem = type.startsWith("application/problem+json") ? body : null;
    return { status: response.status, ok: response.ok, body, problem, headers: read };
  }

  // SEP-10: challenge, wallet signature, token. An unknown wallet (401 WALLET_NOT_REGISTERED)
  // registers itself with the same signed challenge when a `role` is given (the server's
  // SELF_SERVICE_TENANT must be set). Resolves to {address, signedIn, registered, wallet,
  // first: {status, code} of POST /v1/auth, status, problem}; the token stays in the session.
  async function signIn({ role, profile } = {}) {
    const { address } = await wallet.getAddress();
    const challenge = await call("GET", "/v1/auth", { query: { account: address }, auth: false });
    if (!challenge.ok) return { address, signedIn: false, step: "challenge", ...challenge };
    const { transaction, network_passphrase: networkPassphrase } = challenge.body;
    const { signedTxXdr } = await wallet.signTransaction(transaction, { networkPassphrase, address });
    const proof = { transaction: signedTxXdr };
    const first = await call("POST", "/v1/auth", { json: proof, auth: false });
    if (first.networkError) return { address, signedIn: false, ...first };
    let answer = first;
    if (first.problem && first.problem.code === "WALLET_NOT_REGISTERED" && role) {
      // An SME may name itself ({displayName, country}): the marketplace shows it as issuer.
      const json = { ...proof, role, ...(profile || {}) };
      answer = await call("POST", "/v1/auth/register", { json, auth: false });
    }
    if (answer.ok) Object.assign(session, { token: answer.body.token, address });
    return {
      address,
      signedIn: Boolean(answer.ok),
      registered: answer !== first && answer.status === 201,
      wallet: (answer.ok && answer.body.wallet) || null,
      first: { status: first.status, code: first.problem ? first.problem.code : null },
      status: answer.status,
      problem: answer.problem,
    };
  }

  async function stellarToml() {
    const answer = await call("GET", "/.well-known/stellar.toml", { auth: false });
    if (!answer.ok) return answer;
    const fields = {};
    for (const line of answer.body.split("\n")) {
      const match = /^(\w+) = "(.*)"$/.exec(line.trim());
      if (match) fields[match[1]] = match[2];
    }
    return { ...answer, body: fields };
  }

  const steps = {
    stellarToml,
    signIn,
    signOut: async () => {
      Object.assign(session, { token: null, address: null });
      return {};
    },
    // GET /v1/marketplace with query parameters (sortBy, currency, status, q, limit, cursor).
    marketplace: (query = {}) => call("GET", "/v1/marketplace", { query }),
    // POST /v1/invoices as the signed-in SME: {invoiceNumber, buyerName, amount, ...}.
    submitInvoice: (invoice) => call("POST", "/v1/invoices", { json: invoice }),
    // POST /v1/invest/fund-invoice from the signed-in investor's own wallet.
    fundInvoice: ({ invoiceId, amountStroops, idempotencyKey }) =>
      call("POST", "/v1/invest/fund-invoice", {
        json: { invoiceId, investorAddress: session.address, amountStroops },
        idempotencyKey,
      }),
    // GET /v1/invoices/{id}: an investor gets the buyer-safe view of an investable invoice.
    invoice: ({ invoiceId }) => call("GET", `/v1/invoices/${encodeURIComponent(invoiceId)}`),
    // GET /v1/invoices/{id}/history: an investor gets the public state changes.
    history: ({ invoiceId }) =>
      call("GET", `/v1/invoices/${encodeURIComponent(invoiceId)}/history`),
    // GET /v1/investor/commitments: one item per commitment, newest first ({status, ...}).
    commitments: (query = {}) => call("GET", "/v1/investor/commitments", { query }),
    // GET /v1/investor/locks/{invoiceId}: the investor's commitment on one invoice.
    lock: ({ invoiceId }) => call("GET", `/v1/investor/locks/${encodeURIComponent(invoiceId)}`),
    // Any request: {method, path, json?, query?, idempotencyKey?, auth?}.
    call: ({ method, path, ...options }) => call(method, path, options),
  };

  window.liquifact = {
    api: api.href,
    session,
    run: (name, args) => {
      if (!Object.hasOwn(steps, name)) throw new Error(`no step named ${name}`);
      return steps[name](args ?? undefined); // Python None arrives as null
    },
  };
  document.addEventListener("DOMContentLoaded", () => {
    document.getElementById("api").textContent = api.href;
  });
})();
