// The `policyServer:` block of the config: Tyr as the MSC4284 policy server of its protected
// rooms (src/policyserver/). Spread into src/config/schema.ts. The signing key lives in its own
// file (0600, generated on first use); its path is the only thing about it the config holds.
import { z } from "zod";
import { MAX_SIGN_REQUEST_BYTES } from "../federation/policyServer.ts";

export const POLICY_SERVER_DEFAULTS = {
  enabled: false,
  maxRequestsPerMinutePerServer: 6_000,
  maxBodyBytes: MAX_SIGN_REQUEST_BYTES,
  keyFetchTimeoutSeconds: 10,
  summaryIntervalSeconds: 600,
  testOnlyInsecureKeyFetch: false,
} as const;

const int = (min: number, max: number) =>
  z
    .number({ error: `expected an integer between ${min} and ${max}` })
    .int({ error: `expected an integer between ${min} and ${max}` })
    .min(min, { error: `expected an integer between ${min} and ${max}` })
    .max(max, { error: `expected an integer between ${min} and ${max}` });

export const policyServerSchema = z
  .strictObject(
    {
      enabled: z.boolean({ error: "expected true or false" }).default(POLICY_SERVER_DEFAULTS.enabled),
      /** The server name Tyr answers as (`via`); default: the server name of Tyr's account. */
      serverName: z
        .string({ error: "expected a server name such as example.org" })
        .regex(/^[A-Za-z0-9.:[\]-]{1,255}$/, { error: "expected a server name such as example.org" })
        .optional(),
      /** Default: <dataPath>/policy-server.key. */
      signingKeyFile: z
        .string({ error: "expected a file path" })
        .min(1, { error: "expected a file path" })
        .optional(),
      maxRequestsPerMinutePerServer: int(10, 1_000_000).default(
        POLICY_SERVER_DEFAULTS.maxRequestsPerMinutePerServer,
      ),
      maxBodyBytes: int(1_024, 1_048_576).default(POLICY_SERVER_DEFAULTS.maxBodyBytes),
      keyFetchTimeoutSeconds: int(1, 60).default(POLICY_SERVER_DEFAULTS.keyFetchTimeoutSeconds),
      summaryIntervalSeconds: int(10, 86_400).default(POLICY_SERVER_DEFAULTS.summaryIntervalSeconds),
      /** TESTS ONLY: fetch keys from loopback/private addresses and accept self-signed certificates. */
      testOnlyInsecureKeyFetch: z
        .boolean({ error: "expected true or false" })
        .default(POLICY_SERVER_DEFAULTS.testOnlyInsecureKeyFetch),
    },
    { error: "expected a mapping" },
  )
  .default({ ...POLICY_SERVER_DEFAULTS });

export type PolicyServerConfig = z.output<typeof policyServerSchema>;
