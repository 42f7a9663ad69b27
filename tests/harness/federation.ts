// Homeservers that federate with each other on loopback over TLS with self-signed certificates
// (see FederationOptions in synapse.ts): named `<host>:<port>` so no well-known or SRV lookup is
// made, and `.localhost` names resolve to 127.0.0.1.
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import { join } from "node:path";
import { Synapse, freePort, type SynapseOptions } from "./synapse.ts";
import { selfSignedCert } from "./tls.ts";

/** A self-signed certificate for `host` under `root`/certs (the test servers do not verify each other's). */
const selfSigned = (root: string, host: string) => selfSignedCert(join(root, "certs"), host);

/** A Synapse in `root`/`host` that federates over TLS; `extra` adds options (e.g. antispam). */
export async function federatedHomeserver(
  root: string,
  host: string,
  extra: Partial<SynapseOptions> = {},
): Promise<Synapse> {
  const { cert, key } = selfSigned(root, host);
  const fedPort = await freePort();
  return Synapse.create({
    dir: join(root, host),
    serverName: `${host}:${fedPort}`,
    rateLimits: "relaxed",
    federation: { port: fedPort, tlsCertPath: cert, tlsKeyPath: key },
    ...extra,
  });
}

/**
 * A Synapse named by a bare host name (`host`, no port), delegated by `.well-known/matrix/server`
 * served on 127.0.0.1:443 (binding it needs root, as in the sandbox and CI) to its federation
 * listener: other servers reach it through server-name resolution, as on the internet. The
 * well-known server counts the requests it answers, by whether Synapse sent them. Where port 443
 * cannot be had (not root, or taken), the Synapse is named `<host>:<port>` instead and
 * `wellKnown` is undefined: callers still test everything but the delegation, and say so.
 */
export async function delegatedHomeserver(
  root: string,
  host: string,
): Promise<{ synapse: Synapse; wellKnown: Server | undefined; asked: { synapse: number; other: number } }> {
  const { cert, key } = selfSigned(root, host);
  const fedPort = await freePort();
  const asked = { synapse: 0, other: 0 };
  const wellKnown = createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => {
    if (req.url !== "/.well-known/matrix/server") return void res.writeHead(404).end("{}");
    asked[/synapse/i.test(req.headers["user-agent"] ?? "") ? "synapse" : "other"] += 1;
    res.setHeader("Content-Type", "application/json");
    res.end(JSON.stringify({ "m.server": `${host}:${fedPort}` }));
  });
  const delegated = await new Promise<boolean>((resolve) => {
    wellKnown.once("error", (e: NodeJS.ErrnoException) => {
      process.stderr.write(
        `delegatedHomeserver: cannot serve .well-known on 127.0.0.1:443 (${e.code ?? e.message}); ` +
          `naming ${host} with its port instead, so the delegation itself is not tested\n`,
      );
      resolve(false);
    });
    wellKnown.listen(443, "127.0.0.1", () => resolve(true));
  });
  const synapse = await Synapse.create({
    dir: join(root, host),
    serverName: delegated ? host : `${host}:${fedPort}`,
    rateLimits: "relaxed",
    federation: { port: fedPort, tlsCertPath: cert, tlsKeyPath: key },
  });
  return { synapse, wellKnown: delegated ? wellKnown : undefined, asked };
}
