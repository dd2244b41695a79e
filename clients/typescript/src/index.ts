// formula-api's TypeScript client, generated from the service's openapi.json.
//
// - `AppType`: the Hono schema type of every route, for `hc<AppType>(url)` (the web app's client).
// - `createClient({ baseUrl, getToken })`: that `hc` client, sending Clerk's session token.
// - `createPlainClient({ baseUrl, getToken })`: one function per operation, the envelope
//   unwrapped into `data` or a typed `error` ({ status, error }).
import { hc } from "hono/client";
import createFetchClient from "openapi-fetch";
import type { MaybeOptionalInit } from "openapi-fetch";

import type { AppType } from "./generated/app-type.js";
import { OPERATIONS } from "./generated/operations.js";
import type { paths } from "./generated/schema.js";
import type { SuccessStatus } from "./hono-schema.js";

export type { AppSchema, AppType } from "./generated/app-type.js";
export type { components, operations, paths } from "./generated/schema.js";
export { OPERATIONS } from "./generated/operations.js";

/** A session token source: Clerk's `getToken` (from `useAuth()` or `auth()`), called per request. */
export type GetToken = () => Promise<string | null | undefined> | string | null | undefined;

export interface ClientOptions {
  /** Where the service answers, e.g. `https://api.example.com` (no `/api` suffix). */
  baseUrl: string;
  /** Called before every request; a token is sent as `Authorization: Bearer …`, none sends nothing. */
  getToken?: GetToken;
  /** The `fetch` to use (default: the global one). */
  fetch?: typeof globalThis.fetch;
}

/** `fetch` that adds `Authorization: Bearer <getToken()>` to every request. */
export function fetchWithToken(getToken?: GetToken, base: typeof globalThis.fetch = globalThis.fetch) {
  return async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const token = await getToken?.();
    if (!token) return base(input, init);
    const request = new Request(input, init);
    request.headers.set("Authorization", `Bearer ${token}`);
    return base(request);
  };
}

/** The web app's client: Hono's `hc` over the service's routes, with the session token. */
export type Client = ReturnType<typeof hc<AppType>>;

/** `hc<AppType>` wired to send Clerk's session token on every call. */
export function createClient({ baseUrl, getToken, fetch }: ClientOptions): Client {
  return hc<AppType>(baseUrl, { fetch: fetchWithToken(getToken, fetch) });
}

type Operations = typeof OPERATIONS;
type OperationId = keyof Operations;
type PathOf<K extends OperationId> = Operations[K][1];
type MethodOf<K extends OperationId> = Operations[K][0];
type OperationOf<K extends OperationId> = NonNullable<paths[PathOf<K>][MethodOf<K>]>;
type Responses<O> = O extends { responses: infer R } ? R : never;
type JsonOf<R> = R extends { content: { "application/json": infer J } } ? J : never;

/** The statuses an operation documents as failures. */
export type ErrorStatus<O> = Exclude<Extract<keyof Responses<O>, number>, SuccessStatus>;
/** The statuses an operation documents as successes. */
export type OkStatus<O> = Extract<keyof Responses<O>, SuccessStatus>;

/** What a successful answer carries: the envelope's `data` (or the body, for non-envelope routes). */
export type Data<O> =
  JsonOf<Responses<O>[OkStatus<O> & keyof Responses<O>]> extends infer Body
    ? Body extends { success: boolean; status: number }
      ? Body extends { data?: infer D }
        ? D
        : undefined
      : Body
    : never;

/** A refused or failed request: the HTTP status and the envelope's `error` sentence. */
export interface ApiError<S extends number = number> {
  status: S;
  error: string;
}

/** The answer of one plain call: `data`, or a typed `error`. */
export type Result<O> =
  | { data: Data<O>; error?: undefined; status: OkStatus<O> }
  | { data?: undefined; error: ApiError<ErrorStatus<O>> };

type Init<K extends OperationId> = MaybeOptionalInit<paths[PathOf<K>], MethodOf<K>>;

/** One function per operation of the document, named by its operationId. */
export type PlainClient = {
  [K in OperationId]: undefined extends Init<K>
    ? (init?: Init<K>) => Promise<Result<OperationOf<K>>>
    : (init: Init<K>) => Promise<Result<OperationOf<K>>>;
};

type FetchAnswer = { data?: unknown; error?: unknown; response: Response };
type Envelope = { success: boolean; data?: unknown; error?: unknown };

function isEnvelope(body: unknown): body is Envelope {
  return typeof body === "object" && body !== null && "success" in body;
}

/** openapi-fetch's answer, unwrapped: the envelope's `data` on success, else `{ status, error }`. */
function unwrap({ data, error, response }: FetchAnswer) {
  const status = response.status;
  if (response.ok && !(isEnvelope(data) && data.success !== true)) {
    return { data: isEnvelope(data) ? (data.data ?? null) : data, status };
  }
  const body = response.ok ? data : error;
  const message = isEnvelope(body) && typeof body.error === "string" ? body.error : undefined;
  const text = typeof body === "string" && body ? body : response.statusText;
  return { error: { status, error: message ?? text } };
}

/** A typed client for new code, on openapi-fetch: `await api.listFixedCosts({ params: { query: { userId } } })`. */
export function createPlainClient({ baseUrl, getToken, fetch }: ClientOptions): PlainClient {
  const client = createFetchClient<paths>({ baseUrl, fetch: fetchWithToken(getToken, fetch) });
  const functions: Record<string, (init?: unknown) => Promise<unknown>> = {};
  for (const [id, [method, path]] of Object.entries(OPERATIONS)) {
    const request = client.request as (method: string, path: string, init: unknown) => Promise<FetchAnswer>;
    functions[id] = async (init) => unwrap(await request(method, path, init));
  }
  return functions as PlainClient;
}
