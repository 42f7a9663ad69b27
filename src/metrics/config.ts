// The `metrics:` block of the config: /metrics, /healthz and /readyz on Tyr's HTTP listener
// (src/http/; `http.listeners.metrics` moves them to an address of their own). Spread into
// src/config/schema.ts; the bearer token itself is read by src/config/load.ts (from `tokenFile`
// or TYR_METRICS_TOKEN) and never kept in the config.
import { z } from "zod";

export const METRICS_DEFAULTS = {
  enabled: false,
  auth: "none",
  maxSyncAgeSeconds: 120,
} as const;

/** At least this long, so a guessable token is refused at start. */
export const MIN_METRICS_TOKEN_LENGTH = 16;

export const metricsSchema = z
  .strictObject(
    {
      enabled: z.boolean({ error: "expected true or false" }).default(METRICS_DEFAULTS.enabled),
      /** "bearer": /metrics wants `Authorization: Bearer <token>`; the health endpoints stay open. */
      auth: z.enum(["none", "bearer"], { error: "expected none or bearer" }).default(METRICS_DEFAULTS.auth),
      tokenFile: z
        .string({ error: "expected a file path" })
        .min(1, { error: "expected a file path" })
        .optional(),
      /** /readyz says "not ready" when the last successful sync is older than this. */
      maxSyncAgeSeconds: z
        .number({ error: "expected an integer between 10 and 3600" })
        .int({ error: "expected an integer between 10 and 3600" })
        .min(10, { error: "expected an integer between 10 and 3600" })
        .max(3_600, { error: "expected an integer between 10 and 3600" })
        .default(METRICS_DEFAULTS.maxSyncAgeSeconds),
    },
    { error: "expected a mapping" },
  )
  .default({ ...METRICS_DEFAULTS });

export type MetricsConfig = z.output<typeof metricsSchema>;
