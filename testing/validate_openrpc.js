// Checks a node's rpc.discover document with the OpenRPC project's own validator, and system.reload
// params and the node's real system.health result against the schemas it declares (with Ajv). Exits non-zero naming what is wrong.
//
//   NODE_PATH=~/.cache/lemon/npm/node_modules node validate_openrpc.js doc.json health.json
"use strict";
const fs = require("fs");
const Ajv = require("ajv");
const { validateOpenRPCDocument } = require("@open-rpc/schema-utils-js");

function fail(what) {
  console.error(`FAIL: ${what}`);
  process.exit(1);
}

// A validator for `schema`, whose $refs point into `doc`'s components. (Ajv resolves the
// recursive ReloadReport; schema-utils' dereferenceDocument does not terminate on it.)
function compile(doc, schema) {
  return new Ajv({ strict: false }).compile({ ...schema, components: doc.components });
}

// The by-name params of `method` as one object schema.
function paramsSchema(method) {
  const properties = {};
  for (const p of method.params) properties[p.name] = p.schema;
  return { type: "object", properties, additionalProperties: false };
}

async function main() {
  const [docPath, healthPath] = process.argv.slice(2);
  const doc = JSON.parse(fs.readFileSync(docPath, "utf8"));
  const valid = validateOpenRPCDocument(doc);
  if (valid !== true) fail(`not a valid OpenRPC document: ${valid.message || valid}`);
  const method = (name) => doc.methods.find((m) => m.name === name) || fail(`no ${name}`);

  // Params: a call lemonctl makes is accepted, one with wrong types is not.
  const params = compile(doc, paramsSchema(method("system.reload")));
  const good = { module: "counter", timeout_ms: 500, code_change: [{ actor: "c", extra: "x" }] };
  if (!params(good)) fail(`valid system.reload params refused: ${JSON.stringify(params.errors)}`);
  if (params({ timeout_ms: "soon", force: "yes" })) fail("params of wrong types accepted");

  // Result: the node's real system.health answer matches the declared result schema.
  const health = JSON.parse(fs.readFileSync(healthPath, "utf8")).result;
  const result = compile(doc, method("system.health").result.schema);
  if (!result(health)) fail(`system.health result does not match: ${JSON.stringify(result.errors)}`);
  if (result({ ...health, actors: "many" })) fail("a result of the wrong type matched the schema");
  // The recursive report schema compiles and checks nested reports.
  const report = compile(doc, method("system.reload").result.schema);
  if (report({ results: [{ results: [{ status: 3 }] }] })) fail("a bad nested report matched");
  console.log(`ok: ${doc.methods.length} methods, OpenRPC ${doc.openrpc}, API ${doc.info.version}`);
}

main().catch((e) => fail(e.stack || e));
