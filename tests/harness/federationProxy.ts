// The reverse proxy an admin puts in front of their homeserver for Tyr's policy server, on
// loopback: TLS on the port in the homeserver's server name; /_matrix/policy/ goes to Tyr's HTTP
// listener, everything else to the homeserver's own federation listener (TLS, self-signed in the
// tests). Synapse sends sign requests to the policy server's *server name*, so this is where they
// arrive, exactly as nginx/Caddy would route them in production.
import { readFileSync } from "node:fs";
import { request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer, request as httpsRequest, type Server } from "node:https";

export interface FederationProxy {
  readonly port: number;
  /** Sign requests forwarded to Tyr so far. */
  readonly policyRequests: () => number;
  stop(): Promise<void>;
}

export async function startFederationProxy(opts: {
  port: number;
  cert: string;
  key: string;
  /** The homeserver's real federation listener (TLS). */
  homeserverPort: number;
  /** Tyr's HTTP listener (plain HTTP on loopback). */
  tyrPort: number;
}): Promise<FederationProxy> {
  let policy = 0;
  const forward = (req: IncomingMessage, res: ServerResponse) => {
    const toTyr = (req.url ?? "").startsWith("/_matrix/policy/");
    if (toTyr) policy++;
    const common = { host: "127.0.0.1", method: req.method, path: req.url, headers: req.headers };
    const upstream = toTyr
      ? httpRequest({ ...common, port: opts.tyrPort })
      : httpsRequest({ ...common, port: opts.homeserverPort, rejectUnauthorized: false });
    upstream.on("response", (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on("error", () => {
      if (!res.headersSent) res.writeHead(502, { "content-type": "application/json" });
      res.end(JSON.stringify({ errcode: "M_UNKNOWN", error: "upstream unreachable" }));
    });
    req.pipe(upstream);
  };
  const server: Server = createServer(
    { cert: readFileSync(opts.cert), key: readFileSync(opts.key) },
    forward,
  );
  await new Promise<void>((r) => server.listen(opts.port, "127.0.0.1", r));
  return {
    port: opts.port,
    policyRequests: () => policy,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
