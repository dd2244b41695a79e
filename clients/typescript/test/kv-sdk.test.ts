// Cloudflare's official TypeScript SDK, pointed at kv-emulator with `baseURL`: every Workers KV
// operation it has.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import Cloudflare from "cloudflare";

import { startEmulator, type Emulator } from "./service.js";

const account_id = "local";
const namespace_id = "formula";
let emulator: Emulator;
let cf: Cloudflare;

before(async () => {
  emulator = await startEmulator([namespace_id, "other"]);
  cf = new Cloudflare({ apiToken: emulator.token, baseURL: emulator.apiBase, maxRetries: 0 });
});

after(() => emulator?.close());

const ids = { account_id, namespace_id };

test("values: update (multipart with metadata and expiration_ttl), get, delete; metadata.get", async () => {
  const before = Math.floor(Date.now() / 1000);
  await cf.kv.namespaces.values.update("user:1", {
    ...ids,
    value: JSON.stringify({ plan: "free" }),
    metadata: JSON.stringify({ source: "sdk" }),
    expiration_ttl: 120,
  });
  const value = await cf.kv.namespaces.values.get("user:1", ids);
  assert.deepEqual(JSON.parse(await value.text()), { plan: "free" });
  const expiration = Number(value.headers.get("expiration"));
  assert.ok(expiration >= before + 120 && expiration <= before + 122, `expiration ${expiration}`);
  assert.deepEqual(await cf.kv.namespaces.metadata.get("user:1", ids), { source: "sdk" });

  await cf.kv.namespaces.values.update("plain", { ...ids, value: "text" });
  assert.equal(await (await cf.kv.namespaces.values.get("plain", ids)).text(), "text");
  assert.equal(await cf.kv.namespaces.metadata.get("plain", ids), null);

  assert.equal(await cf.kv.namespaces.values.delete("user:1", ids), null);
  await assert.rejects(cf.kv.namespaces.values.get("user:1", ids), Cloudflare.NotFoundError);
  await assert.rejects(cf.kv.namespaces.metadata.get("user:1", ids), Cloudflare.NotFoundError);
});

test("a refused TTL and a bad token are the SDK's typed errors", async () => {
  await assert.rejects(
    cf.kv.namespaces.values.update("short", { ...ids, value: "x", expiration_ttl: 59 }),
    (error: unknown) => error instanceof Cloudflare.BadRequestError && /at least 60/.test(error.message),
  );
  const stranger = new Cloudflare({ apiToken: "wrong", baseURL: emulator.apiBase, maxRetries: 0 });
  await assert.rejects(stranger.kv.namespaces.values.get("plain", ids), Cloudflare.PermissionDeniedError);
});

test("bulkUpdate, bulkGet (text, json, with metadata), bulkDelete", async () => {
  const written = await cf.kv.namespaces.bulkUpdate(namespace_id, {
    account_id,
    body: [
      { key: "bulk:a", value: JSON.stringify({ n: 1 }), metadata: { kind: "a" }, expiration_ttl: 600 },
      { key: "bulk:b", value: "b" },
      { key: "bulk:c", value: Buffer.from("c").toString("base64"), base64: true },
    ],
  });
  assert.equal(written?.successful_key_count, 3);
  assert.deepEqual(written?.unsuccessful_keys, []);

  const text = await cf.kv.namespaces.bulkGet(namespace_id, { account_id, keys: ["bulk:b", "bulk:c", "bulk:none"] });
  assert.deepEqual(text?.values, { "bulk:b": "b", "bulk:c": "c", "bulk:none": null });
  const json = await cf.kv.namespaces.bulkGet(namespace_id, { account_id, keys: ["bulk:a"], type: "json" });
  assert.deepEqual(json?.values, { "bulk:a": { n: 1 } });
  const withMetadata = await cf.kv.namespaces.bulkGet(namespace_id, {
    account_id,
    keys: ["bulk:a"],
    type: "json",
    withMetadata: true,
  });
  const entry = (withMetadata?.values as Record<string, { value: unknown; metadata: unknown }>)["bulk:a"];
  assert.deepEqual([entry?.value, entry?.metadata], [{ n: 1 }, { kind: "a" }]);

  const deleted = await cf.kv.namespaces.bulkDelete(namespace_id, { account_id, body: ["bulk:a", "bulk:b"] });
  assert.equal(deleted?.successful_key_count, 2);
  const left = await cf.kv.namespaces.bulkGet(namespace_id, { account_id, keys: ["bulk:a", "bulk:b", "bulk:c"] });
  assert.deepEqual(left?.values, { "bulk:a": null, "bulk:b": null, "bulk:c": "c" });
});

test("keys.list: prefix, limit and cursor paging", async () => {
  const names = Array.from({ length: 25 }, (_, i) => `page:${String(i).padStart(2, "0")}`);
  await cf.kv.namespaces.bulkUpdate(namespace_id, {
    account_id,
    body: [...names.map((key) => ({ key, value: key, metadata: { i: key } })), { key: "zz:other", value: "x" }],
  });

  const first = await cf.kv.namespaces.keys.list(namespace_id, { account_id, prefix: "page:", limit: 10 });
  assert.deepEqual(first.result.map((key) => key.name), names.slice(0, 10));
  assert.deepEqual(first.result[0]?.metadata, { i: "page:00" });
  assert.ok(first.result_info.cursor, "a cursor while keys remain");
  assert.equal(first.hasNextPage(), true);
  const second = await first.getNextPage();
  assert.deepEqual(second.result.map((key) => key.name), names.slice(10, 20));

  const all: string[] = [];
  for await (const key of cf.kv.namespaces.keys.list(namespace_id, { account_id, prefix: "page:", limit: 10 })) {
    all.push(key.name);
  }
  assert.deepEqual(all, names, "three pages, the last one ending the cursor");
});

test("namespaces: list and get", async () => {
  const listed: string[] = [];
  for await (const namespace of cf.kv.namespaces.list({ account_id, per_page: 5 })) listed.push(namespace.id);
  assert.deepEqual(listed, [namespace_id, "other"]);
  const namespace = await cf.kv.namespaces.get(namespace_id, { account_id });
  assert.equal(namespace.id, namespace_id);
  assert.equal(typeof namespace.title, "string");
  await assert.rejects(cf.kv.namespaces.get("missing", { account_id }), Cloudflare.NotFoundError);
});
