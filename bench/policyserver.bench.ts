// Policy server benchmark: the real HTTP listener with the sign routes (src/policyserver/handler.ts)
// — X-Matrix verification against cached server keys, the decision over a realistic matcher
// (100,000 user rules from the matcher bench's generator), the protections enforced at the server
// (word list with regexes, mention spam), redaction and Ed25519 signing of the event — driven at
// 500 requests/s (open loop, keep-alive, from a worker thread) by 20 requesting servers, each
// request signed as Synapse signs it. The baseline is a do-nothing handler on the same listener
// with the same X-Matrix auth and JSON parsing, measured in the same run, alternating rounds.
// Target: p99 ≤ 10 ms per sign request at 500 requests/s.
import { loadavg } from "node:os";
import { pino } from "pino";
import { Matcher } from "../src/banlists/matcher.ts";
import { signingKeyFromSeed } from "../src/federation/ed25519.ts";
import { ServerKeyCache } from "../src/federation/keyCache.ts";
import { SIGN_PATH } from "../src/federation/policyServer.ts";
import { signJson } from "../src/federation/signedJson.ts";
import { buildXMatrix } from "../src/federation/xMatrix.ts";
import { HttpListener } from "../src/http/server.ts";
import { SignHandler, xMatrixAuth } from "../src/policyserver/handler.ts";
import { protectionJudge } from "../src/policyserver/judge.ts";
import { PolicyServerStats } from "../src/policyserver/stats.ts";
import { ProtectionPipeline } from "../src/protections/pipeline.ts";
import { BUILTIN_PROTECTIONS } from "../src/protections/registry.ts";
import { enforcedAtServer } from "../src/protections/enforce.ts";
import { configured } from "./antispam.bench.ts";
import { dataset, makeChecks, makeRules } from "./matcher.bench.ts";
import type { LoadJob } from "./antispamLoad.ts";
import type { BenchResult } from "./types.ts";
import { median, p99Of, pairedRounds, timedRoutes } from "./pairedLoad.ts";

const RATE = 500;
const ROUND_MS = 5_000;
const ROUNDS = 3;
const TYR = "tyr.example.org";
const BOT = "@tyr:example.org";
const ROOMS = Array.from({ length: 20 }, (_, i) => `!room${i}:example.org`);
const SERVERS = Array.from({ length: 20 }, (_, i) => `hs${i}.example.net`);

export async function run(): Promise<BenchResult[]> {
  const d = dataset(0x14);
  const rules = makeRules(d);
  const matcher = new Matcher({ serverRulesApplyToUsers: false });
  matcher.addAll(rules);
  const pipeline = new ProtectionPipeline({
    botUserId: BOT,
    protections: BUILTIN_PROTECTIONS,
    config: configured(),
  });
  const serverKeys = new Map(
    SERVERS.map((s, i) => [s, signingKeyFromSeed(new Uint8Array(32).fill(i + 1), "a1")]),
  );
  const keys = new ServerKeyCache({
    fetchKeys: async (server) => {
      const k = serverKeys.get(server);
      if (k === undefined) throw new Error("unknown server");
      const body = {
        server_name: server,
        valid_until_ts: Date.now() + 3_600_000,
        verify_keys: { [k.keyId]: { key: k.publicKeyBase64 } },
      };
      return signJson(body, server, k);
    },
  });
  const policyKey = signingKeyFromSeed(new Uint8Array(32).fill(99), "policy_server");
  const protectedRooms = new Set(ROOMS);
  const ctx = {
    serverName: TYR,
    key: policyKey,
    matcher,
    dryRun: false,
    judge: protectionJudge((raw, room, now) =>
      pipeline.handleRaw(raw, room, {}, now, (e) => enforcedAtServer(e.settings)),
    ),
    roomVersion: (r: string) => (protectedRooms.has(r) ? "11" : undefined),
  };
  const handler = new SignHandler({
    serverName: TYR,
    keys,
    maxBodyBytes: 131_072,
    maxRequestsPerMinutePerServer: 1_000_000,
    stats: new PolicyServerStats(),
    ready: () => true,
    context: () => ctx,
  });
  const decisions: number[] = [];
  const timed = timedRoutes(handler.routes(), decisions);
  const listener = new HttpListener({
    name: "bench",
    bind: "127.0.0.1",
    port: 0,
    routes: [
      ...timed,
      {
        feature: "bench",
        method: "POST",
        path: "/_bench/noop",
        auth: xMatrixAuth(TYR, keys),
        body: "json",
        maxBodyBytes: 131_072,
        handler: () => ({ status: 200, body: {} }),
      },
    ],
    limits: { maxConnections: 1_024 },
    log: pino({ level: "silent" }),
  });
  const { port } = await listener.start();
  // Warm the key cache: a miss costs a fetch, which is authentication, not the decision.
  for (const [s, k] of serverKeys) await keys.verifyKey(s, k.keyId);

  // 2,000 distinct signed requests (senders from the rule generator: some banned; 5 % word-list hits).
  const users = makeChecks(d, rules, 2_000);
  const signed = (path: string): LoadJob["requests"] =>
    users.map((user, i) => {
      const origin = SERVERS[i % SERVERS.length] as string;
      const body =
        d.rand() < 0.05
          ? `get free crypto now at t.me/scam${i}`
          : `message ${i} about ${["lunch", "the release", "a bug", "matrix"][i % 4]}`;
      const pdu = {
        type: "m.room.message",
        room_id: ROOMS[i % ROOMS.length],
        sender: user.replace(/:[^:]+$/, `:${origin}`),
        content: { msgtype: "m.text", body },
        depth: 10 + i,
        prev_events: [`$prev${i}`],
        auth_events: ["$create", "$power", `$member${i}`],
        origin_server_ts: Date.now(),
        hashes: { sha256: "K8xj7hQ3yW2mE5nN0pL4rT6uV9aB1cD3fG5hJ7kL9mN" },
        signatures: { [origin]: { "ed25519:a1": "sig" } },
      };
      const auth = buildXMatrix({
        method: "POST",
        uri: path,
        origin,
        destination: TYR,
        content: pdu,
        key: serverKeys.get(origin)!,
      });
      return [path, JSON.stringify(pdu), { Authorization: auth }];
    });
  const mix = signed(SIGN_PATH);
  const noop = signed("/_bench/noop");
  const job = (requests: LoadJob["requests"], durationMs = ROUND_MS): LoadJob => ({
    port,
    rate: RATE,
    durationMs,
    headers: { "Content-Type": "application/json" },
    requests,
  });

  const run = await pairedRounds({
    job,
    mix,
    noop,
    rounds: ROUNDS,
    onMeasureStart: () => (decisions.length = 0),
  });
  const decisionP99 = p99Of(decisions);
  await listener.stop();

  const { measured: a, p99, p99Base, requestsPerS: reqs, requestsPerSBase: reqsBase } = run;
  const total = a.reduce((n, r) => n + r.completed, 0);
  const signedOk = a.reduce((n, r) => n + (r.statuses[200] ?? 0), 0);
  const refused = a.reduce((n, r) => n + (r.statuses[400] ?? 0), 0);
  const errors = a.reduce((n, r) => n + r.errors + (r.statuses[500] ?? 0) + (r.statuses[401] ?? 0), 0);
  const shape = `${rules.length.toLocaleString("en")} rules; ${SERVERS.length} requesting servers; ${ROUNDS} rounds of ${ROUND_MS / 1000} s at ${RATE}/s; ${((100 * signedOk) / Math.max(1, total)).toFixed(1)} % signed, ${((100 * refused) / Math.max(1, total)).toFixed(1)} % refused, ${errors} errors/401s; load ${loadavg()[0]!.toFixed(1)}`;
  return [
    {
      name: "policyserver.p99_ms",
      value: Number(p99.toFixed(2)),
      unit: "ms",
      baseline: Number(p99Base.toFixed(2)),
      ratio: p99Base > 0 ? p99 / p99Base : undefined,
      note: `median of round p99s (p50 ${median(a.map((r) => r.p50)).toFixed(2)} ms, max ${Math.max(...a.map((r) => r.max)).toFixed(1)} ms); baseline = do-nothing handler, same listener and X-Matrix auth; ${shape}`,
    },
    {
      name: "policyserver.decision_p99_ms",
      value: Number(decisionP99.toFixed(3)),
      unit: "ms",
      note: `inside the handler (decision, redaction, signing; no HTTP, no X-Matrix), ${decisions.length.toLocaleString("en")} requests`,
    },
    {
      name: "policyserver.requests_per_s",
      value: Math.round(reqs),
      unit: "req/s",
      baseline: Math.round(reqsBase),
      ratio: reqs / reqsBase,
      note: `offered ${RATE}/s (open loop); answered per second`,
    },
  ];
}
