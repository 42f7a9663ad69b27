// Test-only TLS material and federating homeservers on loopback.
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Synapse, freePort } from "./synapse.ts";

/** A self-signed certificate for `host` in `dir` (the test servers do not verify each other's). */
export function selfSignedCert(dir: string, host: string): { cert: string; key: string } {
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

/** A Synapse named `<host>:<port>` serving federation over TLS on loopback, its data under `root`. */
export async function federatingHomeserver(root: string, host: string): Promise<Synapse> {
  const { cert, key } = selfSignedCert(join(root, "certs"), host);
  const fedPort = await freePort();
  return Synapse.create({
    dir: join(root, host),
    // An explicit port: no .well-known or SRV lookup; `.localhost` resolves to loopback.
    serverName: `${host}:${fedPort}`,
    rateLimits: "relaxed",
    federation: { port: fedPort, tlsCertPath: cert, tlsKeyPath: key },
  });
}
