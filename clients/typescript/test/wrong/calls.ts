// Deliberately wrong calls: each line marked `@wrong` must fail to compile (the types bind), and
// nothing else in this file may fail. Checked by test/types.test.ts.
import { createPlainClient } from "@formula/api-client";
import type { InferResponseType } from "hono";

import { client } from "../web-app/client.js";
import { createEquipmentCost, getBillableCosts } from "../web-app/expenses.js";

export async function wrongCalls() {
  await client.api.expenses["fixed-costs"].$get({ query: { user: "u" } }); // @wrong: no such query field
  await client.api.expenses["fixed-cost"].$get({ query: { userId: "u" } }); // @wrong: no such route
  await client.api.expenses["fixed-costs"].$post({
    json: { userId: "u", name: "Rent", amount: "900", category: "home", rank: 0 }, // @wrong: amount is a number
  });
  await client.api.expenses["fixed-costs"][":userId"][":id"].$delete({ param: { userId: "u" } }); // @wrong: id missing
  await client.api.expenses["equipment-costs"][":id"].$patch({ param: { id: "1" }, json: {} }); // @wrong: no PATCH /equipment-costs/:id
  const billable = await getBillableCosts("u");
  const hours: number = billable!.billableHours; // @wrong: billableHours may be null
  await createEquipmentCost({
    userId: "u", name: "Laptop", amount: 2000, rank: 0, category: "tech",
    purchaseDate: new Date(), // @wrong: purchaseDate is a string or milliseconds, not a Date
    usage: 100, lifeSpan: 36,
  });
  type Created = InferResponseType<(typeof client.api.expenses)["fixed-costs"]["$post"], 201>;
  const created = {} as Created;
  created.data.title; // @wrong: a FixedCost has no title
  const response = await client.api.expenses["fixed-costs"].$get({ query: { userId: "u" } });
  const body = await response.json();
  body.data; // @wrong: data exists only once success is checked
  const api = createPlainClient({ baseUrl: "http://localhost" });
  await api.listFixedCosts({ params: { query: { userId: 1 } } }); // @wrong: userId is a string
  const answer = await api.getBillableCost({ params: { query: { userId: "u" } } });
  if (answer.error) {
    const status: 200 = answer.error.status; // @wrong: an error's status is an error status
  }
  return hours;
}
