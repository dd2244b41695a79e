// The web app's thirteen calls, through the drop-in client exactly as its call sites make them,
// against the real service (Postgres, AUTH_MODE=clerk).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { hc } from "hono/client";
import type { AppType } from "@formula/api-client";

import { startService, type Service } from "./service.js";

let service: Service;
let web: typeof import("./web-app/expenses.js");
let app: typeof import("./web-app/client.js");

before(async () => {
  service = await startService();
  process.env.NEXT_PUBLIC_API_URL = service.base; // the web app's client reads it at load
  app = await import("./web-app/client.js");
  web = await import("./web-app/expenses.js");
});

after(() => service?.close());

function signIn(user: string) {
  app.session.getToken = async () => service.token(user);
}

test("fixed costs: routes 1 to 5 through the web app's call sites", async () => {
  const user = "user_fixed";
  signIn(user);
  assert.deepEqual(await web.getFixedCosts(user), []);
  const rent = await web.createFixedCost({ userId: user, name: "Rent", amount: 900, category: "home", rank: 0, period: "monthly" });
  assert.equal(rent.name, "Rent");
  assert.equal(rent.userId, user);
  assert.equal(rent.period, "monthly");
  const phone = await web.createFixedCost({ userId: user, name: "Phone", amount: 30, category: "telecom", rank: 1 });

  const patched = await web.updateFixedCost(rent.id, { userId: user, amount: 950 });
  assert.equal(patched.amount, 950);
  assert.equal(patched.name, "Rent");

  const batch = await web.updateFixedCosts({
    userId: user,
    updates: [
      { id: rent.id, data: { rank: 1 } },
      { id: phone.id, data: { rank: 0, name: "Mobile" } },
    ],
  });
  assert.deepEqual(batch.map((row) => [row.id, row.rank]), [[rent.id, 1], [phone.id, 0]]);
  assert.deepEqual((await web.getFixedCosts(user)).map((row) => row.name), ["Mobile", "Rent"]);

  assert.equal(await web.deleteFixedCost(user, rent.id), null);
  assert.deepEqual((await web.getFixedCosts(user)).map((row) => row.id), [phone.id]);
});

test("billable costs: routes 6 to 8", async () => {
  const user = "user_billable";
  signIn(user);
  assert.equal(await web.getBillableCosts(user), null);
  const created = await web.createBillableCosts({ userId: user });
  assert.equal(created.billableHours, 1290);
  assert.equal(created.workDays, 5);
  const again = await web.createBillableCosts({ userId: user }); // 200 with the existing row
  assert.equal(again.id, created.id);
  const updated = await web.updateBillableCosts({ userId: user, workDays: 4, monthlySalary: 4000 });
  assert.equal(updated.workDays, 4);
  assert.equal(updated.monthlySalary, 4000);
  assert.equal((await web.getBillableCosts(user))?.monthlySalary, 4000);
});

test("equipment: routes 9 to 13 (PATCH by id, PUT and DELETE exist)", async () => {
  const user = "user_equipment";
  signIn(user);
  assert.deepEqual(await web.getEquipmentCosts(user), []);
  const laptop = await web.createEquipmentCost({
    userId: user, name: "Laptop", amount: 2000, rank: 0, category: "computer",
    purchaseDate: "2024-05-01", usage: 100, lifeSpan: 36,
  });
  assert.equal(laptop.purchaseDate, "2024-05-01T00:00:00.000Z");
  const desk = await web.createEquipmentCost({
    userId: user, name: "Desk", amount: 300, rank: 1, category: "furniture",
    purchaseDate: Date.UTC(2023, 0, 15), usage: 50, lifeSpan: 120,
  });
  const renamed = await web.updateEquipmentCost({ userId: user, id: desk.id, name: "Standing desk" });
  assert.equal(renamed.id, desk.id);
  assert.equal(renamed.name, "Standing desk");
  const batch = await web.updateEquipmentCosts(user, [
    { id: laptop.id, data: { rank: 1 } },
    { id: desk.id, data: { rank: 0 } },
  ]);
  assert.deepEqual(batch.map((row) => row.rank), [1, 0]);
  assert.equal(await web.deleteEquipmentCost(user, laptop.id), null);
  assert.deepEqual((await web.getEquipmentCosts(user)).map((row) => row.name), ["Standing desk"]);
});

test("no token: a typed 401", async () => {
  app.session.getToken = async () => null;
  const response = await app.client.api.expenses["fixed-costs"].$get({ query: { userId: "user_fixed" } });
  assert.equal(response.status, 401);
  assert.equal(response.headers.get("www-authenticate")?.startsWith("Bearer"), true);
  if (response.status === 401) {
    const body = await response.json();
    const status: 401 = body.status; // the type says 401 and `success: false`
    const success: false = body.success;
    assert.deepEqual([status, success], [401, false]);
    assert.match(body.error, /token/i);
  }
  await assert.rejects(web.getFixedCosts("user_fixed"), { status: 401 });
});

test("another user's userId: 403", async () => {
  signIn("user_a");
  const response = await app.client.api.expenses["billable-costs"].$get({ query: { userId: "user_b" } });
  assert.equal(response.status, 403);
  if (response.status === 403) {
    const body = await response.json();
    assert.equal(body.success, false);
    assert.match(body.error, /userId/);
  }
  await assert.rejects(web.deleteFixedCost("user_b", 1), { status: 403 });
});

test("a validation error: 400 naming the field", async () => {
  const user = "user_invalid";
  signIn(user);
  await assert.rejects(
    web.createFixedCost({ userId: user, name: "Rent", amount: -1, category: "home", rank: 0 }),
    (error: { status: number; reason: string }) => error.status === 400 && error.reason.includes("amount"),
  );
  const response = await app.client.api.expenses["equipment-costs"].$post({
    json: { userId: user, name: "X", amount: 1, rank: 0, category: "c", purchaseDate: "May 1st", usage: 1, lifeSpan: 1 },
  });
  assert.equal(response.status, 400);
  const body = await response.json();
  assert.equal(body.success, false);
  if (body.success === false) assert.match(body.error, /purchaseDate/);
});

test("hc<AppType> with the token header, the migration guide's other form", async () => {
  const user = "user_header";
  const client = hc<AppType>(service.base, {
    headers: async (): Promise<Record<string, string>> => ({ Authorization: `Bearer ${service.token(user)}` }),
  });
  const response = await client.api.expenses["fixed-costs"].$post({
    json: { userId: user, name: "Rent", amount: 1, category: "home", rank: 0 },
  });
  assert.equal(response.status, 201);
  const body = await response.json();
  assert.equal(body.success, true);
  if (body.success === true) assert.equal(body.data.name, "Rent");
});
