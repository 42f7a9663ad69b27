// The crypto store's key: a configured secret (used directly, or stretched with scrypt) or a
// random key in store.key (mode 0600) that Tyr creates once and never replaces.

import { randomBytes, scryptSync } from "node:crypto";
import { readFile, stat, writeFile } from "node:fs/promises";

import { CryptoStoreError } from "./store-files.ts";
import { errorMessage } from "./types.ts";
import type { Logger } from "./types.ts";

/** Parse a configured secret into a 32-byte key (see `CryptoStoreOptions.secret`). */
export function keyFromSecret(secret: string, userId: string): Uint8Array {
  const s = secret.trim();
  if (s.length === 0)
    throw new CryptoStoreError("bad-secret", "", "The configured crypto store secret is empty.");
  if (/^[0-9a-fA-F]{64}$/.test(s)) return new Uint8Array(Buffer.from(s, "hex"));
  if (/^[A-Za-z0-9+/]{43}=?$/.test(s)) {
    const raw = Buffer.from(s, "base64");
    if (raw.length === 32) return new Uint8Array(raw);
  }
  if (s.length < 12) {
    throw new CryptoStoreError(
      "bad-secret",
      "",
      "The configured crypto store secret is too short: use at least 12 characters, or 32 random bytes as 64 hex characters.",
    );
  }
  return new Uint8Array(
    scryptSync(s, `tyr crypto store v1 ${userId}`, 32, { N: 1 << 15, r: 8, p: 1, maxmem: 64 << 20 }),
  );
}

export async function loadOrCreateKeyFile(
  file: string,
  mayCreate: boolean,
  logger: Logger,
): Promise<Uint8Array> {
  let text: string | undefined;
  try {
    const st = await stat(file);
    if ((st.mode & 0o077) !== 0) {
      logger.warn(
        { file, mode: (st.mode & 0o777).toString(8) },
        "crypto store key file is readable by other users; run chmod 600 on it",
      );
    }
    text = await readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new CryptoStoreError("io", file, `Cannot read the crypto store key ${file}: ${errorMessage(e)}`);
    }
  }
  if (text === undefined) {
    if (!mayCreate) {
      throw new CryptoStoreError(
        "missing-key",
        file,
        `The crypto store key file ${file} is missing, so the existing store cannot be opened. Put the key file back ` +
          `(or configure the secret the store was created with). Tyr will not create a new identity over the existing store.`,
      );
    }
    const key = randomBytes(32);
    try {
      await writeFile(file, key.toString("base64") + "\n", { mode: 0o600, flag: "wx" });
    } catch (e) {
      throw new CryptoStoreError(
        "io",
        file,
        `Cannot create the crypto store key ${file}: ${errorMessage(e)}`,
      );
    }
    logger.info({ file }, "crypto store: created a new store key (keep it with the store; mode 0600)");
    return new Uint8Array(key);
  }
  const raw = Buffer.from(text.trim(), "base64");
  if (raw.length !== 32) {
    throw new CryptoStoreError(
      "missing-key",
      file,
      `The crypto store key file ${file} does not hold a 32-byte base64 key. Put back the original key file.`,
    );
  }
  return new Uint8Array(raw);
}
