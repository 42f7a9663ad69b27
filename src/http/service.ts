// Tyr's HTTP listener as part of the shell: features register their routes while the bot is
// assembled; `start` opens one server per address (the shared `http.bind`/`http.port`, or a
// feature's own address from `http.listeners.<feature>`), `stop` closes them with the bot.
// Nothing listens when no feature registered a route.
import type { Feature } from "../feature.ts";
import type { Logger } from "../logging.ts";
import { readFileSync } from "node:fs";
import type { HttpConfig, TlsFiles } from "./config.ts";
import { trustedProxyList } from "./clientAddress.ts";
import { HttpListener } from "./server.ts";
import type { Route } from "./types.ts";

export class HttpService implements Feature {
  readonly name = "http";
  /** Routes not yet placed on a listener. */
  private pending: Route[] = [];
  private readonly listeners: HttpListener[] = [];

  private readonly config: HttpConfig;
  private readonly log: Logger;

  constructor(config: HttpConfig, log: Logger) {
    this.config = config;
    this.log = log;
  }

  /** Routes take effect at the next `start` (the bot calls it when its features start). */
  register(...routes: Route[]): void {
    this.pending.push(...routes);
  }

  /** Bound addresses by listener name and their open connections, once started (for status and tests). */
  addresses(): { name: string; host: string; port: number; connections: number }[] {
    return this.listeners.map((l) => ({ name: l.name, ...l.address(), connections: l.connectionCount() }));
  }

  /** Every route live on a listener, with its address (read-only: for the HTTP-level fuzz test). */
  routes(): { listener: string; host: string; port: number; route: Route }[] {
    return this.listeners.flatMap((l) =>
      l.routes().map((route) => ({ listener: l.name, ...l.address(), route })),
    );
  }

  /**
   * Places the routes registered since the last call: on the running listener of their address,
   * or on a new one. Called early by the shell (the antispam routes must answer before Tyr joins
   * its rooms, see src/main.ts) and again when the features start.
   */
  async start(): Promise<void> {
    const routes = this.pending;
    this.pending = [];
    for (const group of groupRoutes(this.config, routes)) {
      const running = this.listeners.find((l) => l.bind === group.bind && l.port === group.port);
      if (running !== undefined) {
        running.addRoutes(group.routes);
        continue;
      }
      const { tls, ...where } = group;
      const listener = new HttpListener({
        ...where,
        ...(tls ? { tls: readTls(tls, group.name) } : {}),
        limits: limitsOf(this.config),
        ...(this.config.trustedProxies.length > 0
          ? { trustedProxies: trustedProxyList(this.config.trustedProxies) }
          : {}),
        log: this.log,
      });
      try {
        await listener.start();
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? String(e);
        throw new Error(
          `the HTTP listener cannot listen on ${group.bind}:${group.port} (${code}): change http.bind/http.port (or http.listeners.${group.name}) in the config`,
          { cause: e },
        );
      }
      this.listeners.push(listener);
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.listeners.map((l) => l.stop()));
  }
}

export function limitsOf(c: HttpConfig) {
  return {
    maxBodyBytes: c.maxBodyBytes,
    requestTimeoutMs: c.requestTimeoutSeconds * 1000,
    headersTimeoutMs: c.headersTimeoutSeconds * 1000,
    keepAliveTimeoutMs: c.keepAliveTimeoutSeconds * 1000,
    maxConnections: c.maxConnections,
  };
}

export interface RouteGroup {
  name: string;
  bind: string;
  port: number;
  /** HTTPS with these files; plain HTTP when absent. */
  tls?: TlsFiles;
  routes: Route[];
}

/**
 * Routes grouped by address: a feature named in `listeners` gets its own server, with its own
 * `tls` (none unless given there); the others share `bind`/`port` and `http.tls`. Pure.
 */
export function groupRoutes(c: HttpConfig, routes: readonly Route[]): RouteGroup[] {
  const groups = new Map<string, RouteGroup>();
  for (const r of routes) {
    const own = Object.hasOwn(c.listeners, r.feature) ? c.listeners[r.feature] : undefined;
    const bind = own?.bind ?? c.bind;
    const port = own?.port ?? c.port;
    const tls = own !== undefined ? own.tls : c.tls;
    const key = `${bind}:${port}`;
    let g = groups.get(key);
    if (g === undefined) {
      g = { name: own ? r.feature : "main", bind, port, ...(tls ? { tls } : {}), routes: [] };
      groups.set(key, g);
    }
    g.routes.push(r);
  }
  return [...groups.values()];
}

/** The certificate and key of an HTTPS listener, read at start; the error names the config key. */
function readTls(files: TlsFiles, listener: string): { cert: Buffer; key: Buffer } {
  const key = listener === "main" ? "http.tls" : `http.listeners.${listener}.tls`;
  const read = (what: "certFile" | "keyFile") => {
    try {
      return readFileSync(files[what]);
    } catch (e) {
      throw new Error(
        `${key}.${what}: cannot read ${JSON.stringify(files[what])} (${(e as NodeJS.ErrnoException).code ?? "error"})`,
        { cause: e },
      );
    }
  };
  return { cert: read("certFile"), key: read("keyFile") };
}
