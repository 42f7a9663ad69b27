// Where to reach a server by name (spec "Resolving server names"): IP literals and explicit ports
// directly; otherwise /.well-known/matrix/server delegation, then SRV `_matrix-fed._tcp` (and the
// deprecated `_matrix._tcp`), then port 8448. The lookups are injected (the shell does DNS and
// HTTPS), so the order of the steps, the Host header and the TLS name are decided here and tested.
import { isIPv4, isIPv6 } from "node:net";
import { isJsonObject } from "./signedJson.ts";
import { isValidServerName } from "./serverName.ts";

export const DEFAULT_FEDERATION_PORT = 8448;

export interface SrvRecord {
  readonly name: string;
  readonly port: number;
  readonly priority: number;
  readonly weight: number;
}

export interface DiscoveryLookups {
  /** Parsed JSON of GET https://<hostname>/.well-known/matrix/server; throw or undefined when none. */
  fetchWellKnown(hostname: string): Promise<unknown>;
  /** SRV records of `name`; empty or throw when none. */
  resolveSrv(name: string): Promise<readonly SrvRecord[]>;
}

export interface FederationTarget {
  /** Host to connect to: an IP literal (IPv6 without brackets) or a DNS name to resolve. */
  readonly host: string;
  readonly port: number;
  /** Value of the Host header. */
  readonly hostHeader: string;
  /** Name the server's TLS certificate must be valid for. */
  readonly tlsName: string;
}

interface Split {
  readonly host: string;
  readonly port?: number;
  readonly ip: boolean;
}

function split(name: string): Split {
  if (name.startsWith("[")) {
    const close = name.indexOf("]");
    const rest = name.slice(close + 1);
    return {
      host: name.slice(1, close),
      ip: true,
      ...(rest.startsWith(":") ? { port: Number(rest.slice(1)) } : {}),
    };
  }
  const colon = name.lastIndexOf(":");
  const host = colon >= 0 ? name.slice(0, colon) : name;
  return {
    host,
    ip: isIPv4(host) || isIPv6(host),
    ...(colon >= 0 ? { port: Number(name.slice(colon + 1)) } : {}),
  };
}

/** The delegated server of a well-known response, or undefined when it is unusable. */
export function wellKnownServer(body: unknown): string | undefined {
  if (!isJsonObject(body)) return undefined;
  const server = body["m.server"];
  return typeof server === "string" && isValidServerName(server) ? server : undefined;
}

/** Lowest priority first; among equals the highest weight (deterministic rather than weighted-random). */
function bestSrv(records: readonly SrvRecord[]): SrvRecord | undefined {
  return [...records]
    .filter(
      (r) => r.name !== "" && r.name !== "." && Number.isInteger(r.port) && r.port > 0 && r.port < 65536,
    )
    .sort((a, b) => a.priority - b.priority || b.weight - a.weight)[0];
}

async function srvOf(hostname: string, lookups: DiscoveryLookups): Promise<SrvRecord | undefined> {
  for (const name of [`_matrix-fed._tcp.${hostname}`, `_matrix._tcp.${hostname}`]) {
    const records = await lookups.resolveSrv(name).catch((): readonly SrvRecord[] => []);
    const best = bestSrv(records);
    if (best !== undefined) return best;
  }
  return undefined;
}

/** Steps 3.x / 4–6 for a name without IP literal or port. */
async function viaSrvOrDefault(hostname: string, lookups: DiscoveryLookups): Promise<FederationTarget> {
  const srv = await srvOf(hostname, lookups);
  if (srv !== undefined)
    return { host: srv.name.replace(/\.$/, ""), port: srv.port, hostHeader: hostname, tlsName: hostname };
  return { host: hostname, port: DEFAULT_FEDERATION_PORT, hostHeader: hostname, tlsName: hostname };
}

/** Where and how to reach `serverName`. Throws only for a name that is not a server name. */
export async function resolveServerName(
  serverName: string,
  lookups: DiscoveryLookups,
): Promise<FederationTarget> {
  if (!isValidServerName(serverName))
    throw new Error(`not a server name: ${JSON.stringify(serverName.slice(0, 100))}`);
  const s = split(serverName);
  // 1. IP literal; 2. explicit port: no delegation.
  if (s.ip || s.port !== undefined)
    return { host: s.host, port: s.port ?? DEFAULT_FEDERATION_PORT, hostHeader: serverName, tlsName: s.host };
  // 3. .well-known delegation.
  let delegated: string | undefined;
  try {
    delegated = wellKnownServer(await lookups.fetchWellKnown(s.host));
  } catch {
    delegated = undefined;
  }
  if (delegated !== undefined) {
    const d = split(delegated);
    if (d.ip || d.port !== undefined)
      return {
        host: d.host,
        port: d.port ?? DEFAULT_FEDERATION_PORT,
        hostHeader: delegated,
        tlsName: d.host,
      };
    return viaSrvOrDefault(d.host, lookups);
  }
  // 4–6. SRV on the server name itself, then port 8448.
  return viaSrvOrDefault(s.host, lookups);
}
