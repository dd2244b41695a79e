#!/usr/bin/env node
// Writes the Hono schema type of every route, status and body of an OpenAPI document, so that
// `hc<AppType>` gives the call shape of the old Hono API: `client.api.expenses["fixed-costs"]
// [":userId"][":id"].$delete({ param: { userId, id } })`, with Hono's `ClientResponse` per status.
//
// It also writes the table of operations (operationId → method and path) from which the plain
// client makes one function per operation.
//
// Usage: node scripts/generate-app-type.mjs <openapi.json> <out dir>   (writes app-type.ts and
// operations.ts there)
//
// Bodies and payloads are not written here: each endpoint names its OpenAPI operation, and the
// types come from openapi-typescript's `paths` (src/generated/schema.ts) through src/hono-schema.ts.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const METHODS = ["get", "post", "put", "patch", "delete"];

/** `user_id` → `userId`: the old API named path parameters in camelCase, as every other field. */
export function camel(name) {
  return name.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());
}

/** `/api/x/{user_id}/{id}` → `/api/x/:userId/:id` (Hono's route syntax). */
export function honoPath(path) {
  return path.replace(/\{([^}]+)\}/g, (_, name) => `:${camel(name)}`);
}

function resolve(doc, item) {
  if (item && item.$ref) {
    const parts = item.$ref.replace(/^#\//, "").split("/");
    return parts.reduce((node, part) => node[part], doc);
  }
  return item;
}

function objectType(fields) {
  if (fields.length === 0) return "{}";
  return `{ ${fields.join("; ")} }`;
}

/** The Hono `input` of an operation: query, param and json, as the old routes' validators. */
function inputType(doc, path, method, operation, pathItem) {
  const parameters = [...(pathItem.parameters ?? []), ...(operation.parameters ?? [])].map((p) =>
    resolve(doc, p),
  );
  const key = (name) => (/^[A-Za-z_$][\w$]*$/.test(name) ? name : JSON.stringify(name));
  const field = (p, name) => `${key(name)}${p.required ? "" : "?"}: string`;
  const query = parameters.filter((p) => p.in === "query").map((p) => field(p, p.name));
  const param = parameters.filter((p) => p.in === "path").map((p) => field({ required: true }, camel(p.name)));
  const parts = [];
  if (query.length) parts.push(`query: ${objectType(query)}`);
  if (param.length) parts.push(`param: ${objectType(param)}`);
  const body = resolve(doc, operation.requestBody);
  if (body?.content?.["application/json"]) {
    parts.push(`json: JsonBody<${JSON.stringify(path)}, "${method}">`);
  }
  return objectType(parts);
}

/** One Hono endpoint per documented status: its payload type and response format. */
function endpoints(doc, path, method, operation, input) {
  return Object.entries(operation.responses ?? {})
    .filter(([status]) => /^\d{3}$/.test(status))
    .map(([status, response]) => {
      const content = resolve(doc, response).content ?? {};
      const [output, format] = content["application/json"]
        ? [`Output<${JSON.stringify(path)}, "${method}", ${status}>`, "json"]
        : content["text/plain"]
          ? ["string", "text"]
          : ["null", "body"];
      return `{ input: ${input}; output: ${output}; outputFormat: "${format}"; status: ${status} }`;
    });
}

/** `operationId → [method, path]` for every operation of the document. */
export function generateOperations(doc) {
  const rows = [];
  const seen = new Set();
  for (const [path, pathItem] of Object.entries(doc.paths ?? {})) {
    for (const method of METHODS) {
      const id = pathItem[method]?.operationId;
      if (!id) continue;
      if (seen.has(id)) throw new Error(`operationId ${id} is used twice in the document`);
      seen.add(id);
      rows.push(`  ${JSON.stringify(id)}: [${JSON.stringify(method)}, ${JSON.stringify(path)}],`);
    }
  }
  return `// Generated from openapi.json by scripts/generate-app-type.mjs: do not edit; \`npm run build\`
// regenerates it.

/** Every operation of the document: its method and path, by operationId. */
export const OPERATIONS = {
${rows.join("\n")}
} as const;
`;
}

export function generate(doc) {
  const routes = [];
  for (const [path, pathItem] of Object.entries(doc.paths ?? {})) {
    const methods = [];
    for (const method of METHODS) {
      const operation = pathItem[method];
      if (!operation) continue;
      const input = inputType(doc, path, method, operation, pathItem);
      const cases = endpoints(doc, path, method, operation, input);
      if (cases.length === 0) continue;
      methods.push(`    $${method}:\n      | ${cases.join("\n      | ")};`);
    }
    if (methods.length) routes.push(`  ${JSON.stringify(honoPath(path))}: {\n${methods.join("\n")}\n  };`);
  }
  return `// Generated from openapi.json by scripts/generate-app-type.mjs: do not edit; \`npm run build\`
// regenerates it.
import type { Hono } from "hono";
import type { BlankEnv } from "hono/types";
import type { JsonBody, Output } from "../hono-schema.js";

/** Every route of the document as a Hono schema: path → $method → one endpoint per status. */
export type AppSchema = {
${routes.join("\n")}
};

/** The service's routes as the type of a Hono app: give it to \`hc<AppType>\`. */
export type AppType = Hono<BlankEnv, AppSchema, "/">;
`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [input, outDir] = process.argv.slice(2);
  if (!input || !outDir) {
    console.error("usage: generate-app-type.mjs <openapi.json> <out dir>");
    process.exit(2);
  }
  const doc = JSON.parse(readFileSync(input, "utf8"));
  writeFileSync(join(outDir, "app-type.ts"), generate(doc));
  writeFileSync(join(outDir, "operations.ts"), generateOperations(doc));
}
