// Homeservers that federate with each other on loopback over TLS with self-signed certificates
// (see FederationOptions in synapse.ts): named `<host>:<port>` so no well-known or SRV lookup is
// made, and `.localhost` names resolve to 127.0.0.1.
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Synapse, freePort, type SynapseOptions } from "./synapse.ts";

/** A self-signed certificate for `host` under `root`/certs (the test servers do not verify each other's). */
export function selfSigned(root: string, host: string): { cert: string; key: string } {
  const dir = join(root, "certs");
  mkdirSync(dir, { recursive: true });
  const cert = join(dir, `${host}.crt`);
  const key = join(dir, `${host}.key`);
  const r = spawnSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "2",
      "-subj",
      `/CN=${host}`,
      "-addext",
      `subjectAltName=DNS:${host}`,
    ],
    { encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  return { cert, key };
}

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
