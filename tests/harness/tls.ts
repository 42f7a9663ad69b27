// Self-signed certificates for test servers on loopback (openssl, from Debian's base system).
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

/** A self-signed certificate (its own CA) for `host`: a DNS name, or an IP address. */
export function selfSignedCert(dir: string, host: string): { cert: string; key: string } {
  mkdirSync(dir, { recursive: true });
  const cert = join(dir, `${host}.crt`);
  const key = join(dir, `${host}.key`);
  const san = /^[\d.]+$|:/.test(host) ? `IP:${host}` : `DNS:${host}`;
  const r = spawnSync(
    "openssl",
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
      .concat(["-keyout", key, "-out", cert, "-days", "2", "-subj", `/CN=${host}`])
      .concat(["-addext", `subjectAltName=${san}`]),
    { encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  return { cert, key };
}
