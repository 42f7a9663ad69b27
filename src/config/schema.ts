// The configuration schema. Every key is documented in config/default.yaml; every message says
// what was expected so `tyr config check` output can be acted on without reading code.
import { z } from "zod";
import { urlSecurity } from "../matrix/tls.ts";
import { httpSchema } from "../http/config.ts";
import { metricsSchema } from "../metrics/config.ts";
import { antispamSchema } from "../antispam/config.ts";
import { policyServerSchema } from "../policyserver/config.ts";
import { dashboardSchema } from "../dashboard/config.ts";

const ROOM_ID = /^![^\s:]+(:[^\s]+)?$/; // room v12 IDs carry no server part
const ROOM_ALIAS = /^#[^\s:]+:[^\s]+$/;
const USER_ID = /^@[^\s:]+:[^\s]+$/;

export const roomRef = z
  .string({ error: "expected a room ID (!…) or alias (#…:server)" })
  .refine((s) => ROOM_ID.test(s) || ROOM_ALIAS.test(s), {
    error: "expected a room ID (!…) or alias (#…:server)",
  });

const url = z.string({ error: "expected an http(s) URL" }).refine((s) => /^https?:\/\/[^\s/]+/.test(s), {
  error: "expected an http(s) URL such as https://matrix.example.org",
});

const nonEmpty = (what: string) =>
  z.string({ error: `expected ${what}` }).min(1, { error: `expected ${what}` });

const int = (min: number, max: number) =>
  z
    .number({ error: `expected an integer between ${min} and ${max}` })
    .int({ error: `expected an integer between ${min} and ${max}` })
    .min(min, { error: `expected an integer between ${min} and ${max}` })
    .max(max, { error: `expected an integer between ${min} and ${max}` });

const bool = z.boolean({ error: "expected true or false" });

export const configSchema = z
  .strictObject(
    {
      homeserverUrl: url,
      allowInsecureHomeserver: bool.default(false),
      homeserverCaFile: nonEmpty("a file path").optional(),
      accessToken: nonEmpty("an access token").optional(),
      accessTokenFile: nonEmpty("a file path").optional(),
      username: z
        .string({ error: "expected a user ID (@name:server) or localpart" })
        .refine((s) => USER_ID.test(s) || /^[a-z0-9._=\-/+]+$/.test(s), {
          error: "expected a user ID (@name:server) or localpart",
        })
        .optional(),
      password: nonEmpty("a password").optional(),
      passwordFile: nonEmpty("a file path").optional(),
      dataPath: nonEmpty("a directory path"),
      managementRoom: roomRef.optional(),
      initialModerator: z
        .string({ error: "expected a user ID such as @you:example.org" })
        .regex(USER_ID, { error: "expected a user ID such as @you:example.org" })
        .optional(),
      logLevel: z
        .enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"], {
          error: "expected one of trace, debug, info, warn, error, fatal, silent",
        })
        .default("info"),
      logFormat: z
        .enum(["auto", "json", "pretty"], { error: "expected one of auto, json, pretty" })
        .default("auto"),
      dryRun: bool.default(false),
      protectedRooms: z.array(roomRef, { error: "expected a list of room IDs or aliases" }).default([]),
      commands: z
        .strictObject(
          {
            prefix: z
              .string({ error: "expected a prefix such as !tyr" })
              .regex(/^\S{1,32}$/, {
                error: "expected a prefix of 1 to 32 characters without spaces, such as !tyr",
              })
              .default("!tyr"),
            minPowerLevel: int(0, 1_000_000).default(50),
            confirmTimeoutSeconds: int(10, 3600).default(300),
          },
          { error: "expected a mapping" },
        )
        .default({ prefix: "!tyr", minPowerLevel: 50, confirmTimeoutSeconds: 300 }),
      queue: z
        .strictObject(
          {
            concurrency: int(1, 64).default(4),
            maxRetries: int(0, 100).default(8),
          },
          { error: "expected a mapping" },
        )
        .default({ concurrency: 4, maxRetries: 8 }),
      acl: z
        .strictObject(
          {
            allowIpLiterals: bool.default(false),
            allow: z
              .array(nonEmpty("a server name or glob"), { error: "expected a list of server names" })
              .default(["*"]),
            banMembersOfDeniedServers: bool.default(false),
            excludedRooms: z.array(roomRef, { error: "expected a list of room IDs or aliases" }).default([]),
          },
          { error: "expected a mapping" },
        )
        .default({
          allowIpLiterals: false,
          allow: ["*"],
          banMembersOfDeniedServers: false,
          excludedRooms: [],
        }),
      protections: z
        .strictObject({ exemptPowerLevel: int(0, 1_000_000).default(50) }, { error: "expected a mapping" })
        .default({ exemptPowerLevel: 50 }),
      reports: z
        .strictObject(
          { enabled: bool.default(false), pollSeconds: int(1, 3600).default(30) },
          { error: "expected a mapping" },
        )
        .default({ enabled: false, pollSeconds: 30 }),
      // Ban propagation: a ban made by hand in a protected room prompts "add to a list?".
      // Rooms Tyr is invited to (README: Rooms Tyr is invited to).
      protectAllJoinedRooms: bool.default(false),
      // How bans and kicks remove the user's events (README: Redaction on ban).
      redaction: z
        .strictObject(
          { redactEventsFlag: bool.default(true), bulkRedaction: bool.default(true) },
          { error: "expected a mapping" },
        )
        .default({ redactEventsFlag: true, bulkRedaction: true }),
      banPropagation: z
        .strictObject({ enabled: bool.default(true) }, { error: "expected a mapping" })
        .default({ enabled: true }),
      encryption: z
        .strictObject(
          {
            enabled: bool.default(true),
            requireVerifiedDevicesForCommands: bool.default(true),
            shareKeysWithUnverifiedDevices: bool.default(false),
            trustOnFirstUse: bool.default(false),
            recoveryKeyFile: nonEmpty("a file path").optional(),
            lateDecryptionMaxAgeSeconds: int(0, 86_400).default(600),
            // Replace a cross-signing identity whose recovery key is lost (see README).
            resetIdentity: bool.default(false),
          },
          { error: "expected a mapping" },
        )
        .default({
          enabled: true,
          requireVerifiedDevicesForCommands: true,
          shareKeysWithUnverifiedDevices: false,
          trustOnFirstUse: false,
          lateDecryptionMaxAgeSeconds: 600,
          resetIdentity: false,
        }),
      // ---- Safe mode (src/safemode/): start-up limits that are Tyr's own settings ----
      safeMode: z
        .strictObject(
          // A watched list with more policy events than this is not loaded at start-up: safe mode.
          { maxRulesPerList: int(1, 100_000_000).default(1_000_000) },
          { error: "expected a mapping" },
        )
        .default({ maxRulesPerList: 1_000_000 }),
      // ---- Tyr's HTTP listener (src/http/) and the homeserver antispam backend (src/antispam/) ----
      http: httpSchema,
      antispam: antispamSchema,
      // ---- /metrics, /healthz, /readyz (src/metrics/) ----
      metrics: metricsSchema,
      // ---- Tyr as the MSC4284 policy server of its rooms (src/policyserver/) ----
      policyServer: policyServerSchema,
      // ---- The web dashboard (src/dashboard/) ----
      dashboard: dashboardSchema,
    },
    { error: "expected a mapping of configuration keys" },
  )
  // Checked even when other keys are wrong, so an empty file lists every key it needs at once.
  .refine(
    (c) =>
      (c as Partial<typeof c>).managementRoom !== undefined ||
      (c as Partial<typeof c>).initialModerator !== undefined,
    {
      path: ["managementRoom"],
      error:
        "expected a room ID (!…) or alias (#…:server), or initialModerator (@you:server) to let Tyr create the room on its first run",
      when: (payload) => {
        const v = payload.value as Record<string, unknown> | null;
        return typeof v === "object" && v !== null && v.managementRoom === undefined;
      },
    },
  )
  .superRefine((c, ctx) => {
    if (
      /^http:\/\//i.test(c.homeserverUrl) &&
      urlSecurity(c.homeserverUrl) === "insecure" &&
      !c.allowInsecureHomeserver
    ) {
      ctx.addIssue({
        code: "custom",
        path: ["homeserverUrl"],
        message:
          "plain http:// is accepted only on loopback (127.0.0.1, ::1, localhost): use https://, or set allowInsecureHomeserver: true if the path to this host is a private network you trust",
      });
    }
    const tokenSources = [c.accessToken, c.accessTokenFile].filter((v) => v !== undefined).length;
    if (tokenSources > 1) {
      ctx.addIssue({
        code: "custom",
        path: ["accessTokenFile"],
        message: "give either accessToken or accessTokenFile, not both",
      });
    }
    if (c.password !== undefined && c.passwordFile !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["passwordFile"],
        message: "give either password or passwordFile, not both",
      });
    }
  });

export type ConfigInput = z.input<typeof configSchema>;
export type ParsedConfig = z.output<typeof configSchema>;
