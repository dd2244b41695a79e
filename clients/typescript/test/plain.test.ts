// The same calls through the plain client: one function per operation, `data` or a typed error.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { createPlainClient, type PlainClient } from "@formula/api-client";

import { startService, type Service } from "./service.js";

let service: Service;
let token: string | null = null;
let api: PlainClient;

before(async () => {
  service = await startService();
  api = createPlainClient({ baseUrl: service.base, getToken: () => token });
});

after(() => service?.close());

function signIn(user: string) {
  token = service.token(user);
}

/** The data of a successful answer (fails the test with the error otherwise). */
function ok<A extends { data?: unknown; error?: unknown }>(answer: A): Extract<A, { error?: undefined }>["data"] {
  assert.equal(answer.error, undefined, JSON.stringify(answer.error));
  return answer.data;
}

test("fixed costs: routes 1 to 5", async () => {
  const userId = "plain_fixed";
  signIn(userId);
  assert.deepEqual(ok(await api.listFixedCosts({ params: { query: { userId } } })), []);
  const created = await api.createFixedCost({ body: { userId, name: "Rent", amount: 900, category: "home", rank: 0 } });
  assert.equal(created.error ? created.error.status : created.status, 201);
  const rent = ok(created);
  const phone = ok(await api.createFixedCost({ body: { userId, name: "Phone", amount: 30, category: "telecom", rank: 1 } }));
  const patched = ok(await api.updateFixedCost({ params: { path: { id: rent.id } }, body: { userId, amount: 950, period: "yearly" } }));
  assert.equal(patched.amount, 950);
  assert.equal(patched.period, "yearly");
  const batch = ok(await api.updateFixedCosts({ body: { userId, updates: [{ id: rent.id, data: { rank: 2 } }] } }));
  assert.deepEqual(batch.map((row) => row.rank), [2]);
  assert.equal(ok(await api.deleteFixedCost({ params: { path: { user_id: userId, id: phone.id } } })), null);
  assert.deepEqual(ok(await api.listFixedCosts({ params: { query: { userId } } })).map((row) => row.id), [rent.id]);
});

test("billable costs: routes 6 to 8", async () => {
  const userId = "plain_billable";
  signIn(userId);
  assert.equal(ok(await api.getBillableCost({ params: { query: { userId } } })), null);
  const created = await api.createBillableCost({ body: { userId } });
  assert.equal(created.error, undefined);
  if (!created.error) assert.equal(created.status, 201);
  assert.equal(ok(created).billableHours, 1290);
  const again = await api.createBillableCost({ body: { userId } });
  if (!again.error) assert.equal(again.status, 200);
  const updated = ok(await api.updateBillableCost({ body: { userId, hoursPerDay: 7, billableHours: null } }));
  assert.equal(updated.hoursPerDay, 7);
  assert.equal(ok(await api.getBillableCost({ params: { query: { userId } } }))?.hoursPerDay, 7);
});

test("equipment: routes 9 to 13", async () => {
  const userId = "plain_equipment";
  signIn(userId);
  assert.deepEqual(ok(await api.listEquipmentCosts({ params: { query: { userId } } })), []);
  const body = { userId, name: "Laptop", amount: 2000, rank: 0, category: "computer", purchaseDate: "2024-05-01T10:00:00.000Z", usage: 100, lifeSpan: 36 };
  const laptop = ok(await api.createEquipmentCost({ body }));
  assert.equal(laptop.purchaseDate, "2024-05-01T10:00:00.000Z");
  const screen = ok(await api.createEquipmentCost({ body: { ...body, name: "Screen", rank: 1 } }));
  const patched = ok(await api.updateEquipmentCost({ body: { userId, id: screen.id, amount: 250 } }));
  assert.equal(patched.amount, 250);
  assert.equal(patched.id, screen.id);
  const batch = ok(await api.updateEquipmentCosts({ body: { userId, updates: [{ id: laptop.id, data: { usage: 50 } }] } }));
  assert.equal(batch[0]?.usage, 50);
  assert.equal(ok(await api.deleteEquipmentCost({ params: { path: { user_id: userId, id: laptop.id } } })), null);
  assert.deepEqual(ok(await api.listEquipmentCosts({ params: { query: { userId } } })).map((row) => row.id), [screen.id]);
});

test("no token: a typed 401 error", async () => {
  token = null;
  const answer = await api.listFixedCosts({ params: { query: { userId: "plain_fixed" } } });
  assert.equal(answer.data, undefined);
  assert.equal(answer.error?.status, 401);
  assert.match(answer.error?.error ?? "", /token/i);
});

test("another user's userId: 403", async () => {
  signIn("plain_a");
  const answer = await api.getBillableCost({ params: { query: { userId: "plain_b" } } });
  assert.equal(answer.error?.status, 403);
});

test("a validation error: 400 naming the field", async () => {
  const userId = "plain_invalid";
  signIn(userId);
  const answer = await api.createFixedCost({ body: { userId, name: "", amount: 1, category: "home", rank: 0 } });
  assert.equal(answer.error?.status, 400);
  assert.match(answer.error?.error ?? "", /name/);
  const unknown = await api.updateFixedCost({ params: { path: { id: 999999 } }, body: { userId, amount: 1 } });
  assert.equal(unknown.error?.status, 404);
});
