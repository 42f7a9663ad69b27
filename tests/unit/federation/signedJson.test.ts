// Signing JSON, byte-exact with Synapse: Tyr's signatures verify with signedjson (Synapse's
// library), signedjson's verify with Tyr, and Tyr's canonical bytes equal canonicaljson's.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { decodeBase64, encodeUnpaddedBase64 } from "../../../src/federation/base64.ts";
import { generateSeed, signingKeyFromSeed, verifyKeyFromBytes } from "../../../src/federation/ed25519.ts";
import {
  signJson,
  signedBytes,
  verifyJsonSignature,
  type JsonObject,
} from "../../../src/federation/signedJson.ts";
import { synapsePython } from "../../harness/synapsePython.ts";

/** Random JSON objects with non-ASCII and astral keys and strings, control characters, big safe ints. */
const jsonValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.string({ unit: "binary", maxLength: 12 }),
    fc.string({ unit: "grapheme", maxLength: 12 }),
    fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(fc.string({ unit: "binary", maxLength: 5 }), tie("value"), { maxKeys: 5 }),
  ),
})).value;
const jsonObject = fc.dictionary(fc.string({ unit: "binary", maxLength: 6 }), jsonValue, { maxKeys: 6 });

const seed = new Uint8Array(32).map((_, i) => i * 7 + 1);
const key = signingKeyFromSeed(seed, "a_Tyr1");
const verifyKey = verifyKeyFromBytes(decodeBase64(key.publicKeyBase64) as Uint8Array);
if (verifyKey === undefined) throw new Error("test key did not load");

describe("base64", () => {
  it("round-trips and refuses what no encoder writes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        const text = encodeUnpaddedBase64(bytes);
        expect(text).not.toMatch(/=/);
        expect(decodeBase64(text)).toEqual(bytes);
        expect(decodeBase64(Buffer.from(bytes).toString("base64"))).toEqual(bytes); // padded is accepted
        expect(decodeBase64(Buffer.from(bytes).toString("base64url"))).toEqual(bytes); // URL-safe too
      }),
      { numRuns: 300 },
    );
    for (const bad of ["a", "ab!c", "ab c", "abc=d", "a===", "ab=", "/+_-", "\u00e9A"])
      expect(decodeBase64(bad)).toBeUndefined();
    // Non-zero trailing bits: Node would decode both spellings to the same byte.
    expect(decodeBase64("AA")).toEqual(new Uint8Array([0]));
    expect(decodeBase64("AB")).toBeUndefined();
  });
});

describe("Ed25519 keys", () => {
  it("derive the same public key from a seed as signedjson", () => {
    const seeds = [seed, generateSeed(), generateSeed()];
    const theirs = synapsePython(
      `from signedjson.key import decode_signing_key_base64, encode_verify_key_base64, get_verify_key
print(json.dumps([encode_verify_key_base64(get_verify_key(decode_signing_key_base64("ed25519", "v", s))) for s in DATA]))`,
      seeds.map((s) => encodeUnpaddedBase64(s)),
    );
    expect(theirs).toEqual(seeds.map((s) => signingKeyFromSeed(s, "v").publicKeyBase64));
  });

  it("refuse seeds and versions of the wrong shape", () => {
    expect(() => signingKeyFromSeed(new Uint8Array(31), "v")).toThrow(/32 bytes/);
    expect(() => signingKeyFromSeed(seed, "bad:version")).toThrow(/A-Za-z0-9_/);
    expect(verifyKeyFromBytes(new Uint8Array(33))).toBeUndefined();
  });
});

describe("Signing JSON", () => {
  const samples: JsonObject[] = fc.sample(jsonObject, { numRuns: 300, seed: 42 });
  samples.push(
    { "\u{1F600}": 1, "\uFFFF": 2, a: '\u0000\u001f\u007f\u2028"\\', b: [Number.MAX_SAFE_INTEGER, -0] },
    {
      __proto__: { x: 1 },
      unsigned: { age: 5 },
      signatures: { other: { "ed25519:x": "abc" } },
    } as unknown as JsonObject,
    JSON.parse('{"__proto__": {"x": 1}, "k": "v"}') as JsonObject,
  );

  it("produces canonicaljson's bytes exactly", () => {
    const theirs = synapsePython(
      `from canonicaljson import encode_canonical_json
out = []
for o in DATA:
    o = dict(o); o.pop("signatures", None); o.pop("unsigned", None)
    out.append(encode_canonical_json(o).hex())
print(json.dumps(out))`,
      samples,
    ) as string[];
    expect(samples.map((o) => Buffer.from(signedBytes(o)).toString("hex"))).toEqual(theirs);
  });

  it("signs what signedjson verifies", () => {
    const signed = samples.map((o) => signJson(o, "tyr.example", key));
    const results = synapsePython(
      `from signedjson.key import decode_verify_key_bytes
from signedjson.sign import verify_signed_json
from unpaddedbase64 import decode_base64
vk = decode_verify_key_bytes("ed25519:a_Tyr1", decode_base64(DATA["key"]))
out = []
for o in DATA["objects"]:
    try:
        verify_signed_json(o, "tyr.example", vk); out.append("ok")
    except Exception as e:
        out.append(str(e))
print(json.dumps(out))`,
      { key: key.publicKeyBase64, objects: signed },
    );
    expect(results).toEqual(signed.map(() => "ok"));
    // Existing signatures by others are kept beside the new one.
    const withOther = signed.at(-2) as JsonObject;
    expect(withOther["signatures"]).toMatchObject({ other: { "ed25519:x": "abc" } });
    expect(withOther["unsigned"]).toEqual({ age: 5 });
  });

  it("verifies what signedjson signs, and nothing else", () => {
    const theirs = synapsePython(
      `from signedjson.key import decode_signing_key_base64
from signedjson.sign import sign_json
sk = decode_signing_key_base64("ed25519", "a_Tyr1", DATA["seed"])
print(json.dumps([sign_json(dict(o), "remote.example", sk) for o in DATA["objects"]]))`,
      { seed: encodeUnpaddedBase64(seed), objects: samples },
    ) as JsonObject[];
    for (const o of theirs) {
      expect(verifyJsonSignature(o, "remote.example", "ed25519:a_Tyr1", verifyKey)).toEqual({ ok: true });
      // Changing anything signed breaks it; changing unsigned does not.
      expect(verifyJsonSignature({ ...o, extra: 1 }, "remote.example", "ed25519:a_Tyr1", verifyKey).ok).toBe(
        false,
      );
      expect(
        verifyJsonSignature({ ...o, unsigned: { x: 1 } }, "remote.example", "ed25519:a_Tyr1", verifyKey).ok,
      ).toBe(true);
    }
  });

  it("says why a signature does not verify, and never throws", () => {
    const o = signJson({ a: 1 }, "s", key);
    expect(verifyJsonSignature(o, "t", key.keyId, verifyKey)).toEqual({
      ok: false,
      reason: "no signature by t with ed25519:a_Tyr1",
    });
    expect(
      verifyJsonSignature({ ...o, signatures: { s: { [key.keyId]: "!!" } } }, "s", key.keyId, verifyKey),
    ).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/not valid base64/),
    });
    expect(verifyJsonSignature({ ...o, f: 1.5 }, "s", key.keyId, verifyKey)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/canonical JSON/),
    });
    expect(verifyJsonSignature({ ...o, signatures: "x" }, "s", key.keyId, verifyKey).ok).toBe(false);
    expect(
      verifyJsonSignature({ ...o, signatures: { s: { [key.keyId]: 5 } } }, "s", key.keyId, verifyKey).ok,
    ).toBe(false);
  });
});
