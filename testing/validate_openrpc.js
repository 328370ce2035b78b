// Checks a node's rpc.discover document with the OpenRPC project's own validator, and one real
// call's params and result against the schemas it declares. Exits non-zero naming what is wrong.
//
//   NODE_PATH=~/.cache/lemon/npm/node_modules node validate_openrpc.js doc.json health.json
"use strict";
const fs = require("fs");
const Ajv = require("ajv");
const {
  validateOpenRPCDocument,
  dereferenceDocument,
  MethodCallValidator,
} = require("@open-rpc/schema-utils-js");

function fail(what) {
  console.error(`FAIL: ${what}`);
  process.exit(1);
}

async function main() {
  const [docPath, healthPath] = process.argv.slice(2);
  const doc = JSON.parse(fs.readFileSync(docPath, "utf8"));
  const valid = validateOpenRPCDocument(doc);
  if (valid !== true) fail(`not a valid OpenRPC document: ${valid.message || valid}`);
  const deref = await dereferenceDocument(doc);

  // Params: a call lemonctl makes is accepted, one with a wrong type is not.
  const calls = new MethodCallValidator(deref);
  const good = calls.validate("system.reload", {
    module: "counter", timeout_ms: 500, code_change: [{ actor: "c", extra: "x" }],
  });
  if (!Array.isArray(good) || good.length !== 0) {
    fail(`valid system.reload params refused: ${JSON.stringify(good)}`);
  }
  const bad = calls.validate("system.reload", { timeout_ms: "soon", force: "yes" });
  if (!Array.isArray(bad) || bad.length === 0) fail("system.reload params of wrong types accepted");

  // Result: the node's real system.health answer matches the declared result schema.
  const method = deref.methods.find((m) => m.name === "system.health");
  if (!method) fail("system.health is not in the document");
  const health = JSON.parse(fs.readFileSync(healthPath, "utf8")).result;
  const schema = { ...method.result.schema, additionalProperties: false };
  const check = new Ajv({ strict: false }).compile(schema);
  if (!check(health)) {
    fail(`system.health result does not match its schema: ${JSON.stringify(check.errors)}`);
  }
  if (check({ ...health, actors: "many" })) fail("a result of the wrong type matched the schema");
  console.log(`ok: ${doc.methods.length} methods, OpenRPC ${doc.openrpc}, API ${doc.info.version}`);
}

main().catch((e) => fail(e.stack || e));
