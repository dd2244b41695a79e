// The web app's thirteen call sites, written as they are in the app: `client.api.expenses…`,
// `await response.json()`, `body.success`, `body.data`, and Hono's `Infer…` helpers for the eight
// that derive their types from the client. `tsc` compiles this file against the package; the
// Node tests run it against the service.
import type { InferRequestType, InferResponseType } from "hono";

import { client } from "./client.js";

/** What a call site throws when the answer is not a success. */
export class CallFailed extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
  ) {
    super(`${status}: ${reason}`);
  }
}

// 1. GET /fixed-costs
export async function getFixedCosts(userId: string) {
  const response = await client.api.expenses["fixed-costs"].$get({ query: { userId } });
  const body = await response.json();
  if (body.success !== true) throw new CallFailed(body.status, body.error);
  return body.data;
}

// 2. POST /fixed-costs
type CreateFixedCostRequest = InferRequestType<(typeof client.api.expenses)["fixed-costs"]["$post"]>["json"];
type CreateFixedCostResponse = InferResponseType<(typeof client.api.expenses)["fixed-costs"]["$post"], 201>;
export async function createFixedCost(json: CreateFixedCostRequest): Promise<CreateFixedCostResponse["data"]> {
  const response = await client.api.expenses["fixed-costs"].$post({ json });
  const body = await response.json();
  if (body.success !== true) throw new CallFailed(body.status, body.error);
  return body.data;
}

// 3. PATCH /fixed-costs/:id
type UpdateFixedCostRequest = InferRequestType<(typeof client.api.expenses)["fixed-costs"][":id"]["$patch"]>;
type UpdateFixedCostResponse = InferResponseType<(typeof client.api.expenses)["fixed-costs"][":id"]["$patch"], 200>;
export async function updateFixedCost(
  id: number,
  json: UpdateFixedCostRequest["json"],
): Promise<UpdateFixedCostResponse["data"]> {
  const response = await client.api.expenses["fixed-costs"][":id"].$patch({ param: { id: String(id) }, json });
  const body = await response.json();
  if (body.success !== true) throw new CallFailed(body.status, body.error);
  return body.data;
}

// 4. PUT /fixed-costs (batch)
type UpdateFixedCostsRequest = InferRequestType<(typeof client.api.expenses)["fixed-costs"]["$put"]>["json"];
type UpdateFixedCostsResponse = InferResponseType<(typeof client.api.expenses)["fixed-costs"]["$put"], 200>;
export async function updateFixedCosts(json: UpdateFixedCostsRequest): Promise<UpdateFixedCostsResponse["data"]> {
  const response = await client.api.expenses["fixed-costs"].$put({ json });
  const body = await response.json();
  if (body.success !== true) throw new CallFailed(body.status, body.error);
  return body.data;
}

// 5. DELETE /fixed-costs/:userId/:id
export async function deleteFixedCost(userId: string, id: number) {
  const response = await client.api.expenses["fixed-costs"][":userId"][":id"].$delete({
    param: { userId, id: String(id) },
  });
  const body = await response.json();
  if (body.success !== true) throw new CallFailed(body.status, body.error);
  return body.data;
}

// 6. GET /billable-costs
export async function getBillableCosts(userId: string) {
  const response = await client.api.expenses["billable-costs"].$get({ query: { userId } });
  const body = await response.json();
  if (body.success !== true) throw new CallFailed(body.status, body.error);
  return body.data;
}

// 7. POST /billable-costs
type CreateBillableRequest = InferRequestType<(typeof client.api.expenses)["billable-costs"]["$post"]>["json"];
type CreateBillableResponse = InferResponseType<(typeof client.api.expenses)["billable-costs"]["$post"], 201>;
export async function createBillableCosts(json: CreateBillableRequest): Promise<CreateBillableResponse["data"]> {
  const response = await client.api.expenses["billable-costs"].$post({ json });
  const body = await response.json();
  if (body.success !== true) throw new CallFailed(body.status, body.error);
  return body.data;
}

// 8. PATCH /billable-costs
type UpdateBillableRequest = InferRequestType<(typeof client.api.expenses)["billable-costs"]["$patch"]>["json"];
type UpdateBillableResponse = InferResponseType<(typeof client.api.expenses)["billable-costs"]["$patch"], 200>;
export async function updateBillableCosts(json: UpdateBillableRequest): Promise<UpdateBillableResponse["data"]> {
  const response = await client.api.expenses["billable-costs"].$patch({ json });
  const body = await response.json();
  if (body.success !== true) throw new CallFailed(body.status, body.error);
  return body.data;
}

// 9. GET /equipment-costs
export async function getEquipmentCosts(userId: string) {
  const response = await client.api.expenses["equipment-costs"].$get({ query: { userId } });
  const body = await response.json();
  if (body.success !== true) throw new CallFailed(body.status, body.error);
  return body.data;
}

// 10. POST /equipment-costs
type CreateEquipmentRequest = InferRequestType<(typeof client.api.expenses)["equipment-costs"]["$post"]>["json"];
type CreateEquipmentResponse = InferResponseType<(typeof client.api.expenses)["equipment-costs"]["$post"], 201>;
export async function createEquipmentCost(json: CreateEquipmentRequest): Promise<CreateEquipmentResponse["data"]> {
  const response = await client.api.expenses["equipment-costs"].$post({ json });
  const body = await response.json();
  if (body.success !== true) throw new CallFailed(body.status, body.error);
  return body.data;
}

// 11. PATCH /equipment-costs
type UpdateEquipmentRequest = InferRequestType<(typeof client.api.expenses)["equipment-costs"]["$patch"]>["json"];
type UpdateEquipmentResponse = InferResponseType<(typeof client.api.expenses)["equipment-costs"]["$patch"], 200>;
export async function updateEquipmentCost(json: UpdateEquipmentRequest): Promise<UpdateEquipmentResponse["data"]> {
  const response = await client.api.expenses["equipment-costs"].$patch({ json });
  const body = await response.json();
  if (body.success !== true) throw new CallFailed(body.status, body.error);
  return body.data;
}

// 12. PUT /equipment-costs (batch)
export async function updateEquipmentCosts(
  userId: string,
  updates: { id: number; data: { rank?: number; name?: string } }[],
) {
  const response = await client.api.expenses["equipment-costs"].$put({ json: { userId, updates } });
  const body = await response.json();
  if (body.success !== true) throw new CallFailed(body.status, body.error);
  return body.data;
}

// 13. DELETE /equipment-costs/:userId/:id
export async function deleteEquipmentCost(userId: string, id: number) {
  const response = await client.api.expenses["equipment-costs"][":userId"][":id"].$delete({
    param: { userId, id: String(id) },
  });
  const body = await response.json();
  if (body.success !== true) throw new CallFailed(body.status, body.error);
  return body.data;
}
