// Homeservers that federate with each other on loopback over TLS with self-signed certificates
// (see FederationOptions in synapse.ts): named `<host>:<port>` so no well-known or SRV lookup is
// made, and `.localhost` names resolve to 127.0.0.1.
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
