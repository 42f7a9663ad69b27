import { describe, expect, it } from "vitest";

import { crossSigningPublicKey } from "../../../src/matrix/crypto/trust.ts";

describe("crossSigningPublicKey", () => {
  // What crypto-wasm's UserIdentity.masterKey returns: the whole key object as JSON.
  const master = JSON.stringify({
    user_id: "@tyr:example.org",
    usage: ["master"],
    keys: {
      "ed25519:AbCdEfGhIjKlMnOpQrStUvWxYz0123456789+/AbCdE": "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789+/AbCdE",
    },
    signatures: { "@tyr:example.org": { "ed25519:DEVICE": "c2lnbmF0dXJl" } },
  });

  it("is the base64 public key, not the JSON", () => {
    expect(crossSigningPublicKey(master)).toBe("AbCdEfGhIjKlMnOpQrStUvWxYz0123456789+/AbCdE");
  });

  it("is undefined for anything else", () => {
    expect(crossSigningPublicKey(undefined)).toBeUndefined();
    expect(crossSigningPublicKey("not json")).toBeUndefined();
    expect(crossSigningPublicKey(JSON.stringify({ keys: {} }))).toBeUndefined();
    expect(
      crossSigningPublicKey(JSON.stringify({ keys: { "ed25519:a": "a", "ed25519:b": "b" } })),
    ).toBeUndefined();
    expect(crossSigningPublicKey(JSON.stringify({ keys: { "ed25519:a": 5 } }))).toBeUndefined();
  });
});
