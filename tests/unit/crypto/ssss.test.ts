// Secret storage primitives, checked against matrix-js-sdk's independent implementations (the
// code Element uses) so that both sides can read each other's secrets and recovery keys.
import { randomBytes } from "node:crypto";

import {
  decodeRecoveryKey as jsDecode,
  encodeRecoveryKey as jsEncode,
} from "matrix-js-sdk/lib/crypto-api/recovery-key.js";
import { deriveRecoveryKeyFromPassphrase } from "matrix-js-sdk/lib/crypto-api/key-passphrase.js";
import { calculateKeyCheck } from "matrix-js-sdk/lib/secret-storage.js";
import jsDecrypt from "matrix-js-sdk/lib/utils/decryptAESSecretStorageItem.js";
import jsEncrypt from "matrix-js-sdk/lib/utils/encryptAESSecretStorageItem.js";
import { describe, expect, it } from "vitest";

import {
  base58Decode,
  base58Encode,
  canonicalJson,
  checkKey,
  decodeRecoveryKey,
  decryptSecret,
  encodeRecoveryKey,
  encryptSecret,
  keyCheck,
  keyFromPassphrase,
  SSSS_ALGORITHM,
} from "../../../src/matrix/crypto/ssss.ts";

describe("recovery key", () => {
  it("encodes like matrix-js-sdk and decodes js-sdk's keys", () => {
    for (let i = 0; i < 20; i++) {
      const key = new Uint8Array(randomBytes(32));
      const ours = encodeRecoveryKey(key);
      expect(ours).toBe(jsEncode(key));
      expect(decodeRecoveryKey(ours)).toEqual(key);
      expect(jsDecode(ours)).toEqual(key);
    }
  });

  it("rejects typos, wrong prefixes and wrong lengths", () => {
    const key = encodeRecoveryKey(new Uint8Array(randomBytes(32)));
    const typo = key.slice(0, 5) + (key[5] === "a" ? "b" : "a") + key.slice(6);
    expect(() => decodeRecoveryKey(typo)).toThrow();
    expect(() => decodeRecoveryKey("EsTc 1234")).toThrow();
    expect(() => decodeRecoveryKey("not base58 0OIl")).toThrow(/base58/);
  });

  it("base58 keeps leading zero bytes", () => {
    const bytes = Uint8Array.from([0, 0, 1, 2, 255]);
    expect(base58Decode(base58Encode(bytes))).toEqual(bytes);
  });
});

describe("m.secret_storage.v1.aes-hmac-sha2", () => {
  it("interoperates with matrix-js-sdk in both directions", async () => {
    const key = new Uint8Array(randomBytes(32));
    const ours = encryptSecret("the secret", key, "m.cross_signing.master");
    expect(await jsDecrypt(ours, key, "m.cross_signing.master")).toBe("the secret");
    const theirs = await jsEncrypt("their secret", key, "m.megolm_backup.v1");
    expect(decryptSecret(theirs, key, "m.megolm_backup.v1")).toBe("their secret");
  });

  it("detects a wrong key or a wrong secret name", () => {
    const key = new Uint8Array(randomBytes(32));
    const enc = encryptSecret("s", key, "name");
    expect(() => decryptSecret(enc, new Uint8Array(randomBytes(32)), "name")).toThrow(/bad MAC/);
    expect(() => decryptSecret(enc, key, "other")).toThrow(/bad MAC/);
  });

  it("computes the same key check as matrix-js-sdk", async () => {
    const key = new Uint8Array(randomBytes(32));
    const ours = keyCheck(key);
    const theirs = await calculateKeyCheck(key, ours.iv);
    expect(ours.mac).toBe(theirs.mac);
    expect(checkKey(key, { algorithm: SSSS_ALGORITHM, ...ours })).toBe(true);
    expect(checkKey(new Uint8Array(randomBytes(32)), { algorithm: SSSS_ALGORITHM, ...ours })).toBe(false);
  });

  it("clears bit 63 of the IV", () => {
    for (let i = 0; i < 20; i++) {
      const enc = encryptSecret("x", new Uint8Array(32), "n");
      expect((Buffer.from(enc.iv, "base64")[8] ?? 0) & 0x80).toBe(0);
    }
  });
});

describe("canonical JSON", () => {
  it("sorts keys recursively and drops whitespace", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: "é" } })).toBe(
      '{"a":{"c":"é","d":[3,{"y":2,"z":1}]},"b":1}',
    );
  });
  it("rejects non-integers", () => {
    expect(() => canonicalJson({ a: 1.5 })).toThrow();
  });
});

describe("keys made from a passphrase (m.pbkdf2)", () => {
  const info = (passphrase: unknown) => ({ algorithm: SSSS_ALGORITHM, passphrase });

  it("derives the same key as matrix-js-sdk", async () => {
    for (const [phrase, salt, iterations, bits] of [
      ["correct horse battery staple", "c2FsdHNhbHQ", 1000, 256],
      ["Ünïcödé phrase 🔑", "another-salt", 5, 256],
      ["short", "s", 1, 128],
    ] as const) {
      const ours = await keyFromPassphrase(phrase, info({ algorithm: "m.pbkdf2", salt, iterations, bits }));
      expect(ours).toEqual(await deriveRecoveryKeyFromPassphrase(phrase, salt, iterations, bits));
    }
  });

  it("defaults to 256 bits", async () => {
    const key = await keyFromPassphrase("p", info({ algorithm: "m.pbkdf2", salt: "s", iterations: 2 }));
    expect(key?.length).toBe(32);
  });

  it.each([
    ["no passphrase", undefined],
    ["another algorithm", { algorithm: "m.scrypt", salt: "s", iterations: 2 }],
    ["no salt", { algorithm: "m.pbkdf2", iterations: 2 }],
    ["zero iterations", { algorithm: "m.pbkdf2", salt: "s", iterations: 0 }],
    ["absurd iterations", { algorithm: "m.pbkdf2", salt: "s", iterations: 1e12 }],
    ["fractional bits", { algorithm: "m.pbkdf2", salt: "s", iterations: 2, bits: 12.5 }],
    ["not an object", "m.pbkdf2"],
  ])("gives no key for %s", async (_what, passphrase) => {
    expect(await keyFromPassphrase("p", info(passphrase))).toBeUndefined();
  });
});
