// The state that names a policy server, read as Synapse 1.163 reads it.
import { describe, expect, it } from "vitest";
import { signingKeyFromSeed } from "../../../src/federation/ed25519.ts";
import {
  namesPolicyServer,
  policyServerOf,
  policyStateContent,
  unstablePolicyStateContent,
} from "../../../src/federation/policyState.ts";

const key = signingKeyFromSeed(new Uint8Array(32).fill(4), "policy_server");
const ref = { via: "tyr.example", publicKey: key.publicKeyBase64 };

describe("m.room.policy", () => {
  it("round-trips the stable and the unstable content", () => {
    expect(policyStateContent(ref)).toEqual({
      via: "tyr.example",
      public_keys: { ed25519: key.publicKeyBase64 },
    });
    expect(policyServerOf(policyStateContent(ref), undefined)).toEqual(ref);
    expect(unstablePolicyStateContent(ref)).toEqual({ via: "tyr.example", public_key: key.publicKeyBase64 });
    expect(policyServerOf(undefined, unstablePolicyStateContent(ref))).toEqual(ref);
  });

  it("prefers the stable event, even when it is malformed (as Synapse does)", () => {
    const other = { via: "other.example", publicKey: "abc" };
    expect(policyServerOf(policyStateContent(ref), unstablePolicyStateContent(other))).toEqual(ref);
    expect(policyServerOf({}, unstablePolicyStateContent(other))).toBeUndefined();
    // The stable event with the unstable key field is not a policy server.
    expect(policyServerOf(unstablePolicyStateContent(ref), undefined)).toBeUndefined();
  });

  it("means no policy server when via or the key is missing or malformed", () => {
    for (const content of [
      null,
      "x",
      {},
      { via: "tyr.example" },
      { via: "tyr.example", public_keys: "k" },
      { via: "tyr.example", public_keys: { curve25519: "k" } },
      { via: 5, public_keys: { ed25519: "k" } },
      { via: "not a server", public_keys: { ed25519: "k" } },
    ])
      expect(policyServerOf(content, undefined), JSON.stringify(content)).toBeUndefined();
  });

  it("tells whether a room names Tyr with its current key", () => {
    expect(namesPolicyServer(ref, "tyr.example", key.publicKeyBase64)).toBe(true);
    expect(namesPolicyServer(ref, "other.example", key.publicKeyBase64)).toBe(false);
    expect(
      namesPolicyServer(ref, "tyr.example", signingKeyFromSeed(new Uint8Array(32), "v").publicKeyBase64),
    ).toBe(false);
    expect(namesPolicyServer({ ...ref, publicKey: "abc" }, "tyr.example", key.publicKeyBase64)).toBe(false);
    expect(namesPolicyServer(undefined, "tyr.example", key.publicKeyBase64)).toBe(false);
  });
});
