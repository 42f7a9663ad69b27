// The HTTP routes of src/metrics: /metrics (Prometheus text format, optionally behind a bearer
// token), /healthz (the process and its event loop answer) and /readyz (see readiness.ts). All
// three belong to the feature "metrics", so `http.listeners.metrics` moves them together.
import type { Registry } from "prom-client";
import { bearerSecret, none } from "../http/auth.ts";
import type { Route } from "../http/types.ts";
import type { Readiness } from "./readiness.ts";

export const FEATURE = "metrics";

export function metricsRoutes(opts: {
  registry: Registry;
  /** When set, /metrics wants `Authorization: Bearer <token>`. */
  token?: string;
  readiness: () => Readiness;
  startedAt: number;
  now?: () => number;
}): Route[] {
  const now = opts.now ?? Date.now;
  const get = (path: string, handler: Route["handler"], auth = none): Route => ({
    feature: FEATURE,
    method: "GET",
    path,
    auth,
    body: "none",
    handler,
  });
  return [
    get(
      "/metrics",
      async () => ({
        status: 200,
        contentType: opts.registry.contentType,
        body: await opts.registry.metrics(),
      }),
      opts.token === undefined ? none : bearerSecret(opts.token, { principal: "metrics scraper" }),
    ),
    // Answering at all proves the event loop runs; nothing here may wait on the homeserver.
    get("/healthz", () => ({
      status: 200,
      body: { status: "alive", uptimeSeconds: Math.round((now() - opts.startedAt) / 1000) },
    })),
    get("/readyz", () => {
      const r = opts.readiness();
      return {
        status: r.ready ? 200 : 503,
        body: r.ready ? { status: "ready" } : { status: "not ready", notReady: r.notReady },
      };
    }),
  ];
}
