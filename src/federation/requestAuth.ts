// Authenticating an incoming federation request end to end: parse the X-Matrix header, get the
// origin's key (cached, fetched on demand), verify the signature over method, URI, destination and
// body. Every failure is a reason for a 401, never an exception.
import type { ServerKeyCache } from "./keyCache.ts";
import { parseXMatrix, verifyXMatrix } from "./xMatrix.ts";

export type Authenticated =
  { readonly ok: true; readonly origin: string } | { readonly ok: false; readonly reason: string };

export interface IncomingRequest {
  readonly method: string;
  /** The request target exactly as received (path and query), not re-encoded. */
  readonly uri: string;
  /** The parsed JSON body; undefined when the request has none. */
  readonly content?: unknown;
  /** The Authorization header value(s). */
  readonly authorization: string | readonly string[] | undefined;
}

export async function authenticateRequest(
  req: IncomingRequest,
  ownServerName: string,
  keys: ServerKeyCache,
): Promise<Authenticated> {
  const headers =
    req.authorization === undefined
      ? []
      : typeof req.authorization === "string"
        ? [req.authorization]
        : req.authorization;
  const xMatrix = headers.filter((h) => /^x-matrix /i.test(h));
  if (xMatrix.length === 0) return { ok: false, reason: "no X-Matrix Authorization header" };
  // Several headers (one per key of the origin) are allowed. As Synapse does: they must name one
  // origin, every signature whose key can be had must verify, and at least one must.
  const auths = [];
  for (const header of xMatrix.slice(0, 4)) {
    const parsed = parseXMatrix(header);
    if (!parsed.ok) return { ok: false, reason: parsed.reason };
    auths.push(parsed.auth);
  }
  const origin = (auths[0] as (typeof auths)[number]).origin;
  if (auths.some((a) => a.origin !== origin))
    return { ok: false, reason: "X-Matrix headers name different origins" };
  let verified = 0;
  const missing: string[] = [];
  for (const auth of auths) {
    const key = await keys.verifyKey(origin, auth.key);
    if (!key.ok) {
      missing.push(key.reason);
      continue;
    }
    const checked = verifyXMatrix(auth, req, ownServerName, key.key);
    if (!checked.ok) return { ok: false, reason: checked.reason };
    verified++;
  }
  return verified > 0 ? { ok: true, origin } : { ok: false, reason: missing.join("; ") };
}
