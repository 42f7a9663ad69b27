// The policy server's Ed25519 signing key on disk, in Synapse's signing key format
// ("ed25519 <version> <unpadded base64 seed>" per line; signedjson.key.read_signing_keys reads it),
// so an admin can inspect, back up or move it with the tools they know. Generated on first use,
// written atomically with mode 0600. Nothing here logs or returns the seed in an error.
import { readFileSync, statSync } from "node:fs";
import { writeFileAtomic } from "../store/files.ts";
import { decodeBase64, encodeUnpaddedBase64 } from "./base64.ts";
import { KEY_VERSION, SEED_BYTES, generateSeed, signingKeyFromSeed, type SigningKey } from "./ed25519.ts";

/** The version written into a newly generated policy server key (key ID `ed25519:policy_server`). */
export const POLICY_KEY_VERSION = "policy_server";

export type ParsedKey =
  { readonly ok: true; readonly key: SigningKey } | { readonly ok: false; readonly reason: string };

/** One key line per key; the first is the signing key (as Synapse uses it). Blank lines are skipped. */
export function parseSigningKeyFile(text: string): ParsedKey {
  const lines = text.split(/\r?\n/);
  const index = lines.findIndex((l) => l.trim() !== "");
  if (index < 0) return { ok: false, reason: "the file is empty" };
  const fields = (lines[index] as string).trim().split(/\s+/);
  const where = `line ${index + 1}`;
  if (fields.length !== 3)
    return {
      ok: false,
      reason: `${where} has ${fields.length} fields; expected "ed25519 <version> <base64 seed>"`,
    };
  const [alg, version, seedText] = fields as [string, string, string];
  if (alg !== "ed25519")
    return { ok: false, reason: `${where}: unsupported algorithm ${JSON.stringify(alg.slice(0, 20))}` };
  if (!KEY_VERSION.test(version))
    return { ok: false, reason: `${where}: the key version must match [A-Za-z0-9_]+` };
  const seed = decodeBase64(seedText);
  if (seed === undefined) return { ok: false, reason: `${where}: the key is not valid base64` };
  if (seed.byteLength !== SEED_BYTES)
    return {
      ok: false,
      reason: `${where}: the key has ${seed.byteLength} bytes; an Ed25519 seed has ${SEED_BYTES}`,
    };
  return { ok: true, key: signingKeyFromSeed(seed, version) };
}

export function formatSigningKeyFile(seed: Uint8Array, version: string): string {
  return `ed25519 ${version} ${encodeUnpaddedBase64(seed)}\n`;
}

export interface LoadedKey {
  readonly key: SigningKey;
  /** True when this call generated the key (tell the admin to publish the new public key). */
  readonly created: boolean;
  /** Something the admin should fix, such as a key file others can read. */
  readonly warning?: string;
}

/**
 * Loads the signing key at `path`, generating it when the file does not exist. Throws an Error
 * that names the file and says what to do when it exists but cannot be used — never a silent new
 * key, which would invalidate the public key already published in rooms.
 */
export function loadOrCreateSigningKey(path: string): LoadedKey {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "ENOENT")
      throw new Error(`cannot read the policy server signing key ${path}: ${code ?? String(e)}`, {
        cause: e,
      });
    const seed = generateSeed();
    writeFileAtomic(path, formatSigningKeyFile(seed, POLICY_KEY_VERSION), { secret: true });
    return { key: signingKeyFromSeed(seed, POLICY_KEY_VERSION), created: true };
  }
  const parsed = parseSigningKeyFile(text);
  if (!parsed.ok)
    throw new Error(
      `the policy server signing key ${path} is unusable (${parsed.reason}). Restore it from a backup, or ` +
        `delete it to generate a new key and then re-enable the policy server in every room (the new public key must be published).`,
    );
  const mode = statSync(path).mode & 0o777;
  return mode & 0o077
    ? {
        key: parsed.key,
        created: false,
        warning: `${path} is readable by other users (mode ${mode.toString(8)}); run chmod 600 on it`,
      }
    : { key: parsed.key, created: false };
}
