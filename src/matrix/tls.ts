// TLS for the connection to the homeserver. The access token and every decrypted command travel
// on it, so plain http:// is accepted only where no network is crossed (loopback), or where the
// admin explicitly says the path is private (`allowInsecureHomeserver`). Certificates are always
// verified; an admin with a private CA adds it with `homeserverCaFile` instead of turning checks off.
import { readFileSync } from "node:fs";
import { getCACertificates, setDefaultCACertificates } from "node:tls";
import { isIP } from "node:net";

/** Loopback: 127.0.0.0/8, ::1 (also IPv4-mapped), `localhost` and its subdomains (RFC 6761). */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname
    .toLowerCase()
    .replace(/^\[|\]$/g, "")
    .replace(/\.$/, "");
  if (h === "localhost" || h.endsWith(".localhost")) return true;
  if (isIP(h) === 4) return h.startsWith("127.");
  if (isIP(h) === 6) {
    if (h === "::1" || h === "0:0:0:0:0:0:0:1") return true;
    // IPv4-mapped, dotted (::ffff:127.0.0.1) or as URL normalises it (::ffff:7f00:1).
    const dotted = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h)?.[1];
    if (dotted !== undefined) return dotted.startsWith("127.");
    const hex = /^::ffff:([0-9a-f]{1,4}):[0-9a-f]{1,4}$/.exec(h)?.[1];
    return hex !== undefined && parseInt(hex, 16) >> 8 === 127;
  }
  return false;
}

export type UrlSecurity = "https" | "loopback" | "insecure";

/** How a homeserver URL is protected in transit. Unparseable URLs count as insecure. */
export function urlSecurity(url: string): UrlSecurity {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return "insecure";
  }
  if (u.protocol === "https:") return "https";
  return isLoopbackHost(u.hostname) ? "loopback" : "insecure";
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The PEM certificates in a CA file; throws an Error with a reason an admin can act on. */
export function readCaFile(
  path: string,
  read: (p: string) => string = (p) => readFileSync(p, "utf8"),
): string[] {
  let text: string;
  try {
    text = read(path);
  } catch (e) {
    throw new Error(`cannot read ${JSON.stringify(path)} (${(e as NodeJS.ErrnoException).code ?? "error"})`, {
      cause: e,
    });
  }
  const certs = text.match(PEM_CERT) ?? [];
  if (certs.length === 0) {
    throw new Error(`${JSON.stringify(path)} holds no PEM certificate ("-----BEGIN CERTIFICATE-----")`);
  }
  return certs;
}

/**
 * Adds the admin's CA certificates to the ones every TLS connection of this process trusts
 * (Node's fetch included), beside the bundled public roots — never instead of verification.
 */
export function trustExtraCertificates(certs: readonly string[]): void {
  setDefaultCACertificates([...getCACertificates("default"), ...certs]);
}
