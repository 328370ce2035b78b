// A generic JSON-RPC 2.0 client (the npm package json-rpc-2.0) against a running lemond: a call
// that works resolves, and a reload that fails rejects with the documented error code and the
// reload report in error.data (docs/control-plane.md, "Errors"), as any client library sees it.
//   node jsonrpc_client_test.js <control_port> <token_file>
"use strict";
const fs = require("fs");
const { JSONRPCClient, JSONRPCErrorException } = require("json-rpc-2.0");

const [port, tokenFile] = process.argv.slice(2);
const token = fs.readFileSync(tokenFile, "utf8").trim();
const client = new JSONRPCClient(async (request) => {
  const response = await fetch(`http://127.0.0.1:${port}/rpc`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify(request),
  });
  if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
  client.receive(await response.json());
});

function check(condition, what) {
  if (!condition) throw new Error(what);
}

// Resolves only when the call is refused with `code`; returns the error.
async function refused(method, params, code) {
  try {
    const result = await client.request(method, params);
    throw new Error(`${method} resolved: ${JSON.stringify(result)}`);
  } catch (e) {
    check(e instanceof JSONRPCErrorException, `${method}: not a JSON-RPC error: ${e}`);
    check(e.code === code, `${method}: code ${e.code}, wanted ${code}: ${e.message}`);
    return e;
  }
}

async function main() {
  const health = await client.request("system.health", {});
  check(typeof health.node === "string" && health.status === "ok", "system.health result");
  const versions = async () =>
    (await client.request("actors.list", { module: "counter" })).actors.map((a) => a.version);
  const before = await versions();
  check(before.length > 0, "no counter actors");

  // modules/counter.so was replaced by a shared object without an entry point.
  const failed = await refused("system.reload", { scope: "module", module: "counter" }, -32003);
  const report = failed.data && failed.data.report;
  check(report && report.status === "error", `error.data.report: ${JSON.stringify(failed.data)}`);
  check(report.errors[0].reason === "bad_abi", `reason ${report.errors[0].reason}`);
  check(JSON.stringify(await versions()) === JSON.stringify(before), "actors changed version");

  const missing = await refused("system.reload", { scope: "module", module: "nope" }, -32004);
  check(missing.data.reason === "not_found", `not found: ${JSON.stringify(missing.data)}`);
  await refused("system.reload", { scope: "extension", path: "/etc/passwd" }, -32005);
  await refused("no.such.method", {}, -32601);
  console.log("ok: a failed reload rejects with -32003 and its report; -32004, -32005, -32601");
}

main().catch((e) => {
  console.error(`FAIL: ${e.message}`);
  process.exit(1);
});
