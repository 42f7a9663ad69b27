// The `antispam:` block of the config: Tyr as the HTTP backend of Synapse's
// synapse-http-antispam module. Spread into src/config/schema.ts; the shared secret itself is read
// by src/config/load.ts (from `secretFile` or TYR_ANTISPAM_SECRET) and never kept in the config.
import { z } from "zod";

export const ANTISPAM_DEFAULTS = {
  enabled: false,
  pathPrefix: "/_tyr/antispam",
  whenNotReady: "allow",
  refuseInvitesFromRoomBans: false,
  summaryIntervalSeconds: 600,
} as const;

/** At least this long, so a guessable secret is refused at start. */
export const MIN_SECRET_LENGTH = 16;

export const antispamSchema = z
  .strictObject(
    {
      enabled: z.boolean({ error: "expected true or false" }).default(ANTISPAM_DEFAULTS.enabled),
      secretFile: z
        .string({ error: "expected a file path" })
        .min(1, { error: "expected a file path" })
        .optional(),
      pathPrefix: z
        .string({ error: "expected a URL path such as /_tyr/antispam" })
        .regex(/^(\/[A-Za-z0-9._~-]+)+$/, {
          error: "expected a URL path such as /_tyr/antispam (no trailing slash)",
        })
        .default(ANTISPAM_DEFAULTS.pathPrefix),
      whenNotReady: z
        .enum(["allow", "deny"], { error: "expected allow or deny" })
        .default(ANTISPAM_DEFAULTS.whenNotReady),
      refuseInvitesFromRoomBans: z
        .boolean({ error: "expected true or false" })
        .default(ANTISPAM_DEFAULTS.refuseInvitesFromRoomBans),
      summaryIntervalSeconds: z
        .number({ error: "expected an integer between 10 and 86400" })
        .int({ error: "expected an integer between 10 and 86400" })
        .min(10, { error: "expected an integer between 10 and 86400" })
        .max(86_400, { error: "expected an integer between 10 and 86400" })
        .default(ANTISPAM_DEFAULTS.summaryIntervalSeconds),
    },
    { error: "expected a mapping" },
  )
  .default({ ...ANTISPAM_DEFAULTS });

export type AntispamConfig = z.output<typeof antispamSchema>;
