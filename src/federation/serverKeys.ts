// A server's published signing keys (GET /_matrix/key/v2/server), checked before any is trusted:
// the response must name the server asked, list well-formed Ed25519 keys, and be signed by the
// keys it lists (every such signature must verify, and there must be one). Validity follows the
// spec: a current key until the lesser of `valid_until_ts` and 7 days after fetching; an old key
// until its `expired_ts`.
import type { KeyObject } from "node:crypto";
import { decodeBase64 } from "./base64.ts";
import { KEY_VERSION, verifyKeyFromBytes } from "./ed25519.ts";
import { isJsonObject, verifyJsonSignature, type JsonObject } from "./signedJson.ts";

/** Spec: "Servers MUST use the lesser of this field and 7 days into the future". */
export const MAX_KEY_VALIDITY_MS = 7 * 24 * 60 * 60 * 1000;

export interface VerifyKey {
  readonly key: KeyObject;
  /** Last millisecond timestamp at which a signature by this key is accepted. */
  readonly validUntilTs: number;
}

export interface ServerKeys {
  readonly serverName: string;
  readonly fetchedAt: number;
  /** Key ID (`ed25519:…`) → key; current and old keys alike. */
  readonly keys: ReadonlyMap<string, VerifyKey>;
}

export type ParsedServerKeys =
  { readonly ok: true; readonly keys: ServerKeys } | { readonly ok: false; readonly reason: string };

function isTimestamp(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/** Ed25519 entries of a verify_keys / old_verify_keys map; other algorithms are skipped. */
function ed25519Entries(
  map: JsonObject,
  field: string,
): { ok: true; entries: [string, KeyObject, JsonObject][] } | { ok: false; reason: string } {
  const entries: [string, KeyObject, JsonObject][] = [];
  for (const [keyId, data] of Object.entries(map)) {
    if (!keyId.startsWith("ed25519:")) continue;
    if (!KEY_VERSION.test(keyId.slice("ed25519:".length)))
      return { ok: false, reason: `${field} has a malformed key ID` };
    if (!isJsonObject(data) || typeof data["key"] !== "string")
      return { ok: false, reason: `${field}.${keyId} has no key` };
    const raw = decodeBase64(data["key"]);
    const key = raw === undefined ? undefined : verifyKeyFromBytes(raw);
    if (key === undefined) return { ok: false, reason: `${field}.${keyId} is not a valid Ed25519 key` };
    entries.push([keyId, key, data]);
  }
  return { ok: true, entries };
}

/** Checks a `/_matrix/key/v2/server` response from `serverName`, fetched at `now`. Never throws. */
export function parseServerKeys(body: unknown, serverName: string, now: number): ParsedServerKeys {
  if (!isJsonObject(body)) return { ok: false, reason: "the key response is not a JSON object" };
  if (body["server_name"] !== serverName)
    return {
      ok: false,
      reason: `the key response is for ${JSON.stringify(String(body["server_name"]).slice(0, 100))}, not ${serverName}`,
    };
  const validUntil = body["valid_until_ts"];
  if (!isTimestamp(validUntil)) return { ok: false, reason: "the key response has no valid_until_ts" };
  if (!isJsonObject(body["verify_keys"])) return { ok: false, reason: "the key response has no verify_keys" };
  const current = ed25519Entries(body["verify_keys"], "verify_keys");
  if (!current.ok) return current;
  const keys = new Map<string, VerifyKey>();
  const currentUntil = Math.min(validUntil, now + MAX_KEY_VALIDITY_MS);
  for (const [keyId, key] of current.entries) keys.set(keyId, { key, validUntilTs: currentUntil });

  // Self-signed: every signature of the server by a key it lists must verify, and one must exist.
  const sigs = body["signatures"];
  const mine = isJsonObject(sigs) && isJsonObject(sigs[serverName]) ? sigs[serverName] : {};
  let verified = 0;
  for (const keyId of Object.keys(mine)) {
    const k = keys.get(keyId);
    if (k === undefined) continue;
    const check = verifyJsonSignature(body, serverName, keyId, k.key);
    if (!check.ok) return { ok: false, reason: `the key response: ${check.reason}` };
    verified++;
  }
  if (verified === 0)
    return { ok: false, reason: `the key response is not signed by any key of ${serverName} it lists` };

  const oldKeys = body["old_verify_keys"];
  if (oldKeys !== undefined) {
    if (!isJsonObject(oldKeys)) return { ok: false, reason: "old_verify_keys is not an object" };
    const old = ed25519Entries(oldKeys, "old_verify_keys");
    if (!old.ok) return old;
    for (const [keyId, key, data] of old.entries) {
      const expired = data["expired_ts"];
      if (!isTimestamp(expired)) return { ok: false, reason: `old_verify_keys.${keyId} has no expired_ts` };
      // A key listed as both current and old stays current.
      if (!keys.has(keyId)) keys.set(keyId, { key, validUntilTs: expired });
    }
  }
  return { ok: true, keys: { serverName, fetchedAt: now, keys } };
}
