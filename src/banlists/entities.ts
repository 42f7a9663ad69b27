// Forms of an entity that rules are matched against, shared by the matcher and the member index
// (members.ts): the host of a server name or of a user ID's server (what server rules match,
// lower-cased, port removed; serverName.ts) and the MSC4205 hash of an entity.
import { hash } from "node:crypto";

export { serverHost, serverOfLowerUser, serverOfUser } from "./serverName.ts";

/**
 * Unpadded standard base64 SHA-256 of the UTF-8 string (MSC4205 form, see parse.ts). The one-shot
 * `crypto.hash` costs about half of a `createHash` object's round trip (~0.7 µs for a user ID on
 * the bench machine); a SHA-256 digest is always 43 base64 characters and one `=`.
 */
export function sha256Base64(s: string): string {
  return hash("sha256", s, "base64").slice(0, 43);
}

/**
 * The hashes of recently seen entities, for the few that recur on every check (server hosts):
 * two generations of at most `size / 2` entries each; when the current one is full it becomes the
 * old one and the older is dropped whole. Every operation is O(1) (an eviction by iterating a
 * Map's keys scans the tombstones of earlier deletions and made checks 60× slower, issue #12).
 */
export class RecentHashes {
  private current = new Map<string, string>();
  private previous = new Map<string, string>();
  private readonly half: number;

  constructor(size: number) {
    this.half = Math.max(1, Math.floor(size / 2));
  }

  of(s: string): string {
    let h = this.current.get(s);
    if (h !== undefined) return h;
    h = this.previous.get(s) ?? sha256Base64(s);
    if (this.current.size >= this.half) {
      this.previous = this.current;
      this.current = new Map();
    }
    this.current.set(s, h);
    return h;
  }
}
