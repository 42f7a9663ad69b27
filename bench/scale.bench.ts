// Scale benchmark (issue #16, "Measured at scale"): one process, 1,000 protected rooms, 100,000
// distinct members (300,000 memberships), 3 lists with 100,000 rules in total (1,000 of them
// MSC4205 hashed), fed as a generated /sync body through the same code the live bot runs: the
// sync Router, the policy feature (matcher, member index, reconciliation, plan) and the
// protections feature, with the real ConsequenceQueue (guard, dedupe, action log on disk).
// Only the network is replaced (bench/scaleStandIns.ts): the client answers locally and the
// executor counts the effects instead of sending them. Deterministic: seeded PRNG.
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Matcher } from "../src/banlists/matcher.ts";
import type { Rule } from "../src/banlists/rule.ts";
import type { RawEvent, SyncResponse } from "../src/matrix/syncTypes.ts";
import { RecentEvents } from "../src/matrix/recentEvents.ts";
import { PolicyFeature } from "../src/policy/feature.ts";
import { ProtectionsFeature } from "../src/protections/feature.ts";
import { PROTECTED_ROOMS_KEY, WATCHED_LISTS_KEY } from "../src/policy/settings.ts";
import type { BenchResult } from "./types.ts";
import { dataset, makeChecks, makeHashedRules, makeRules } from "./matcher.bench.ts";
import { BENCH_BOT, BENCH_MODERATOR, benchBot } from "./scaleStandIns.ts";
import { mulberry32 } from "../tests/harness/prng.ts";

const ROOMS = 1_000;
const MEMBERS = 100_000;
const ROOMS_PER_MEMBER = 3;
/** Members a rule bans (the rest are unlisted). */
const BANNED_MEMBERS = 2_000;
const HASHED = 1_000;
/** One-rule changes timed after start-up; the median is reported. */
const RULE_ROUNDS = 15;
const LISTS = ["!community:example.org", "!shared-a:example.org", "!shared-b:example.org"];
const MANAGEMENT = "!management:bench.example";

let eventSeq = 0;
function stateEvent(
  type: string,
  stateKey: string,
  content: Record<string, unknown>,
  sender = BENCH_BOT,
): RawEvent {
  return {
    type,
    state_key: stateKey,
    content,
    sender,
    event_id: `$e${(eventSeq++).toString(36)}`,
    origin_server_ts: 1,
  };
}

function ruleEvent(r: Rule): RawEvent {
  const content: Record<string, unknown> = {
    recommendation: r.recommendation === "takedown" ? "m.takedown" : "m.ban",
    reason: r.reason,
  };
  if (r.sha256 !== undefined) content["org.matrix.msc4205.hashes"] = { sha256: r.sha256 };
  else content.entity = r.entity;
  return stateEvent(r.eventType, r.stateKey, content, "@lister:example.org");
}

function roomState(creator: string, extra: RawEvent[]): RawEvent[] {
  return [
    stateEvent("m.room.create", "", { creator, room_version: "10" }, creator),
    stateEvent("m.room.member", BENCH_BOT, { membership: "join" }),
    stateEvent("m.room.power_levels", "", { users: { [BENCH_BOT]: 100 }, ban: 50, kick: 50, redact: 50 }),
    ...extra,
  ];
}

interface Scenario {
  body: SyncResponse;
  members: string[];
  /** Members no rule matches (the one-rule changes name them). */
  unlisted: string[];
  rules: number;
  memberships: number;
}

function scenario(): Scenario {
  const d = dataset(0x5ca1e);
  const rand = mulberry32(0x5ca1e);
  const base = makeRules(d);
  const pool = makeChecks(d, base, MEMBERS * 2, true);
  // Half of the hashed user rules name IDs of the pool, so some members are matched by hash only.
  const rules = [...makeHashedRules(d, pool, HASHED), ...base.slice(HASHED)];
  const m = new Matcher({ listOrder: LISTS });
  m.addAll(rules);
  const listed: string[] = [];
  const unlisted: string[] = [];
  for (const id of pool) (m.matchUser(id).length > 0 ? listed : unlisted).push(id);
  const members = [...listed.slice(0, BANNED_MEMBERS), ...unlisted.slice(0, MEMBERS - BANNED_MEMBERS)];

  const roomIds = Array.from({ length: ROOMS }, (_, i) => `!room${i}:bench.example`);
  const roomMembers: RawEvent[][] = roomIds.map(() => []);
  let memberships = 0;
  for (const user of members) {
    const picked = new Set<number>();
    while (picked.size < ROOMS_PER_MEMBER) picked.add(Math.floor(rand() * ROOMS));
    for (const i of picked) {
      roomMembers[i]!.push(stateEvent("m.room.member", user, { membership: "join" }, user));
      memberships++;
    }
  }
  const join: NonNullable<NonNullable<SyncResponse["rooms"]>["join"]> = {};
  join[MANAGEMENT] = {
    state: {
      events: roomState(BENCH_MODERATOR, [
        stateEvent("m.room.member", BENCH_MODERATOR, { membership: "join" }, BENCH_MODERATOR),
      ]),
    },
    timeline: { events: [] },
  };
  for (const list of LISTS) {
    join[list] = {
      state: {
        events: roomState("@lister:example.org", rules.filter((r) => r.list === list).map(ruleEvent)),
      },
      timeline: { events: [] },
    };
  }
  for (const [i, room] of roomIds.entries())
    join[room] = { state: { events: roomState(BENCH_MODERATOR, roomMembers[i]!) }, timeline: { events: [] } };
  const body: SyncResponse = {
    next_batch: "s1",
    account_data: {
      events: [
        { type: WATCHED_LISTS_KEY, content: { references: LISTS } },
        { type: PROTECTED_ROOMS_KEY, content: { rooms: roomIds } },
      ],
    },
    rooms: { join },
  };
  // Parsed from JSON, as a /sync response is (flat strings, no shared objects).
  return {
    body: JSON.parse(JSON.stringify(body)) as SyncResponse,
    members,
    unlisted: members.slice(BANNED_MEMBERS),
    rules: rules.length,
    memberships,
  };
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function run(): Promise<BenchResult[]> {
  const dataPath = mkdtempSync(join(tmpdir(), "tyr-scale-"));
  try {
    return await measure(dataPath);
  } finally {
    rmSync(dataPath, { recursive: true, force: true });
  }
}

async function measure(dataPath: string): Promise<BenchResult[]> {
  const load0 = loadavg()[0]!;
  const sc = scenario();
  const bot = benchBot({ dataPath, managementRoomId: MANAGEMENT });
  const recent = new RecentEvents();
  bot.router.subscribe(recent);
  const policy = new PolicyFeature(bot, recent);
  bot.router.subscribe(policy);
  const protections = new ProtectionsFeature(bot, { isProtected: (r) => policy.protectedRooms.has(r) });
  bot.router.subscribe(protections);
  await policy.start();
  await protections.start();

  // ---- start-up: first sync → every ban decided and counted by the executor ----
  const t0 = performance.now();
  await bot.router.handle(sc.body, { initial: true });
  await policy.settled();
  await bot.queue.idle();
  const settledS = (performance.now() - t0) / 1000;
  const startupS = (bot.executor.lastBanAt - t0) / 1000;
  const startupBans = bot.executor.count("ban");
  sc.body = {} as SyncResponse; // dropped before measuring memory
  if (!policy.loaded) throw new Error("policy feature did not load the lists");
  if (policy.protectedRooms.size !== ROOMS) throw new Error(`protected ${policy.protectedRooms.size} rooms`);
  const loadedRules = LISTS.reduce((n, l) => n + (policy.revision(l)?.size ?? 0), 0);
  if (loadedRules !== sc.rules) throw new Error(`${loadedRules} of ${sc.rules} rules loaded`);
  const joinTimes = protections.pipeline.stats().members ?? 0;
  gc();
  const mem = process.memoryUsage();
  const rssMb = mem.rss / 2 ** 20;
  const heapMb = (mem.heapUsed + mem.external) / 2 ** 20;

  // ---- one new literal user rule (a member in 3 rooms) → its bans decided ----
  let seq = 0;
  /** Time to the last ban counted (`ms`) and until the reconciliation returned (`settledMs`). */
  const sendRule = async (entity: string): Promise<void> => {
    const ev = stateEvent(
      "m.policy.rule.user",
      `bench-new:${seq++}`,
      { entity, recommendation: "m.ban", reason: "bench" },
      "@lister:example.org",
    );
    const batch: SyncResponse = {
      next_batch: `s${seq + 1}`,
      rooms: { join: { [LISTS[0]!]: { timeline: { events: [ev] } } } },
    };
    await bot.router.handle(batch, { initial: false, since: `s${seq}` });
  };
  const newRule = async (entity: string): Promise<{ ms: number; settledMs: number; bans: number }> => {
    const before = bot.executor.count("ban");
    const t = performance.now();
    await sendRule(entity);
    await policy.settled();
    await bot.queue.idle();
    const settledMs = performance.now() - t;
    return { ms: bot.executor.lastBanAt - t, settledMs, bans: bot.executor.count("ban") - before };
  };
  const ruleMs: number[] = [];
  const ruleSettledMs: number[] = [];
  for (let i = 0; i < RULE_ROUNDS; i++) {
    const r = await newRule(sc.unlisted[i]!);
    if (r.bans !== ROOMS_PER_MEMBER) throw new Error(`a new user rule banned in ${r.bans} rooms, expected 3`);
    ruleMs.push(r.ms);
    ruleSettledMs.push(r.settledMs);
  }

  // ---- one `@*:server` rule against every member: the 10th biggest server of the unlisted ----
  const servers = new Map<string, number>();
  for (const u of sc.members) {
    const s = u.slice(u.indexOf(":") + 1);
    servers.set(s, (servers.get(s) ?? 0) + 1);
  }
  const [server, onServer] = [...servers].sort((a, b) => b[1] - a[1])[9]!;
  const glob = await newRule(`@*:${server}`);

  // ---- a user rule arriving right behind another big rule (reconciliations run one at a time) ----
  const [server2] = [...servers].sort((a, b) => b[1] - a[1])[10]!;
  const behind = sc.unlisted.find((u) => !u.endsWith(`:${server2}`) && !bot.executor.bansOf.has(u))!;
  await sendRule(`@*:${server2}`);
  const tBehind = performance.now();
  await sendRule(behind);
  while ((bot.executor.bansOf.get(behind) ?? 0) < ROOMS_PER_MEMBER)
    await new Promise((r) => setTimeout(r, 1));
  const behindMs = performance.now() - tBehind;
  await policy.settled();
  const load1 = loadavg()[0]!;

  const load = `load ${load0.toFixed(1)}→${load1.toFixed(1)}`;
  const shape = `${ROOMS.toLocaleString("en")} rooms, ${sc.members.length.toLocaleString("en")} members (${sc.memberships.toLocaleString("en")} memberships), ${sc.rules.toLocaleString("en")} rules (${HASHED} hashed) in 3 lists`;
  return [
    {
      name: "scale.startup_s",
      value: round(startupS, 2),
      unit: "s",
      note: `${shape}; first sync → last of ${startupBans.toLocaleString("en")} bans counted, ${joinTimes.toLocaleString("en")} join times kept by protections (reconciliation returned at ${round(settledS, 2)} s); ${load}`,
    },
    {
      name: "scale.rss_mb",
      value: round(rssMb, 0),
      unit: "MB",
      note: `after start-up${(globalThis as { gc?: unknown }).gc ? ", after gc" : " (no --expose-gc)"}, sync body dropped; whole process (JS heap in use + external: ${round(heapMb, 0)} MB)`,
    },
    {
      name: "scale.rule_to_decisions_ms",
      value: round(median(ruleMs), 2),
      unit: "ms",
      note: `median of ${RULE_ROUNDS}: one new user rule → bans in its 3 rooms counted (max ${round(Math.max(...ruleMs), 1)} ms; reconciliation returned: median ${round(median(ruleSettledMs), 1)} ms)`,
    },
    {
      name: "scale.rule_behind_batch_ms",
      value: round(behindMs, 1),
      unit: "ms",
      note: `one new user rule handed to the router right after @*:${server2}: until its 3 bans are counted`,
    },
    {
      name: "scale.glob_rule_ms",
      value: round(glob.ms, 1),
      unit: "ms",
      note: `@*:${server} (${onServer.toLocaleString("en")} members on it) → last of ${glob.bans.toLocaleString("en")} bans counted (reconciliation returned at ${round(glob.settledMs, 0)} ms)`,
    },
  ];
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
