// The `http:` block of the config: where Tyr's HTTP listener binds and its limits. Kept here (and
// spread into src/config/schema.ts) so the listener's settings live beside the listener.
import { z } from "zod";
import { isProxyEntry } from "./clientAddress.ts";

const int = (min: number, max: number) =>
  z
    .number({ error: `expected an integer between ${min} and ${max}` })
    .int({ error: `expected an integer between ${min} and ${max}` })
    .min(min, { error: `expected an integer between ${min} and ${max}` })
    .max(max, { error: `expected an integer between ${min} and ${max}` });

const bindAddress = z
  .string({ error: "expected an IP address or host name to bind to, such as 127.0.0.1" })
  .regex(/^[A-Za-z0-9.:_-]{1,255}$/, {
    error: "expected an IP address or host name to bind to, such as 127.0.0.1",
  });

const path = z.string({ error: "expected a file path" }).min(1, { error: "expected a file path" });

/** Serve HTTPS with this certificate (PEM, chain included) and its private key (PEM). */
const tls = z.strictObject(
  { certFile: path, keyFile: path },
  { error: "expected a mapping with certFile and keyFile" },
);

const address = z.strictObject(
  { bind: bindAddress.optional(), port: int(0, 65_535).optional(), tls: tls.optional() },
  { error: "expected a mapping with bind, port and/or tls" },
);

export const HTTP_DEFAULTS = {
  bind: "127.0.0.1",
  port: 8090,
  maxBodyBytes: 65_536,
  requestTimeoutSeconds: 10,
  headersTimeoutSeconds: 5,
  keepAliveTimeoutSeconds: 5,
  maxConnections: 256,
  trustedProxies: [],
  listeners: {},
} as const;

const proxyEntry = z
  .string({ error: "expected an IP address or CIDR range, such as 127.0.0.1 or 10.0.0.0/8" })
  .refine(isProxyEntry, { error: "expected an IP address or CIDR range, such as 127.0.0.1 or 10.0.0.0/8" });

export const httpSchema = z
  .strictObject(
    {
      bind: bindAddress.default(HTTP_DEFAULTS.bind),
      port: int(0, 65_535).default(HTTP_DEFAULTS.port),
      maxBodyBytes: int(1_024, 16 * 1024 * 1024).default(HTTP_DEFAULTS.maxBodyBytes),
      requestTimeoutSeconds: int(1, 300).default(HTTP_DEFAULTS.requestTimeoutSeconds),
      headersTimeoutSeconds: int(1, 300).default(HTTP_DEFAULTS.headersTimeoutSeconds),
      keepAliveTimeoutSeconds: int(1, 600).default(HTTP_DEFAULTS.keepAliveTimeoutSeconds),
      maxConnections: int(1, 65_535).default(HTTP_DEFAULTS.maxConnections),
      tls: tls.optional(),
      /** Reverse proxies whose X-Forwarded-For Tyr believes (for rate limits and logs). */
      trustedProxies: z
        .array(proxyEntry, { error: "expected a list of IP addresses or CIDR ranges" })
        .default([]),
      /** A feature's routes on an address of their own, e.g. `metrics: {port: 9090}`. */
      listeners: z
        .record(z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, { error: "expected a feature name" }), address, {
          error: "expected a mapping of feature name to {bind, port, tls}",
        })
        .default({}),
    },
    { error: "expected a mapping" },
  )
  .default({ ...HTTP_DEFAULTS, trustedProxies: [], listeners: {} });

export type HttpConfig = z.output<typeof httpSchema>;

export type TlsFiles = z.output<typeof tls>;
