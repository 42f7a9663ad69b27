// The `dashboard:` block of the config: the web dashboard on Tyr's HTTP listener (src/http/) under
// /dashboard. Spread into src/config/schema.ts; `http.listeners.dashboard` moves it to an address
// of its own.
import { z } from "zod";

export const DASHBOARD_DEFAULTS = {
  enabled: false,
  sessionHours: 12,
  allowPrivateHomeservers: false,
} as const;

const baseUrl = z
  .string({ error: "expected the dashboard's public URL, such as https://tyr.example.org" })
  .refine((s) => /^https?:\/\/[^\s/?#]+\/?$/.test(s), {
    error:
      "expected the dashboard's public URL without a path, such as https://tyr.example.org (Tyr serves /dashboard under it)",
  })
  .transform((s) => s.replace(/\/$/, ""));

export const dashboardSchema = z
  .strictObject(
    {
      enabled: z.boolean({ error: "expected true or false" }).default(DASHBOARD_DEFAULTS.enabled),
      /** Where moderators' browsers reach Tyr (the reverse proxy). Links and cookies use it. */
      publicBaseUrl: baseUrl.optional(),
      /** A session ends this long after login, whatever happens in between. */
      sessionHours: z
        .number({ error: "expected a number of hours between 1 and 168" })
        .int({ error: "expected a number of hours between 1 and 168" })
        .min(1, { error: "expected a number of hours between 1 and 168" })
        .max(168, { error: "expected a number of hours between 1 and 168" })
        .default(DASHBOARD_DEFAULTS.sessionHours),
      /**
       * "Log in with Matrix" may reach other homeservers at loopback or private addresses (a LAN
       * deployment). Off: a login form must not make Tyr probe its own network. TLS is verified either way.
       */
      allowPrivateHomeservers: z
        .boolean({ error: "expected true or false" })
        .default(DASHBOARD_DEFAULTS.allowPrivateHomeservers),
    },
    { error: "expected a mapping" },
  )
  .default({ ...DASHBOARD_DEFAULTS });

export type DashboardConfig = z.output<typeof dashboardSchema>;
