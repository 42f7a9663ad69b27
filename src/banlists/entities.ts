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
 * The key the matcher files a hashed rule under: the raw 32-byte digest as a latin1 string. A
 * lookup needs no base64 encoding and hashes a 32-character key instead of 43 (measured ~10 %
 * cheaper per check than base64 keys). See `hashKeyOfDigest` for the rule side.
 */
export function sha256Key(s: string): string {
  return hash("sha256", s, "binary"); // "binary" is latin1
}

/**
 * `sha256Key` form of a rule's base64 digest; a string that is not the canonical unpadded base64
 * of 32 bytes gets a key no digest has (a different length), so it matches nothing.
 */
export function hashKeyOfDigest(sha256: string): string {
  const bytes = Buffer.from(sha256, "base64");
  return bytes.length === 32 && bytes.toString("base64").slice(0, 43) === sha256
    ? bytes.toString("latin1")
    : `invalid:${sha256}`;
}

/**
 * The hashes (`sha256Key`) of recently seen entities, for the few that recur on every check (server hosts):
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
    h = this.previous.get(s) ?? sha256Key(s);
    if (this.current.size >= this.half) {
      this.previous = this.current;
      this.current = new Map();
    }
    this.current.set(s, h);
    return h;
  }
}
