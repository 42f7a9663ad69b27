// Remote servers' keys: a key response is trusted only when it names the server asked and is
// signed by the keys it lists; validity follows the spec; the cache fetches each server once at a
// time, rarely, and within bounds.
import { describe, expect, it } from "vitest";
import { signingKeyFromSeed, type SigningKey } from "../../../src/federation/ed25519.ts";
import { ServerKeyCache } from "../../../src/federation/keyCache.ts";
import { MAX_KEY_VALIDITY_MS, parseServerKeys } from "../../../src/federation/serverKeys.ts";
import { signJson, type JsonObject } from "../../../src/federation/signedJson.ts";

const NOW = 1_800_000_000_000;
const HOUR = 3_600_000;
const k1 = signingKeyFromSeed(new Uint8Array(32).fill(1), "k1");
const k2 = signingKeyFromSeed(new Uint8Array(32).fill(2), "k2");
const old = signingKeyFromSeed(new Uint8Array(32).fill(3), "old");

function response(
  server: string,
  opts: { keys?: SigningKey[]; signers?: SigningKey[]; validUntil?: number; extra?: JsonObject } = {},
): JsonObject {
  const keys = opts.keys ?? [k1];
  let body: JsonObject = {
    server_name: server,
    valid_until_ts: opts.validUntil ?? NOW + HOUR,
    verify_keys: Object.fromEntries(keys.map((k) => [k.keyId, { key: k.publicKeyBase64 }])),
    ...opts.extra,
  };
  for (const signer of opts.signers ?? keys) body = signJson(body, server, signer);
  return body;
}

describe("parseServerKeys", () => {
  it("accepts a self-signed response; current keys last until the lesser of valid_until_ts and 7 days", () => {
    const r = parseServerKeys(response("hs.example", { keys: [k1, k2] }), "hs.example", NOW);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect([...r.keys.keys.keys()]).toEqual(["ed25519:k1", "ed25519:k2"]);
    expect(r.keys.keys.get("ed25519:k1")?.validUntilTs).toBe(NOW + HOUR);
    const far = parseServerKeys(
      response("hs.example", { validUntil: NOW + 365 * 24 * HOUR }),
      "hs.example",
      NOW,
    );
    expect(far.ok && far.keys.keys.get("ed25519:k1")?.validUntilTs).toBe(NOW + MAX_KEY_VALIDITY_MS);
  });

  it("keeps old keys until their expired_ts and ignores other algorithms", () => {
    const body = response("hs.example", {
      extra: {
        old_verify_keys: { [old.keyId]: { key: old.publicKeyBase64, expired_ts: NOW - HOUR } },
        verify_keys: { [k1.keyId]: { key: k1.publicKeyBase64 }, "curve25519:x": { key: "whatever" } },
      },
    });
    const r = parseServerKeys(body, "hs.example", NOW);
    expect(r.ok && r.keys.keys.get("ed25519:old")?.validUntilTs).toBe(NOW - HOUR);
    expect(r.ok && r.keys.keys.has("curve25519:x")).toBe(false);
  });

  it("refuses responses that are not trustworthy, saying why", () => {
    const cases: [unknown, RegExp][] = [
      [null, /not a JSON object/],
      [[], /not a JSON object/],
      [response("evil.example"), /is for "evil.example", not hs.example/],
      [{ ...response("hs.example"), valid_until_ts: "soon" }, /valid_until_ts/],
      [{ ...response("hs.example"), verify_keys: [] }, /verify_keys/],
      [response("hs.example", { signers: [] }), /not signed by any key/],
      [response("hs.example", { keys: [k1], signers: [k2] }), /not signed by any key/],
      [{ ...response("hs.example"), extra: "changed after signing" }, /does not verify/],
      [
        response("hs.example", { extra: { verify_keys: { "ed25519:k1": { key: "short" } } } }),
        /not a valid Ed25519 key/,
      ],
      [
        response("hs.example", { extra: { verify_keys: { "ed25519:bad id": { key: k1.publicKeyBase64 } } } }),
        /malformed key ID/,
      ],
      [response("hs.example", { extra: { verify_keys: { "ed25519:k1": "nokey" } } }), /has no key/],
      [
        response("hs.example", { extra: { old_verify_keys: { [old.keyId]: { key: old.publicKeyBase64 } } } }),
        /expired_ts/,
      ],
      [response("hs.example", { extra: { old_verify_keys: 5 } }), /old_verify_keys/],
    ];
    for (const [body, reason] of cases) {
      const r = parseServerKeys(body, "hs.example", NOW);
      expect(r.ok, String(reason)).toBe(false);
      if (!r.ok) expect(r.reason).toMatch(reason);
    }
    // Two listed keys signed, one of them wrongly: refused, not "one is enough".
    const twice = response("hs.example", { keys: [k1, k2] });
    const sigs = (twice["signatures"] as Record<string, Record<string, string>>)["hs.example"] as Record<
      string,
      string
    >;
    sigs["ed25519:k2"] = sigs["ed25519:k1"] as string;
    expect(parseServerKeys(twice, "hs.example", NOW)).toMatchObject({ ok: false, reason: /does not verify/ });
  });
});

describe("ServerKeyCache", () => {
  function setup(
    bodies: Record<string, () => unknown>,
    opts: { maxServers?: number; maxInFlight?: number } = {},
  ) {
    let now = NOW;
    const calls: string[] = [];
    const gates: (() => void)[] = [];
    let gated = false;
    const cache = new ServerKeyCache({
      now: () => now,
      ...opts,
      fetchKeys: async (server) => {
        calls.push(server);
        if (gated) await new Promise<void>((r) => gates.push(r));
        const make = bodies[server];
        if (make === undefined) throw new Error("connection refused");
        return make();
      },
    });
    return {
      cache,
      calls,
      advance: (ms: number) => (now += ms),
      gate: (on: boolean) => (gated = on),
      release: () => gates.splice(0).forEach((r) => r()),
    };
  }

  it("fetches once for concurrent requests and serves later ones from memory", async () => {
    const t = setup({ "hs.example": () => response("hs.example") });
    t.gate(true);
    const all = Array.from({ length: 10 }, () => t.cache.verifyKey("hs.example", "ed25519:k1"));
    await Promise.resolve();
    t.release();
    const results = await Promise.all(all);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(t.calls).toEqual(["hs.example"]);
    t.gate(false);
    expect((await t.cache.verifyKey("hs.example", "ed25519:k1")).ok).toBe(true);
    expect(t.calls).toHaveLength(1);
  });

  it("re-fetches an expired key, but an unknown key ID at most once a minute", async () => {
    let keys = [k1];
    const t = setup({ "hs.example": () => response("hs.example", { keys, validUntil: NOW + 2 * HOUR }) });
    expect((await t.cache.verifyKey("hs.example", "ed25519:k2")).ok).toBe(false);
    expect(await t.cache.verifyKey("hs.example", "ed25519:k2")).toMatchObject({
      ok: false,
      reason: /publishes no key ed25519:k2/,
    });
    expect(t.calls).toHaveLength(1);
    // The server rotates to k2; after the refetch interval the new key is found.
    keys = [k2];
    t.advance(61_000);
    expect((await t.cache.verifyKey("hs.example", "ed25519:k2")).ok).toBe(true);
    expect(t.calls).toHaveLength(2);
    // Past valid_until_ts the key is fetched again.
    t.advance(3 * HOUR);
    keys = [k2];
    const r = await t.cache.verifyKey("hs.example", "ed25519:k2");
    expect(t.calls).toHaveLength(3);
    expect(r.ok).toBe(false); // the fake server still says valid until NOW + 2 h, which has passed
    expect(r).toMatchObject({ reason: /expired/ });
  });

  it("says why when a server cannot be reached, keeps earlier keys, and does not hammer it", async () => {
    let up = true;
    const t = setup({
      "hs.example": () => (up ? response("hs.example", { validUntil: NOW + 10 * HOUR }) : { junk: true }),
    });
    expect(await t.cache.verifyKey("nowhere.example", "ed25519:k1")).toMatchObject({
      ok: false,
      reason: /connection refused/,
    });
    expect(await t.cache.verifyKey("nowhere.example", "ed25519:k1")).toMatchObject({
      ok: false,
      reason: /connection refused/,
    });
    expect(t.calls).toEqual(["nowhere.example"]);
    expect((await t.cache.verifyKey("hs.example", "ed25519:k1")).ok).toBe(true);
    up = false;
    t.advance(61_000);
    // k2 is unknown: refetch fails, the reason says so; k1 from before still works.
    expect(await t.cache.verifyKey("hs.example", "ed25519:k2")).toMatchObject({
      ok: false,
      reason: /last fetch failed: the key response is for/,
    });
    expect((await t.cache.verifyKey("hs.example", "ed25519:k1")).ok).toBe(true);
  });

  it("never fetches for a malformed server name, and stays within its bounds", async () => {
    const bodies: Record<string, () => unknown> = {};
    for (let i = 0; i < 20; i++) bodies[`s${i}.example`] = () => response(`s${i}.example`);
    const t = setup(bodies, { maxServers: 5, maxInFlight: 3 });
    expect(await t.cache.verifyKey("bad name", "ed25519:k1")).toEqual({
      ok: false,
      reason: "not a valid server name",
    });
    expect(await t.cache.verifyKey("http://x/", "ed25519:k1")).toMatchObject({ ok: false });
    expect(t.calls).toEqual([]);
    t.gate(true);
    const pending = [0, 1, 2, 3].map((i) => t.cache.verifyKey(`s${i}.example`, "ed25519:k1"));
    await Promise.resolve();
    t.release();
    const results = await Promise.all(pending);
    expect(results.filter((r) => r.ok)).toHaveLength(3);
    expect(results[3]).toMatchObject({ ok: false, reason: /too many key fetches/ });
    t.gate(false);
    for (let i = 0; i < 20; i++) await t.cache.verifyKey(`s${i}.example`, "ed25519:k1");
    expect(t.cache.size).toBe(5);
  });

  it("contacts only the servers the caller allows", async () => {
    const asked: string[] = [];
    const cache = new ServerKeyCache({
      fetchKeys: async (server) => (asked.push(server), response(server)),
      mayFetch: (server) => server === "member.example",
    });
    expect(await cache.verifyKey("127.0.0.1:6379", "ed25519:k1")).toMatchObject({
      ok: false,
      reason: /not a server Tyr accepts/,
    });
    expect((await cache.verifyKey("member.example", "ed25519:k1")).ok).toBe(true);
    expect(asked).toEqual(["member.example"]);
  });

  it("gives up on a server that never answers, and frees its slot", async () => {
    const cache = new ServerKeyCache({
      fetchKeys: () => new Promise(() => {}),
      fetchTimeoutMs: 20,
      maxInFlight: 1,
    });
    expect(await cache.verifyKey("hung.example", "ed25519:k1")).toMatchObject({
      ok: false,
      reason: /no answer within 20 ms/,
    });
    expect(await cache.verifyKey("other.example", "ed25519:k1")).toMatchObject({
      ok: false,
      reason: /no answer/,
    });
  });

  it("refuses a response from another server even when validly signed", async () => {
    const t = setup({ "hs.example": () => response("other.example") });
    expect(await t.cache.verifyKey("hs.example", "ed25519:k1")).toMatchObject({
      ok: false,
      reason: /not hs.example/,
    });
  });
});
