// The policy server's answer to a sign request: from the ban lists (through the real matcher),
// the protections judge and dry-run, to the HTTP status and body the listener sends back — and the
// authentication in front of it.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Matcher, sha256Base64 } from "../../../src/banlists/matcher.ts";
import type { Rule } from "../../../src/banlists/rule.ts";
import { decodeBase64 } from "../../../src/federation/base64.ts";
import { signingKeyFromSeed, verifyKeyFromBytes } from "../../../src/federation/ed25519.ts";
import { ServerKeyCache } from "../../../src/federation/keyCache.ts";
import {
  decidePolicy,
  readPolicyEvent,
  type ProtectionJudge,
} from "../../../src/federation/policyDecision.ts";
import {
  answerSignRequest,
  SIGN_PATH,
  type SignRequestContext,
} from "../../../src/federation/policyServer.ts";
import { verifyPolicySignature } from "../../../src/federation/policySignature.ts";
import { authenticateRequest } from "../../../src/federation/requestAuth.ts";
import { signJson, type JsonObject } from "../../../src/federation/signedJson.ts";
import { buildXMatrix } from "../../../src/federation/xMatrix.ts";

const LIST = "!list:tyr.example";
const ROOM = "!protected:hs.example";
const policyKey = signingKeyFromSeed(new Uint8Array(32).fill(5), "policy_server");
const policyVerify = verifyKeyFromBytes(decodeBase64(policyKey.publicKeyBase64) as Uint8Array);
if (policyVerify === undefined) throw new Error("key did not load");

function rule(
  kind: Rule["kind"],
  entity: string | { sha256: string },
  recommendation: Rule["recommendation"] = "ban",
): Rule {
  const e = typeof entity === "string" ? { entity } : entity;
  return {
    list: LIST,
    kind,
    ...e,
    recommendation,
    reason: "spam",
    eventType: `m.policy.rule.${kind}`,
    stateKey: `${kind}:${typeof entity === "string" ? entity : entity.sha256}`,
  };
}

function event(over: JsonObject = {}): JsonObject {
  return {
    type: "m.room.message",
    room_id: ROOM,
    sender: "@alice:hs.example",
    content: { msgtype: "m.text", body: "hello" },
    depth: 5,
    prev_events: ["$p"],
    auth_events: ["$a"],
    origin_server_ts: 1,
    hashes: { sha256: "x" },
    signatures: { "hs.example": { "ed25519:a": "sig" } },
    ...over,
  };
}

function context(
  rules: Rule[],
  opts: { judge?: ProtectionJudge; dryRun?: boolean; serverRulesApplyToUsers?: boolean } = {},
): SignRequestContext {
  const matcher = new Matcher({ serverRulesApplyToUsers: opts.serverRulesApplyToUsers ?? false });
  matcher.addAll(rules);
  return {
    matcher,
    dryRun: opts.dryRun ?? false,
    ...(opts.judge ? { judge: opts.judge } : {}),
    serverName: "tyr.example",
    key: policyKey,
    roomVersion: (roomId) => (roomId === ROOM ? "11" : undefined),
  };
}

describe("policy decision", () => {
  it("signs clean events and refuses banned senders, servers (globs, hashed) and rooms", () => {
    const ctx = context([
      rule("user", "@spammer:hs.example"),
      rule("server", "*.evil.example"),
      rule("user", { sha256: sha256Base64("@hidden:hs.example") }),
      rule("room", "!banned:hs.example", "takedown"),
    ]);
    expect(decidePolicy(event(), ctx).verdict).toBe("sign");
    const cases: [JsonObject, string][] = [
      [event({ sender: "@spammer:hs.example" }), "user-rule"],
      [event({ sender: "@SPAMMER:hs.example" }), "user-rule"],
      [event({ sender: "@anyone:a.evil.example" }), "server-rule"],
      [event({ sender: "@hidden:hs.example" }), "user-rule"],
      [event({ room_id: "!banned:hs.example" }), "room-rule"],
    ];
    for (const [ev, cause] of cases) {
      const v = decidePolicy(ev, ctx);
      expect(v.verdict, cause).toBe("refuse");
      if (v.verdict === "refuse") {
        expect(v.refusal.cause).toBe(cause);
        expect(v.refusal.reason).toMatch(/banned by !list:tyr.example.*: spam$/);
      }
    }
    // evil.example itself is not matched by *.evil.example (globs are whole-string).
    expect(decidePolicy(event({ sender: "@x:evil.example" }), ctx).verdict).toBe("sign");
  });

  it("respects exceptions from the lists", () => {
    const ctx = context([rule("server", "hs.example"), rule("user", "@alice:hs.example", "exception")]);
    expect(decidePolicy(event({ sender: "@bob:hs.example" }), ctx).verdict).toBe("refuse");
    expect(decidePolicy(event(), ctx).verdict).toBe("sign");
    // The same whether or not the bot's matcher already folds server rules into user matches.
    const folded = context([rule("server", "hs.example"), rule("user", "@alice:hs.example", "exception")], {
      serverRulesApplyToUsers: true,
    });
    expect(decidePolicy(event({ sender: "@bob:hs.example" }), folded)).toMatchObject({
      verdict: "refuse",
      refusal: { cause: "server-rule", rule: { entity: "hs.example" } },
    });
    expect(decidePolicy(event(), folded).verdict).toBe("sign");
  });

  it("asks the protections judge last, and signs when the judge fails", () => {
    const seen: string[] = [];
    const judge: ProtectionJudge = (e) => {
      seen.push(e.sender);
      if (e.content["body"] === "boom") throw new Error("judge crashed");
      return e.content["body"] === "buy pills"
        ? { spam: true, protection: "wordlist", reason: "matched pills" }
        : { spam: false };
    };
    const ctx = context([rule("user", "@spammer:hs.example")], { judge });
    expect(decidePolicy(event({ content: { body: "buy pills" } }), ctx)).toMatchObject({
      verdict: "refuse",
      refusal: { cause: "protection", protection: "wordlist", reason: "wordlist: matched pills" },
    });
    expect(
      decidePolicy(event({ sender: "@spammer:hs.example", content: { body: "buy pills" } }), ctx),
    ).toMatchObject({
      refusal: { cause: "user-rule" },
    });
    expect(seen).toEqual(["@alice:hs.example"]);
    expect(decidePolicy(event({ content: { body: "boom" } }), ctx)).toMatchObject({
      verdict: "sign",
      judgeError: "judge crashed",
    });
  });

  it("dry-run signs everything and says what it would have refused", () => {
    const ctx = context([rule("user", "@spammer:hs.example")], { dryRun: true });
    expect(decidePolicy(event({ sender: "@spammer:hs.example" }), ctx)).toMatchObject({
      verdict: "sign",
      wouldRefuse: { cause: "user-rule" },
    });
  });

  it("refuses malformed PDUs with a reason and never throws", () => {
    const bad: [unknown, RegExp][] = [
      [null, /not a JSON object/],
      ["x", /not a JSON object/],
      [event({ type: 5 }), /no type/],
      [event({ room_id: "room" }), /no room_id/],
      [event({ sender: undefined }), /no sender/],
      [event({ sender: "alice" }), /valid user ID/],
      [event({ sender: "@a:bad host" }), /valid user ID/],
      [event({ content: [] }), /content/],
      [event({ state_key: 5 }), /state_key/],
    ];
    for (const [pdu, reason] of bad) expect(readPolicyEvent(pdu)).toMatchObject({ ok: false, reason });
  });
});

describe("sign request answer", () => {
  it("200 with a signature Synapse's check accepts (over the redacted event)", () => {
    const pdu = event();
    const a = answerSignRequest(pdu, "hs.example", context([]));
    expect(a.status).toBe(200);
    expect(Object.keys(a.body)).toEqual(["tyr.example"]);
    expect(Object.keys(a.body["tyr.example"] as JsonObject)).toEqual(["ed25519:policy_server"]);
    const withSig = { ...pdu, signatures: { ...(pdu["signatures"] as JsonObject), ...a.body } };
    expect(verifyPolicySignature(withSig, "11", "tyr.example", policyVerify)).toEqual({ ok: true });
  });

  it("maps refusals to the spec's errors without leaking the ban reason", () => {
    const ctx = context([rule("user", "@spammer:hs.example"), rule("server", "banned.example")]);
    const refused = answerSignRequest(event({ sender: "@spammer:hs.example" }), "hs.example", ctx);
    expect(refused).toMatchObject({
      status: 400,
      body: { errcode: "M_FORBIDDEN" },
      verdict: { verdict: "refuse" },
    });
    expect(JSON.stringify(refused.body)).not.toMatch(/spam/);
    expect(answerSignRequest(event(), "banned.example", ctx)).toMatchObject({
      status: 403,
      body: { errcode: "M_FORBIDDEN" },
    });
    expect(answerSignRequest(event({ room_id: "!other:x" }), "hs.example", ctx)).toMatchObject({
      status: 404,
      body: { errcode: "M_NOT_FOUND" },
    });
    expect(answerSignRequest({ junk: 1 }, "hs.example", ctx)).toMatchObject({
      status: 400,
      body: { errcode: "M_BAD_JSON" },
    });
    expect(answerSignRequest(event({ depth: 1.5 }), "hs.example", ctx)).toMatchObject({
      status: 400,
      body: { errcode: "M_BAD_JSON", error: /not canonical JSON/ },
    });
    // Over the PDU limit, measured as canonical JSON like Synapse does.
    const big = event({ content: { body: "x".repeat(65_536 - 300) } });
    expect(answerSignRequest(big, "hs.example", context([])).status).toBe(200);
    const tooBig = event({ content: { body: "é".repeat(33_000) } });
    expect(answerSignRequest(tooBig, "hs.example", context([]))).toMatchObject({
      status: 413,
      body: { errcode: "M_TOO_LARGE" },
    });
    // Dry-run: signed, and the verdict still says what would have happened.
    const dry = answerSignRequest(event({ sender: "@spammer:hs.example" }), "hs.example", {
      ...ctx,
      dryRun: true,
    });
    expect(dry).toMatchObject({
      status: 200,
      verdict: { verdict: "sign", wouldRefuse: { cause: "user-rule" } },
    });
  });
});

describe("sign request fuzz", () => {
  it("answers 2,000 malformed or odd PDUs with a status, never an exception", () => {
    const ctx = context([rule("user", "@spammer:hs.example"), rule("server", "*.evil.example")], {
      judge: (e) =>
        String(e.content["body"]).includes("spam")
          ? { spam: true, protection: "p", reason: "r" }
          : { spam: false },
    });
    const seen = new Set<number>();
    const anyJson = fc.jsonValue({ maxDepth: 3 });
    // Values that make a mutated event valid but refused, unknown, or spam, not only malformed.
    const plausible = fc.constantFrom(
      "!other:hs.example",
      ROOM,
      "@x:a.evil.example",
      "@spammer:hs.example",
      { body: "spam" },
      "",
    );
    const field = fc.constantFrom(
      "type",
      "room_id",
      "sender",
      "content",
      "state_key",
      "depth",
      "signatures",
      "unsigned",
      "__proto__",
    );
    const mutatedEvent = fc
      .tuple(
        fc.array(fc.tuple(field, fc.oneof(anyJson, plausible)), { maxLength: 4 }),
        fc.array(field, { maxLength: 2 }),
      )
      .map(([sets, drops]) => {
        const e: JsonObject = event();
        for (const [k, v] of sets)
          Object.defineProperty(e, k, { value: v, enumerable: true, configurable: true, writable: true });
        for (const k of drops) delete e[k];
        return e;
      });
    fc.assert(
      fc.property(
        fc.oneof(anyJson, mutatedEvent),
        fc.constantFrom("hs.example", "a.evil.example"),
        (pdu, origin) => {
          const a = answerSignRequest(pdu, origin, ctx);
          seen.add(a.status);
          expect([200, 400, 403, 404, 413]).toContain(a.status);
          if (a.status === 200) expect(Object.keys(a.body)).toEqual(["tyr.example"]);
          else expect(typeof a.body["errcode"]).toBe("string");
        },
      ),
      { numRuns: 2000, seed: 11 },
    );
    expect([...seen].sort()).toEqual([200, 400, 403, 404]);
  });
});

describe("request authentication", () => {
  const remote = signingKeyFromSeed(new Uint8Array(32).fill(8), "r1");
  const other = signingKeyFromSeed(new Uint8Array(32).fill(9), "r2");
  const keyResponse = signJson(
    {
      server_name: "hs.example",
      valid_until_ts: Date.now() + 3_600_000,
      verify_keys: {
        [remote.keyId]: { key: remote.publicKeyBase64 },
        [other.keyId]: { key: other.publicKeyBase64 },
      },
    },
    "hs.example",
    remote,
  );
  const keys = () => new ServerKeyCache({ fetchKeys: async () => keyResponse });
  const content = event();
  const header = (key = remote, over: { uri?: string; origin?: string } = {}) =>
    buildXMatrix({
      method: "POST",
      uri: over.uri ?? SIGN_PATH,
      origin: over.origin ?? "hs.example",
      destination: "tyr.example",
      content,
      key,
    });

  it("accepts a correctly signed request and names its origin", async () => {
    expect(
      await authenticateRequest(
        { method: "POST", uri: SIGN_PATH, content, authorization: header() },
        "tyr.example",
        keys(),
      ),
    ).toEqual({
      ok: true,
      origin: "hs.example",
    });
    // One header per key of the origin: all must verify.
    expect(
      await authenticateRequest(
        { method: "POST", uri: SIGN_PATH, content, authorization: [header(), header(other)] },
        "tyr.example",
        keys(),
      ),
    ).toMatchObject({ ok: true });
  });

  it("refuses unauthenticated, forged, replayed-elsewhere and mixed requests", async () => {
    const req = { method: "POST", uri: SIGN_PATH, content };
    const cases: [string | string[] | undefined, RegExp][] = [
      [undefined, /no X-Matrix/],
      ["Bearer token", /no X-Matrix/],
      ['X-Matrix origin="hs.example"', /no key/],
      [header(remote, { uri: "/_matrix/other" }), /does not verify/],
      [[header(), header(other).replace(/sig="[^"]+"/, 'sig="AAAA"')], /does not verify|not valid base64/],
      [[header(), header(remote, { origin: "x.example" })], /different origins/],
      [header(signingKeyFromSeed(new Uint8Array(32).fill(1), "r1")), /does not verify/],
      [header(signingKeyFromSeed(new Uint8Array(32).fill(1), "zz")), /publishes no key ed25519:zz/],
    ];
    for (const [authorization, reason] of cases) {
      const r = await authenticateRequest({ ...req, authorization }, "tyr.example", keys());
      expect(r, String(reason)).toMatchObject({ ok: false, reason });
    }
    // Signed for another destination.
    expect(
      await authenticateRequest({ ...req, authorization: header() }, "not-tyr.example", keys()),
    ).toMatchObject({
      ok: false,
      reason: /not not-tyr.example/,
    });
    // The body changed after signing.
    expect(
      await authenticateRequest(
        { ...req, content: event({ sender: "@x:hs.example" }), authorization: header() },
        "tyr.example",
        keys(),
      ),
    ).toMatchObject({ ok: false });
  });
});
