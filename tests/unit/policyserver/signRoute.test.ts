// The policy server's routes on the real HTTP listener: a request signed by a known server gets
// the policy signature (verified as Synapse verifies it), a banned sender is refused, the unstable
// path answers the same, and everything unauthenticated, wrongly signed, malformed, oversized or
// too frequent is refused without a crash (fuzzed with over 1,000 requests).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pino } from "pino";
import { Matcher } from "../../../src/banlists/matcher.ts";
import type { Rule } from "../../../src/banlists/rule.ts";
import { decodeBase64 } from "../../../src/federation/base64.ts";
import { signingKeyFromSeed, verifyKeyFromBytes } from "../../../src/federation/ed25519.ts";
import { ServerKeyCache } from "../../../src/federation/keyCache.ts";
import { SIGN_PATH, UNSTABLE_SIGN_PATH, type SignAnswer } from "../../../src/federation/policyServer.ts";
import { verifyPolicySignature } from "../../../src/federation/policySignature.ts";
import { signJson, type JsonObject } from "../../../src/federation/signedJson.ts";
import { buildXMatrix } from "../../../src/federation/xMatrix.ts";
import { HttpListener } from "../../../src/http/server.ts";
import { SignHandler } from "../../../src/policyserver/handler.ts";
import { PolicyServerStats } from "../../../src/policyserver/stats.ts";
import { mulberry32 } from "../../harness/prng.ts";

const TYR = "tyr.example";
const HS = "hs.example";
const ROOM = "!protected:hs.example";
const hsKey = signingKeyFromSeed(new Uint8Array(32).fill(1), "a1");
const strangerKey = signingKeyFromSeed(new Uint8Array(32).fill(9), "a1");
const policyKey = signingKeyFromSeed(new Uint8Array(32).fill(5), "policy_server");
const policyVerify = verifyKeyFromBytes(decodeBase64(policyKey.publicKeyBase64) as Uint8Array)!;

const banned: Rule = {
  list: "!list:tyr.example",
  kind: "user",
  entity: "@spammer:hs.example",
  recommendation: "ban",
  reason: "spam",
  eventType: "m.policy.rule.user",
  stateKey: "user:@spammer:hs.example",
};

function pdu(over: JsonObject = {}): JsonObject {
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
    signatures: { [HS]: { "ed25519:a1": "sig" } },
    ...over,
  };
}

const stats = new PolicyServerStats();
const answers: SignAnswer[] = [];
let ready = true;
let dryRun = false;
let listener: HttpListener;
let base = "";
let fetches = 0;

beforeAll(async () => {
  const matcher = new Matcher({ serverRulesApplyToUsers: false });
  matcher.addAll([banned]);
  const keys = new ServerKeyCache({
    fetchKeys: async (server) => {
      fetches++;
      if (server !== HS) throw new Error("unknown server");
      return signJson(
        {
          server_name: HS,
          valid_until_ts: Date.now() + 3_600_000,
          verify_keys: { [hsKey.keyId]: { key: hsKey.publicKeyBase64 } },
        },
        HS,
        hsKey,
      );
    },
    mayFetch: (s) => s === HS,
  });
  const handler = new SignHandler({
    serverName: TYR,
    keys,
    maxBodyBytes: 8_192,
    maxRequestsPerMinutePerServer: 100_000,
    stats,
    ready: () => ready,
    context: () => ({
      serverName: TYR,
      key: policyKey,
      matcher,
      dryRun,
      roomVersion: (r) => (r === ROOM ? "11" : undefined),
    }),
    onAnswer: (_o, a) => answers.push(a),
  });
  listener = new HttpListener({
    name: "main",
    bind: "127.0.0.1",
    port: 0,
    routes: handler.routes(),
    log: pino({ level: "silent" }),
  });
  const { port } = await listener.start();
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  await listener.stop();
});

async function sign(
  body: unknown,
  opts: { path?: string; key?: typeof hsKey; origin?: string; destination?: string; raw?: string } = {},
) {
  const path = opts.path ?? SIGN_PATH;
  const auth = buildXMatrix({
    method: "POST",
    uri: path,
    origin: opts.origin ?? HS,
    destination: opts.destination ?? TYR,
    content: body,
    key: opts.key ?? hsKey,
  });
  const res = await fetch(base + path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: auth },
    body: opts.raw ?? JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json().catch(() => undefined)) as JsonObject };
}

describe("POST /_matrix/policy/v1/sign on the listener", () => {
  it("signs a clean event from an authenticated server; the signature verifies over the redacted event", async () => {
    for (const path of [SIGN_PATH, UNSTABLE_SIGN_PATH]) {
      const r = await sign(pdu(), { path });
      expect(r.status, path).toBe(200);
      const sig = (r.body[TYR] as Record<string, string>)["ed25519:policy_server"];
      expect(typeof sig).toBe("string");
      const signed = { ...pdu(), signatures: { ...(pdu()["signatures"] as JsonObject), ...r.body } };
      expect(verifyPolicySignature(signed, "11", TYR, policyVerify)).toEqual({ ok: true });
    }
    expect(stats.lastHour(ROOM, Date.now()).byServer[0]).toEqual([HS, { requests: 2, refused: 0 }]);
  });

  it("refuses a banned sender and an unknown room, and reports the verdict", async () => {
    const refused = await sign(pdu({ sender: "@spammer:hs.example" }));
    expect(refused).toEqual({
      status: 400,
      body: { errcode: "M_FORBIDDEN", error: "This event was refused by the room's policy server." },
    });
    expect(answers.at(-1)?.verdict).toMatchObject({ verdict: "refuse", refusal: { cause: "user-rule" } });
    expect((await sign(pdu({ room_id: "!other:hs.example" }))).status).toBe(404);
  });

  it("in dry-run signs a banned sender's event and reports what it would have refused", async () => {
    dryRun = true;
    try {
      const r = await sign(pdu({ sender: "@spammer:hs.example" }));
      expect(r.status).toBe(200);
      expect(answers.at(-1)?.verdict).toMatchObject({ verdict: "sign", wouldRefuse: { cause: "user-rule" } });
    } finally {
      dryRun = false;
    }
  });

  it("refuses unauthenticated, wrongly signed and misaddressed requests with 401", async () => {
    const before = stats.authFailures;
    const none = await fetch(base + SIGN_PATH, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(pdu()),
    });
    expect(none.status).toBe(401);
    expect((await sign(pdu(), { key: strangerKey })).status).toBe(401);
    expect((await sign(pdu(), { destination: "other.example" })).status).toBe(401);
    // A server with no member in a protected room is never contacted for keys.
    const f = fetches;
    expect((await sign(pdu(), { origin: "stranger.example", key: strangerKey })).status).toBe(401);
    expect(fetches).toBe(f);
    // The body differs from what was signed.
    expect((await sign(pdu(), { raw: JSON.stringify(pdu({ content: { body: "changed" } })) })).status).toBe(
      401,
    );
    expect(stats.authFailures - before).toBe(5);
  });

  it("refuses oversized requests with 413 and answers 503 while not ready", async () => {
    expect((await sign(pdu({ content: { body: "x".repeat(10_000) } }))).status).toBe(413);
    ready = false;
    try {
      expect((await sign(pdu())).status).toBe(503);
    } finally {
      ready = true;
    }
  });

  it("survives 1,200 malformed, unsigned, wrongly signed and oversized requests, refusing every one", async () => {
    const rnd = mulberry32(14);
    const statuses = new Map<number, number>();
    const garbage = () => {
      const n = Math.floor(rnd() * 200);
      let s = "";
      for (let i = 0; i < n; i++) s += String.fromCharCode(Math.floor(rnd() * 256));
      return s;
    };
    for (let i = 0; i < 1_200; i++) {
      const kind = i % 6;
      let status: number;
      if (kind === 0) {
        // random bytes as body, random or no Authorization header
        const res = await fetch(base + SIGN_PATH, {
          method: "POST",
          headers: {
            "Content-Type": "application/json",
            ...(rnd() < 0.5 ? { Authorization: `X-Matrix ${garbage().replace(/[^\x20-\x7e]/g, "")}` } : {}),
          },
          body: garbage(),
        });
        status = res.status;
        await res.arrayBuffer();
      } else if (kind === 1) {
        status = (await sign(pdu(), { key: strangerKey })).status; // wrong key
      } else if (kind === 2) {
        // a correctly signed request whose body is not a PDU
        const bodies: unknown[] = [
          null,
          1,
          "x",
          [],
          {},
          { type: 5 },
          pdu({ sender: "nobody" }),
          pdu({ content: [] }),
        ];
        status = (await sign(bodies[Math.floor(rnd() * bodies.length)])).status;
      } else if (kind === 3) {
        status = (await sign(pdu({ content: { body: "y".repeat(9_000 + Math.floor(rnd() * 5_000)) } })))
          .status;
      } else if (kind === 4) {
        // a signed request with one character of its signature changed (never the last: its
        // unused low bits may decode to the same bytes)
        const auth = buildXMatrix({
          method: "POST",
          uri: SIGN_PATH,
          origin: HS,
          destination: TYR,
          content: pdu(),
          key: hsKey,
        });
        const sigAt = auth.indexOf('sig="') + 5;
        const at = sigAt + Math.floor(rnd() * 80);
        const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const other = alphabet.replace(auth[at] as string, "")[Math.floor(rnd() * 63)] as string;
        const mutated = auth.slice(0, at) + other + auth.slice(at + 1);
        const res = await fetch(base + SIGN_PATH, {
          method: "POST",
          headers: {
            "Content-Type": "application/json",
            Authorization: mutated,
          },
          body: JSON.stringify(pdu()),
        });
        status = res.status;
        await res.arrayBuffer();
      } else {
        status = (await sign(pdu({ sender: "@spammer:hs.example" }))).status; // banned
      }
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      expect([400, 401, 403, 404, 413, 415], `request ${i} (kind ${kind}) got ${status}`).toContain(status);
    }
    expect(statuses.get(500)).toBeUndefined();
    // Still answering.
    expect((await sign(pdu())).status).toBe(200);
  }, 120_000);
});
