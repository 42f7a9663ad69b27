// "Signing JSON" (spec appendix): a signature covers the canonical JSON of the object without its
// `signatures` and `unsigned` keys, and is stored as signatures[<entity>][<key id>] in unpadded
// base64. This is what signedjson (Synapse) computes, byte for byte.
import type { KeyObject } from "node:crypto";
import { canonicalJson } from "../util/canonicalJson.ts";
import { decodeBase64, encodeUnpaddedBase64 } from "./base64.ts";
import { signBytes, verifyBytes, type SigningKey } from "./ed25519.ts";

export type JsonObject = Record<string, unknown>;
export type Checked = { readonly ok: true } | { readonly ok: false; readonly reason: string };

export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The bytes a signature over `obj` covers. Throws TypeError when `obj` is not canonical-JSON-able. */
export function signedBytes(obj: JsonObject): Uint8Array {
  // Spread copies own keys as data properties (a `__proto__` key stays a key).
  const rest = { ...obj };
  delete rest["signatures"];
  delete rest["unsigned"];
  return Buffer.from(canonicalJson(rest), "utf8");
}

/** The unpadded-base64 signature of `obj` by `key`. */
export function signatureOf(obj: JsonObject, key: SigningKey): string {
  return encodeUnpaddedBase64(signBytes(key, signedBytes(obj)));
}

/** A copy of `obj` with `signer`'s signature added beside the signatures it already had. */
export function signJson(obj: JsonObject, signer: string, key: SigningKey): JsonObject {
  const sig = signatureOf(obj, key);
  const existing = isJsonObject(obj["signatures"]) ? obj["signatures"] : {};
  const mine = isJsonObject(existing[signer]) ? existing[signer] : {};
  return { ...obj, signatures: { ...existing, [signer]: { ...mine, [key.keyId]: sig } } };
}

/** The signature `signer` made with `keyId` on `obj`, if present and a string. */
export function signatureIn(obj: JsonObject, signer: string, keyId: string): string | undefined {
  const sigs = obj["signatures"];
  if (!isJsonObject(sigs) || !Object.hasOwn(sigs, signer)) return undefined;
  const byKey = sigs[signer];
  if (!isJsonObject(byKey) || !Object.hasOwn(byKey, keyId)) return undefined;
  const sig = byKey[keyId];
  return typeof sig === "string" ? sig : undefined;
}

/** Checks `signer`'s signature with `keyId` on `obj` against `verifyKey`. Never throws. */
export function verifyJsonSignature(
  obj: JsonObject,
  signer: string,
  keyId: string,
  verifyKey: KeyObject,
): Checked {
  const sigText = signatureIn(obj, signer, keyId);
  if (sigText === undefined) return { ok: false, reason: `no signature by ${signer} with ${keyId}` };
  const sig = decodeBase64(sigText);
  if (sig === undefined)
    return { ok: false, reason: `signature by ${signer} with ${keyId} is not valid base64` };
  let bytes: Uint8Array;
  try {
    bytes = signedBytes(obj);
  } catch (e) {
    return { ok: false, reason: `not canonical JSON: ${(e as Error).message}` };
  }
  return verifyBytes(verifyKey, bytes, sig)
    ? { ok: true }
    : { ok: false, reason: `signature by ${signer} with ${keyId} does not verify` };
}
