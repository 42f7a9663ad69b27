// Forms of an entity that rules are matched against, shared by the matcher and the member index
// (members.ts): the host of a server name or of a user ID's server (what server rules match,
// lower-cased, port removed; serverName.ts) and the MSC4205 hash of an entity.
import { createHash } from "node:crypto";

export { serverHost, serverOfLowerUser, serverOfUser } from "./serverName.ts";

/** Unpadded standard base64 SHA-256 of the UTF-8 string (MSC4205 form, see parse.ts). */
export function sha256Base64(s: string): string {
  return createHash("sha256").update(s, "utf8").digest("base64").replace(/=+$/, "");
}
