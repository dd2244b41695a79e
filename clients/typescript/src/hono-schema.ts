// The bridge from openapi-typescript's `paths` to the Hono schema that
// scripts/generate-app-type.mjs writes: an endpoint names its OpenAPI operation and status, and
// its types are looked up here.
import type { paths } from "./generated/schema.js";

type Operation<P extends keyof paths, M extends string> = M extends keyof paths[P]
  ? NonNullable<paths[P][M]>
  : never;

/** Statuses whose envelope carries `success: true`. */
export type SuccessStatus = 200 | 201 | 202 | 204;

/** The JSON request body of an operation. */
export type JsonBody<P extends keyof paths, M extends string> =
  Operation<P, M> extends { requestBody?: infer Body }
    ? NonNullable<Body> extends { content: { "application/json": infer Json } }
      ? Json
      : never
    : never;

/**
 * The contract's envelope at one status: `status` is that status and `success` is `true` for a
 * 2xx answer, `false` otherwise (the document types them as integer and boolean), so that
 * `if (body.success !== true) …; return body.data` narrows as it did with the old API's types.
 */
export type Envelope<Json, S extends number> = Json extends { success: boolean; status: number }
  ? {
      [K in keyof Json]: K extends "status"
        ? S
        : K extends "success"
          ? S extends SuccessStatus
            ? true
            : false
          : Json[K];
    }
  : Json;

/** The JSON body of one documented status of an operation. */
export type Output<P extends keyof paths, M extends string, S extends number> =
  Operation<P, M> extends { responses: infer Responses }
    ? S extends keyof Responses
      ? Responses[S] extends { content: { "application/json": infer Json } }
        ? Envelope<Json, S>
        : never
      : never
    : never;
