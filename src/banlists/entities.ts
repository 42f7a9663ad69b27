// Forms of an entity that rules are matched against, shared by the matcher and the member index
// (members.ts): the host of a server name or of a user ID's server (what server rules match,
// lower-cased, port removed) and the MSC4205 hash of an entity.
import { createHash } from "node:crypto";

/** Host of the (lower-cased) server name starting at `from` of `s`, port removed. */
function hostAt(s: string, from: number): string {
  if (s.charCodeAt(from) === 91 /* [ */) {
    const close = s.indexOf("]", from);
    return close < 0 ? s.slice(from) : s.slice(from, close + 1);
  }
  const colon = s.indexOf(":", from);
  return colon < 0 ? s.slice(from) : s.slice(from, colon);
}

/** Host part of a server name, lower-cased, port removed (`[::1]:8448` → `[::1]`). */
export function serverHost(server: string): string {
  return hostAt(server.toLowerCase(), 0);
}

/** Server part of a user ID (after the first `:`), host only, lower-cased; "" if there is none. */
export function serverOfUser(userId: string): string {
  const colon = userId.indexOf(":");
  return colon < 0 ? "" : serverHost(userId.slice(colon + 1));
}

/** `serverOfUser` for an ID that is lower-case already (no copy of the whole ID, no second scan). */
export function serverOfLowerUser(lower: string): string {
  const colon = lower.indexOf(":");
  return colon < 0 ? "" : hostAt(lower, colon + 1);
}

/** Unpadded standard base64 SHA-256 of the UTF-8 string (MSC4205 form, see parse.ts). */
export function sha256Base64(s: string): string {
  return createHash("sha256").update(s, "utf8").digest("base64").replace(/=+$/, "");
}
