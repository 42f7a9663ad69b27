// Homeserver antispam benchmark: the real HTTP listener with the antispam routes over a realistic
// matcher (100,000 user rules from the matcher bench's generator, plus server and room rules) and
// the protections enforced at the server (word list with regexes, mention spam), driven at 1,000
// requests/s (open loop, keep-alive, from a worker thread) with the module's callback mix. The
// baseline is a do-nothing handler on the same listener (same auth, same JSON parsing), measured
// in the same run, alternating rounds. Target: p99 ≤ 5 ms per callback at 1,000 requests/s.
import { loadavg } from "node:os";
import { pino } from "pino";
import { Matcher } from "../src/banlists/matcher.ts";
import type { Rule } from "../src/banlists/rule.ts";
import { HttpListener } from "../src/http/server.ts";
import { bearerSecret } from "../src/http/auth.ts";
import { AntispamHandler } from "../src/antispam/handler.ts";
import type { Knowledge } from "../src/antispam/decide.ts";
import { defaultConfig, setEnabled, setSetting, type ProtectionsConfig } from "../src/protections/config.ts";
import { ProtectionPipeline } from "../src/protections/pipeline.ts";
import { BUILTIN_PROTECTIONS } from "../src/protections/registry.ts";
import { enforcedAtServer } from "../src/protections/enforce.ts";
import { dataset, makeChecks, makeRules } from "./matcher.bench.ts";
import type { LoadJob } from "./antispamLoad.ts";
import type { BenchResult } from "./types.ts";
import { median, p99Of, pairedRounds, timedRoutes } from "./pairedLoad.ts";

const RATE = 1_000;
const ROUND_MS = 5_000;
const ROUNDS = 3;
const SECRET = "bench-secret-0123456789abcdef";
const PREFIX = "/_tyr/antispam";
const BOT = "@tyr:example.org";
const ROOMS = Array.from({ length: 20 }, (_, i) => `!room${i}:example.org`);

export function configured(): ProtectionsConfig {
  const R = BUILTIN_PROTECTIONS;
  const ok = (r: { ok: true; config: ProtectionsConfig } | { ok: false; error: string }) => {
    if (!r.ok) throw new Error(r.error);
    return r.config;
  };
  let c = defaultConfig();
  const words = Array.from({ length: 50 }, (_, i) => `spamword${i}`);
  words.push(
    "/free\\s+(nitro|crypto|btc)/i",
    "/(?:t\\.me|discord\\.gg)\\/\\w+/i",
    "/\\b(?:casino|viagra)\\b/i",
  );
  c = ok(setEnabled(c, R, "word-list", true));
  c = ok(setSetting(c, R, "word-list", "patterns", words));
  c = ok(setSetting(c, R, "word-list", "enforceAtServer", true));
  c = ok(setEnabled(c, R, "mention-spam", true));
  c = ok(setSetting(c, R, "mention-spam", "enforceAtServer", true));
  return c;
}

/** The callback mix a busy homeserver sends: mostly messages, then invites and joins. */
function requestMix(users: string[], rand: () => number): [string, string][] {
  const out: [string, string][] = [];
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  for (let i = 0; i < 4_000; i++) {
    const r = rand();
    const user = pick(users);
    const room = pick(ROOMS);
    if (r < 0.45) {
      const body =
        rand() < 0.05
          ? `get free crypto now at t.me/scam${i}`
          : `message ${i} about ${pick(["lunch", "the release", "a bug", "matrix", "weekend plans"])}`;
      out.push([
        `${PREFIX}/check_event_for_spam`,
        JSON.stringify({
          event: {
            event_id: `$e${i}`,
            room_id: room,
            sender: `@local${i % 500}:example.org`,
            type: "m.room.message",
            origin_server_ts: Date.now(),
            content: { msgtype: "m.text", body },
            unsigned: {},
          },
        }),
      ]);
    } else if (r < 0.7) {
      out.push([
        `${PREFIX}/user_may_invite`,
        JSON.stringify({ inviter: user, invitee: "@alice:example.org", room_id: room }),
      ]);
    } else if (r < 0.8) {
      out.push([
        `${PREFIX}/federated_user_may_invite`,
        JSON.stringify({
          event: {
            type: "m.room.member",
            sender: user,
            state_key: "@alice:example.org",
            room_id: `!r${i}:remote.org`,
            event_id: `$i${i}`,
            content: { membership: "invite" },
          },
        }),
      ]);
    } else if (r < 0.97) {
      out.push([`${PREFIX}/user_may_join_room`, JSON.stringify({ user, room, is_invited: rand() < 0.3 })]);
    } else {
      out.push([`${PREFIX}/user_may_create_room`, JSON.stringify({ user_id: user })]);
    }
  }
  return out;
}

export async function run(): Promise<BenchResult[]> {
  const d = dataset(0xa5);
  const rules: Rule[] = makeRules(d);
  const list = rules[0]?.list ?? "!community:example.org";
  const extra = (kind: "server" | "room", entity: string, i: number): Rule => ({
    list,
    kind,
    entity,
    recommendation: "ban",
    reason: "spam",
    eventType: `m.policy.rule.${kind}`,
    stateKey: `extra:${kind}:${i}`,
  });
  for (let i = 0; i < 2_000; i++)
    rules.push(extra("server", i % 10 === 0 ? `*.${d.word(5, 9)}.org` : `${d.word(5, 9)}.net`, i));
  for (let i = 0; i < 1_000; i++) rules.push(extra("room", `!${d.word(10, 18)}:${d.pickServer()}`, i));
  const matcher = new Matcher({ serverRulesApplyToUsers: false });
  matcher.addAll(rules);
  const config = configured();
  const live = new ProtectionPipeline({ botUserId: BOT, protections: BUILTIN_PROTECTIONS, config });
  const server = new ProtectionPipeline({ botUserId: BOT, protections: BUILTIN_PROTECTIONS, config });
  const protectedRooms = new Set(ROOMS);
  const knowledge: Knowledge = {
    botUserId: BOT,
    ownServer: "example.org",
    moderators: new Set(["@mod:example.org"]),
    isProtected: (r) => protectedRooms.has(r),
    decideUser: (u) => matcher.decideUser(u),
    decideServer: (s) => matcher.decideServer(s),
    decideRoom: (r) => matcher.decideRoom(r),
    flaggedBy: (room, user) => live.incidentOf(room, user, Date.now()),
  };
  const handler = new AntispamHandler({
    pathPrefix: PREFIX,
    whenNotReady: "allow",
    dryRun: false,
    auth: bearerSecret(SECRET),
    now: () => Date.now(),
  });
  handler.botUserId = BOT;
  handler.attach({
    ready: () => true,
    knowledge: () => knowledge,
    judgeEvent: (ev, now) =>
      server.handleRaw(ev.raw, ev.roomId, {}, now, (e) => enforcedAtServer(e.settings)),
    onRefusal: () => {},
  });
  const auth = bearerSecret(SECRET);
  const decisions: number[] = [];
  const timed = timedRoutes(handler.routes(), decisions);
  const listener = new HttpListener({
    name: "bench",
    bind: "127.0.0.1",
    port: 0,
    routes: [
      ...timed,
      // The baseline: same listener, same auth and JSON parsing, a handler that does nothing.
      {
        feature: "bench",
        method: "POST",
        path: "/_bench/noop",
        auth,
        body: "json",
        handler: () => ({ status: 200, body: {} }),
      },
    ],
    limits: { maxConnections: 1_024 },
    log: pino({ level: "silent" }),
  });
  const { port } = await listener.start();
  const users = makeChecks(d, rules, 20_000);
  const mix = requestMix(users, d.rand);
  const noop: [string, string][] = mix.map(([, body]) => ["/_bench/noop", body]);
  const headers = { "Content-Type": "application/json", Authorization: `Bearer ${SECRET}` };
  const job = (requests: LoadJob["requests"], durationMs = ROUND_MS): LoadJob => ({
    port,
    rate: RATE,
    durationMs,
    headers,
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
  const refused = a.reduce((n, r) => n + (r.statuses[403] ?? 0), 0);
  const total = a.reduce((n, r) => n + r.completed, 0);
  const errors = a.reduce((n, r) => n + r.errors + (r.statuses[500] ?? 0), 0);
  const shape = `${rules.length.toLocaleString("en")} rules; ${ROUNDS} rounds of ${ROUND_MS / 1000} s at ${RATE}/s; mix 45 % check_event_for_spam, 25 % user_may_invite, 10 % federated_user_may_invite, 17 % user_may_join_room, 3 % user_may_create_room; ${((100 * refused) / Math.max(1, total)).toFixed(1)} % refused, ${errors} errors; load ${loadavg()[0]!.toFixed(1)}`;
  return [
    {
      name: "antispam.p99_ms",
      value: Number(p99.toFixed(2)),
      unit: "ms",
      baseline: Number(p99Base.toFixed(2)),
      ratio: p99Base > 0 ? p99 / p99Base : undefined,
      note: `median of round p99s (p50 ${median(a.map((r) => r.p50)).toFixed(2)} ms, max ${Math.max(...a.map((r) => r.max)).toFixed(1)} ms); baseline = do-nothing handler, same listener; ${shape}`,
    },
    {
      name: "antispam.decision_p99_ms",
      value: Number(decisionP99.toFixed(3)),
      unit: "ms",
      note: `inside the handler (validation + decision, no HTTP), ${decisions.length.toLocaleString("en")} requests`,
    },
    {
      name: "antispam.requests_per_s",
      value: Math.round(reqs),
      unit: "req/s",
      baseline: Math.round(reqsBase),
      ratio: reqs / reqsBase,
      note: `offered ${RATE}/s (open loop); answered per second`,
    },
  ];
}
