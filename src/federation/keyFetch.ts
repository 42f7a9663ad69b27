// The network side of fetching a remote server's signing keys (the shell around keyCache.ts and
// discovery.ts): resolve the server name (well-known delegation, SRV, 8448), then HTTPS GET
// /_matrix/key/v2/server. Whoever claims an origin in an X-Matrix header chooses the host Tyr
// connects to, so every connection is bounded: a timeout for the whole request, a cap on the
// response size, no redirects, and no private or loopback addresses (unless a test-only setting
// allows them; the test homeservers are on loopback). The cache's `mayFetch` decides *whether* a
// server may be contacted at all; this decides *how*.
import { BlockList, isIP } from "node:net";
import { promises as dnsPromises, lookup as dnsLookup, type LookupAddress } from "node:dns";
import { request as httpsRequest, type RequestOptions } from "node:https";
import { request as httpRequest } from "node:http";
import type { LookupFunction } from "node:net";
import {
  resolveServerName,
  type DiscoveryLookups,
  type FederationTarget,
  type SrvRecord,
} from "./discovery.ts";
import type { FetchServerKeys } from "./keyCache.ts";

export interface KeyFetchOptions {
  /** Whole request (connect, TLS, answer) must finish within this. */
  readonly timeoutMs: number;
  /** Larger answers are cut off and refused. */
  readonly maxBytes: number;
  /** Test only: connect to loopback and private addresses (the test homeservers run on 127.0.0.1). */
  readonly allowPrivateAddresses: boolean;
  /** Test only: accept certificates no CA vouches for (the test homeservers' are self-signed). */
  readonly acceptSelfSigned: boolean;
  /** How long a well-known answer (or its absence) is remembered. Default 1 hour. */
  readonly wellKnownCacheMs?: number;
  readonly now?: () => number;
}

export const KEY_FETCH_DEFAULTS = { timeoutMs: 10_000, maxBytes: 64 * 1024 } as const;

/** Addresses Tyr never contacts on a stranger's word: loopback, private, link-local, CGNAT, unspecified. */
const PRIVATE = new BlockList();
for (const [net, prefix] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.168.0.0", 16],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
] as const)
  PRIVATE.addSubnet(net, prefix, "ipv4");
for (const [net, prefix] of [
  ["::", 128],
  ["::1", 128],
  ["fc00::", 7],
  ["fe80::", 10],
  ["ff00::", 8],
] as const)
  PRIVATE.addSubnet(net, prefix, "ipv6");

/** Whether `ip` (v4, v6, or IPv4-mapped v6) is an address a federation fetch must not reach. */
export function isPrivateAddress(ip: string): boolean {
  const family = isIP(ip);
  if (family === 0) return true; // not an address: refuse rather than guess
  if (family === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1];
    if (mapped !== undefined) return PRIVATE.check(mapped, "ipv4");
    return PRIVATE.check(ip, "ipv6");
  }
  return PRIVATE.check(ip, "ipv4");
}

/** A DNS lookup that refuses names resolving to private addresses (checked on what is connected to). */
function guardedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    // RFC 6761: `localhost` and names under it are loopback, whatever the system resolver says.
    const local = /^(.+\.)?localhost\.?$/i.test(hostname);
    const lookup = local
      ? (_h: string, _o: object, cb: (e: null, a: LookupAddress[]) => void) =>
          cb(null, [{ address: "127.0.0.1", family: 4 }])
      : dnsLookup;
    lookup(
      hostname,
      { ...options, all: true },
      (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => {
        if (err) return callback(err, "", 0);
        const usable = allowPrivate ? addresses : addresses.filter((a) => !isPrivateAddress(a.address));
        const first = usable[0];
        if (first === undefined)
          return callback(
            Object.assign(new Error(`${hostname} resolves only to private or loopback addresses`), {
              code: "EPRIVATE",
            }),
            "",
            0,
          );
        if ((options as { all?: boolean }).all)
          return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, usable);
        callback(null, first.address, first.family);
      },
    );
  };
}

/** A non-200 answer: `status` lets callers tell "refused" from "unreachable". */
export class HttpStatusError extends Error {
  readonly status: number;
  constructor(status: number, where: string) {
    super(`HTTP ${status} from ${where}`);
    this.status = status;
  }
}

/** GET `https://<target><path>` and parse the JSON answer; rejects with a reason on anything else. */
export function httpsGetJson(
  target: FederationTarget,
  path: string,
  opts: KeyFetchOptions,
): Promise<unknown> {
  return getJson(target, path, opts, httpsRequest);
}

/**
 * The same over plain http (a homeserver URL on loopback, as an admin configured it). Reasons never
 * carry the query string: it may hold a secret (an OpenID access token).
 */
export function getJson(
  target: FederationTarget,
  path: string,
  opts: KeyFetchOptions,
  send: typeof httpsRequest | typeof httpRequest,
): Promise<unknown> {
  const ipLiteral = isIP(target.host) !== 0;
  if (ipLiteral && !opts.allowPrivateAddresses && isPrivateAddress(target.host))
    return Promise.reject(
      Object.assign(new Error(`${target.host} is a private or loopback address`), { code: "EPRIVATE" }),
    );
  const where = `${target.hostHeader}${path.split("?")[0]}`;
  const options: RequestOptions = {
    host: target.host,
    port: target.port,
    path,
    method: "GET",
    headers: { Host: target.hostHeader, Accept: "application/json" },
    rejectUnauthorized: !opts.acceptSelfSigned,
    timeout: opts.timeoutMs,
    lookup: guardedLookup(opts.allowPrivateAddresses),
    agent: false,
    ...(isIP(target.tlsName) === 0 ? { servername: target.tlsName } : {}),
  };
  const tooSlow = () =>
    Object.assign(new Error(`no answer from ${target.hostHeader} within ${opts.timeoutMs} ms`), {
      code: "ETIMEDOUT",
    });
  return new Promise((resolve, reject) => {
    const req = send(options, (res) => {
      // Redirects are not followed: whoever answers must answer itself.
      if (res.statusCode !== 200) {
        res.resume();
        reject(new HttpStatusError(res.statusCode ?? 0, where));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > opts.maxBytes) {
          req.destroy(
            Object.assign(new Error(`the answer of ${where} is larger than ${opts.maxBytes} bytes`), {
              code: "ETOOLARGE",
            }),
          );
          return;
        }
        chunks.push(c);
      });
      res.on("end", () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
        } catch {
          reject(new Error(`the answer of ${where} is not JSON`));
        }
      });
      res.on("error", reject);
    });
    const timer = setTimeout(() => req.destroy(tooSlow()), opts.timeoutMs);
    req.on("close", () => clearTimeout(timer));
    req.on("timeout", () => req.destroy(tooSlow()));
    req.on("error", (e) => reject(e));
    req.end();
  });
}

/** DNS and well-known lookups for discovery.ts, with well-known answers (and failures) cached. */
export function networkLookups(
  opts: KeyFetchOptions,
  get: (target: FederationTarget, path: string, opts: KeyFetchOptions) => Promise<unknown> = httpsGetJson,
): DiscoveryLookups {
  const cacheMs = opts.wellKnownCacheMs ?? 3_600_000;
  const now = opts.now ?? Date.now;
  const wellKnown = new Map<string, { at: number; body: unknown }>();
  return {
    async fetchWellKnown(hostname) {
      const hit = wellKnown.get(hostname);
      if (hit !== undefined && now() - hit.at < cacheMs) return hit.body;
      let body: unknown;
      try {
        body = await get(
          { host: hostname, port: 443, hostHeader: hostname, tlsName: hostname },
          "/.well-known/matrix/server",
          opts,
        );
      } catch {
        body = undefined;
      }
      if (wellKnown.size >= 10_000) wellKnown.delete(wellKnown.keys().next().value as string);
      wellKnown.set(hostname, { at: now(), body });
      return body;
    },
    async resolveSrv(name): Promise<readonly SrvRecord[]> {
      return dnsPromises.resolveSrv(name);
    },
  };
}

/** The `fetchKeys` of a ServerKeyCache that reaches servers over the network. */
export function networkKeyFetcher(
  opts: KeyFetchOptions,
  lookups: DiscoveryLookups = networkLookups(opts),
): FetchServerKeys {
  return async (serverName) => {
    const target = await resolveServerName(serverName, lookups);
    return httpsGetJson(target, "/_matrix/key/v2/server", opts);
  };
}
