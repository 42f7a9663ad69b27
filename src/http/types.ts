// What a feature hands the HTTP listener: routes with their limits, auth and handler. Handlers
// get a parsed request and return a response object; everything generic (limits, auth, JSON,
// errors, logging) is the server's job (server.ts).
import type { IncomingHttpHeaders } from "node:http";
import type { Auth } from "./auth.ts";

export type Method = "GET" | "POST" | "PUT" | "DELETE";

export interface HttpRequest {
  readonly method: Method;
  /** Path without the query string, percent-decoding left to the handler. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  /** Parsed JSON body (routes with `body: "json"`), URLSearchParams (`body: "form"`), else undefined. */
  readonly body: unknown;
  /** From the route's auth (e.g. the requesting server); never a secret. */
  readonly principal?: string;
  readonly remote: string;
}

export interface HttpResponse {
  readonly status: number;
  /** JSON-serialised unless `contentType` is given and the body is a string. */
  readonly body?: unknown;
  readonly contentType?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export type Handler = (req: HttpRequest) => HttpResponse | Promise<HttpResponse>;

export interface Route {
  /** Which feature registered it: for logs and for placing the route on a listener. */
  readonly feature: string;
  readonly method: Method;
  /** Exact path, or a prefix when `prefix` is true (longest prefix wins). */
  readonly path: string;
  readonly prefix?: boolean;
  readonly auth: Auth;
  /** "json": the body must be a JSON document (415 otherwise); "form": an HTML form
   *  (application/x-www-form-urlencoded, given to the handler as URLSearchParams); "none": any
   *  body is refused. */
  readonly body: "json" | "form" | "none";
  /** Overrides the listener's default body limit. */
  readonly maxBodyBytes?: number;
  readonly handler: Handler;
}

/** Limits shared by every route of a listener (a route may lower or raise the body limit). */
export interface ListenerLimits {
  readonly maxBodyBytes: number;
  /** Whole request (headers and body) must arrive within this; else 408. */
  readonly requestTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly maxConnections: number;
}

/** Matrix-style error body. */
export function matrixError(status: number, errcode: string, error: string): HttpResponse {
  return { status, body: { errcode, error } };
}
