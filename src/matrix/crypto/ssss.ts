// Secret storage (SSSS, spec "Storage": m.secret_storage.v1.aes-hmac-sha2), recovery-key encoding
// and canonical JSON — the parts of secure backup crypto-wasm leaves to the application.

import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  hkdfSync,
  pbkdf2,
  randomBytes,
  timingSafeEqual,
} from "node:crypto";

import { httpErrorInfo } from "./requests.ts";
import { isRecord } from "./types.ts";
import type { RequestFn } from "./types.ts";

export const SSSS_ALGORITHM = "m.secret_storage.v1.aes-hmac-sha2";
export const SECRET_MASTER = "m.cross_signing.master";
export const SECRET_SELF_SIGNING = "m.cross_signing.self_signing";
export const SECRET_USER_SIGNING = "m.cross_signing.user_signing";
export const SECRET_BACKUP = "m.megolm_backup.v1";

// ------------------------------------------------------------------------------------------------
// Base58 (Bitcoin alphabet) and the recovery-key representation (spec appendix "Cryptographic key
// representation": 0x8B 0x01 || key || parity byte, base58, grouped by 4 characters).

const ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
const ALPHABET_INDEX = new Map([...ALPHABET].map((c, i) => [c, i]));

export function base58Encode(bytes: Uint8Array): string {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  let out = "";
  while (n > 0n) {
    out = ALPHABET[Number(n % 58n)] + out;
    n /= 58n;
  }
  for (const b of bytes) {
    if (b !== 0) break;
    out = "1" + out;
  }
  return out;
}

export function base58Decode(s: string): Uint8Array {
  let n = 0n;
  for (const c of s) {
    const v = ALPHABET_INDEX.get(c);
    if (v === undefined) throw new Error(`invalid base58 character ${JSON.stringify(c)}`);
    n = n * 58n + BigInt(v);
  }
  const bytes: number[] = [];
  while (n > 0n) {
    bytes.unshift(Number(n & 0xffn));
    n >>= 8n;
  }
  for (const c of s) {
    if (c !== "1") break;
    bytes.unshift(0);
  }
  return Uint8Array.from(bytes);
}

const RECOVERY_PREFIX = [0x8b, 0x01];

export function encodeRecoveryKey(key: Uint8Array): string {
  if (key.length !== 32) throw new Error("a recovery key is 32 bytes");
  const buf = new Uint8Array(RECOVERY_PREFIX.length + key.length + 1);
  buf.set(RECOVERY_PREFIX, 0);
  buf.set(key, RECOVERY_PREFIX.length);
  let parity = 0;
  for (let i = 0; i < buf.length - 1; i++) parity ^= buf[i] ?? 0;
  buf[buf.length - 1] = parity;
  return (base58Encode(buf).match(/.{1,4}/g) ?? []).join(" ");
}

export function decodeRecoveryKey(text: string): Uint8Array {
  const raw = base58Decode(text.replace(/\s+/g, ""));
  let parity = 0;
  for (const b of raw) parity ^= b;
  if (parity !== 0) throw new Error("the recovery key has a typo (parity check failed)");
  if (raw[0] !== RECOVERY_PREFIX[0] || raw[1] !== RECOVERY_PREFIX[1])
    throw new Error("this is not a Matrix recovery key (wrong prefix)");
  if (raw.length !== RECOVERY_PREFIX.length + 32 + 1)
    throw new Error("the recovery key has the wrong length");
  return raw.slice(RECOVERY_PREFIX.length, RECOVERY_PREFIX.length + 32);
}

// ------------------------------------------------------------------------------------------------
// Canonical JSON (spec appendix): sorted keys, no insignificant whitespace, UTF-8.

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") {
    if (typeof value === "number" && !Number.isInteger(value))
      throw new Error("canonical JSON allows integers only");
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(",")}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(",")}}`;
}

// ------------------------------------------------------------------------------------------------
// m.secret_storage.v1.aes-hmac-sha2

export interface EncryptedSecret {
  iv: string;
  ciphertext: string;
  mac: string;
}

export interface SecretKeyInfo {
  algorithm: string;
  name?: string;
  iv?: string;
  mac?: string;
  passphrase?: unknown;
}

function deriveAesHmac(key: Uint8Array, name: string): { aes: Buffer; hmac: Buffer } {
  const okm = Buffer.from(hkdfSync("sha256", key, Buffer.alloc(32), Buffer.from(name, "utf8"), 64));
  return { aes: okm.subarray(0, 32), hmac: okm.subarray(32) };
}

function b64(s: string): Buffer {
  return Buffer.from(s, "base64");
}

export function encryptSecret(
  plaintext: string,
  key: Uint8Array,
  name: string,
  ivIn?: Uint8Array,
): EncryptedSecret {
  const iv = ivIn ? Buffer.from(ivIn) : randomBytes(16);
  if (!ivIn) iv[8] = (iv[8] ?? 0) & 0x7f; // spec: clear bit 63 to keep the counter from wrapping
  const { aes, hmac } = deriveAesHmac(key, name);
  const cipher = createCipheriv("aes-256-ctr", aes, iv);
  const ct = Buffer.concat([cipher.update(Buffer.from(plaintext, "utf8")), cipher.final()]);
  const mac = createHmac("sha256", hmac).update(ct).digest();
  return { iv: iv.toString("base64"), ciphertext: ct.toString("base64"), mac: mac.toString("base64") };
}

export function decryptSecret(enc: EncryptedSecret, key: Uint8Array, name: string): string {
  const { aes, hmac } = deriveAesHmac(key, name);
  const ct = b64(enc.ciphertext);
  const mac = createHmac("sha256", hmac).update(ct).digest();
  const given = b64(enc.mac);
  if (given.length !== mac.length || !timingSafeEqual(given, mac))
    throw new Error(`bad MAC on secret ${name} (wrong recovery key?)`);
  const decipher = createDecipheriv("aes-256-ctr", aes, b64(enc.iv));
  return Buffer.concat([decipher.update(ct), decipher.final()]).toString("utf8");
}

/** The `iv`/`mac` pair that lets a client check a key without decrypting any secret. */
export function keyCheck(key: Uint8Array, iv?: string): { iv: string; mac: string } {
  const e = encryptSecret("\0".repeat(32), key, "", iv ? b64(iv) : undefined);
  return { iv: e.iv, mac: e.mac };
}

export function checkKey(key: Uint8Array, info: SecretKeyInfo): boolean {
  if (info.algorithm !== SSSS_ALGORITHM) return false;
  if (typeof info.iv !== "string" || typeof info.mac !== "string") return true; // nothing to check against
  const { mac } = keyCheck(key, info.iv);
  return b64(mac).equals(b64(info.mac));
}

/** More iterations than this in account data is a broken or hostile key description. */
const MAX_PBKDF2_ITERATIONS = 10_000_000;

/**
 * The key of a secret-storage key created from a passphrase (Element's "Security Phrase"): spec
 * `m.pbkdf2`, PBKDF2-SHA-512 over the passphrase with the key description's salt and iteration
 * count. Undefined when the key was not made from a passphrase (or its description is unusable).
 */
export async function keyFromPassphrase(
  passphrase: string,
  info: SecretKeyInfo,
): Promise<Uint8Array | undefined> {
  const p = info.passphrase;
  if (!isRecord(p) || p["algorithm"] !== "m.pbkdf2") return undefined;
  const salt = p["salt"];
  const iterations = p["iterations"];
  const bits = p["bits"] ?? 256;
  if (typeof salt !== "string" || !Number.isSafeInteger(iterations) || !Number.isSafeInteger(bits))
    return undefined;
  const n = iterations as number;
  const b = bits as number;
  if (n < 1 || n > MAX_PBKDF2_ITERATIONS || b < 8 || b > 1024 || b % 8 !== 0) return undefined;
  return new Promise((resolve, reject) =>
    pbkdf2(passphrase, salt, n, b / 8, "sha512", (err, key) =>
      err ? reject(err) : resolve(new Uint8Array(key)),
    ),
  );
}

function isEncryptedSecret(v: unknown): v is EncryptedSecret {
  return (
    isRecord(v) &&
    typeof v["iv"] === "string" &&
    typeof v["ciphertext"] === "string" &&
    typeof v["mac"] === "string"
  );
}

/** Account-data backed secret storage of one user. */
export class SecretStorage {
  private readonly request: RequestFn;
  private readonly userId: string;

  constructor(request: RequestFn, userId: string) {
    this.request = request;
    this.userId = userId;
  }

  private path(type: string): string {
    return `/_matrix/client/v3/user/${encodeURIComponent(this.userId)}/account_data/${encodeURIComponent(type)}`;
  }

  /** Account data of `type`, or undefined when absent (404). */
  async getAccountData(type: string): Promise<Record<string, unknown> | undefined> {
    try {
      const r = await this.request("GET", this.path(type));
      return isRecord(r) && Object.keys(r).length > 0 ? r : undefined;
    } catch (e) {
      const info = httpErrorInfo(e);
      if (info.status === 404 || info.errcode === "M_NOT_FOUND") return undefined;
      throw e;
    }
  }

  async setAccountData(type: string, content: Record<string, unknown>): Promise<void> {
    await this.request("PUT", this.path(type), null, content);
  }

  async getDefaultKeyId(): Promise<string | undefined> {
    const d = await this.getAccountData("m.secret_storage.default_key");
    return typeof d?.["key"] === "string" ? d["key"] : undefined;
  }

  async getKeyInfo(keyId: string): Promise<SecretKeyInfo | undefined> {
    const d = await this.getAccountData(`m.secret_storage.key.${keyId}`);
    if (!d || typeof d["algorithm"] !== "string") return undefined;
    return d as unknown as SecretKeyInfo;
  }

  /** Create a key description for `key`, and make it the default key. */
  async createDefaultKey(key: Uint8Array, name = "Tyr recovery key"): Promise<string> {
    const keyId = randomBytes(24).toString("base64url");
    const info: SecretKeyInfo = { algorithm: SSSS_ALGORITHM, name, ...keyCheck(key) };
    await this.setAccountData(`m.secret_storage.key.${keyId}`, info as unknown as Record<string, unknown>);
    await this.setAccountData("m.secret_storage.default_key", { key: keyId });
    return keyId;
  }

  /** Store `secret` under `name`, encrypted with the key `keyId` (replaces other encryptions). */
  async store(name: string, secret: string, keyId: string, key: Uint8Array): Promise<void> {
    await this.setAccountData(name, { encrypted: { [keyId]: encryptSecret(secret, key, name) } });
  }

  /** Read the secret `name` encrypted with `keyId`, or undefined when it is not stored for that key. */
  async get(name: string, keyId: string, key: Uint8Array): Promise<string | undefined> {
    const d = await this.getAccountData(name);
    const enc = isRecord(d?.["encrypted"]) ? d["encrypted"][keyId] : undefined;
    if (!isEncryptedSecret(enc)) return undefined;
    return decryptSecret(enc, key, name);
  }
}
