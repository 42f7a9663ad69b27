// Ed25519 keys from raw bytes with node:crypto, no extra dependency. Matrix stores a signing key
// as its 32-byte seed and publishes the 32-byte public key; node:crypto speaks DER, so the raw
// bytes are wrapped in the fixed PKCS#8 / SPKI prefixes of RFC 8410.
import {
  createPrivateKey,
  createPublicKey,
  randomBytes,
  sign as nodeSign,
  verify as nodeVerify,
  type KeyObject,
} from "node:crypto";
import { encodeUnpaddedBase64 } from "./base64.ts";

/** PKCS#8 PrivateKeyInfo for Ed25519, up to the 32 seed bytes (RFC 8410 §7). */
const PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
/** SubjectPublicKeyInfo for Ed25519, up to the 32 key bytes. */
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

export const SEED_BYTES = 32;
export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;

export interface SigningKey {
  /** `ed25519:<version>`, e.g. `ed25519:policy_server`. */
  readonly keyId: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** The public key, unpadded base64: what `m.room.policy` and `/_matrix/key/v2/server` publish. */
  readonly publicKeyBase64: string;
}

/** A key version: the part after `ed25519:` (spec: characters `[a-zA-Z0-9_]`). */
export const KEY_VERSION = /^[A-Za-z0-9_]+$/;

export function signingKeyFromSeed(seed: Uint8Array, version: string): SigningKey {
  if (seed.byteLength !== SEED_BYTES)
    throw new RangeError(`an Ed25519 seed has ${SEED_BYTES} bytes, got ${seed.byteLength}`);
  if (!KEY_VERSION.test(version))
    throw new RangeError(`key version must match [A-Za-z0-9_]+, got ${JSON.stringify(version)}`);
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX, seed]),
    format: "der",
    type: "pkcs8",
  });
  const publicKey = createPublicKey(privateKey);
  return {
    keyId: `ed25519:${version}`,
    privateKey,
    publicKey,
    publicKeyBase64: encodeUnpaddedBase64(rawPublicKey(publicKey)),
  };
}

export function generateSeed(): Uint8Array {
  return new Uint8Array(randomBytes(SEED_BYTES));
}

/** A verify key from its 32 raw bytes; undefined when the length is wrong. */
export function verifyKeyFromBytes(raw: Uint8Array): KeyObject | undefined {
  if (raw.byteLength !== PUBLIC_KEY_BYTES) return undefined;
  try {
    return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: "der", type: "spki" });
  } catch {
    return undefined;
  }
}

export function rawPublicKey(key: KeyObject): Uint8Array {
  const der = key.export({ format: "der", type: "spki" });
  return new Uint8Array(der.subarray(der.byteLength - PUBLIC_KEY_BYTES));
}

export function signBytes(key: SigningKey, message: Uint8Array): Uint8Array {
  return new Uint8Array(nodeSign(null, message, key.privateKey));
}

export function verifyBytes(key: KeyObject, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.byteLength !== SIGNATURE_BYTES) return false;
  try {
    return nodeVerify(null, message, key, signature);
  } catch {
    return false;
  }
}
