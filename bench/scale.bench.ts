// Scale benchmark (issue #16, "Measured at scale"): one process, 1,000 protected rooms, 100,000
// distinct members (300,000 memberships), 3 lists with 100,000 rules in total (1,000 of them
// MSC4205 hashed), fed as a generated /sync body through the same code the live bot runs: the
// sync Router, the policy feature (matcher, member index, reconciliation, plan) and the
// protections feature, with the real ConsequenceQueue (guard, dedupe, action log on disk).
// Only the network is replaced (bench/scaleStandIns.ts): the client answers locally and the
// executor counts the effects instead of sending them. The /sync body comes from
// bench/scaleSync.ts, parsed from JSON text. Deterministic: seeded PRNG.
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import type { SyncResponse } from "../src/matrix/syncTypes.ts";
import { RecentEvents } from "../src/matrix/recentEvents.ts";
import { PolicyFeature } from "../src/policy/feature.ts";
import { ProtectionsFeature } from "../src/protections/feature.ts";
import type { BenchResult } from "./types.ts";
import { benchBot } from "./scaleStandIns.ts";
import { compactHeap } from "../src/util/heap.ts";
import {
  generateScenario,
  HASHED,
  LISTS,
  MANAGEMENT,
  ROOMS,
  ROOMS_PER_MEMBER,
  stateEvent,
} from "./scaleSync.ts";

/** One-rule changes timed after start-up; the median is reported. */
const RULE_ROUNDS = 15;

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
  const sc = generateScenario();
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
  const compaction = compactHeap(); // as src/bot.ts does after the first batch of a run
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
      note: `${shape}; first sync → last of ${startupBans.toLocaleString("en")} bans counted, ${joinTimes.toLocaleString("en")} join times in the protections' own store (live joins only; members' join times come from room state) (reconciliation returned at ${round(settledS, 2)} s); ${load}`,
    },
    {
      name: "scale.rss_mb",
      value: round(rssMb, 0),
      unit: "MB",
      note: `after start-up${(globalThis as { gc?: unknown }).gc ? ", after gc" : " (no --expose-gc)"}, sync body dropped; whole process (JS heap in use + external: ${round(heapMb, 0)} MB); ${compaction ? `the bot's compaction after the first sync: ${compaction.rssBeforeMb} → ${compaction.rssAfterMb} MB in ${compaction.ms} ms` : "no compaction (gc unavailable)"}; peak RSS of the bench process ${round(process.resourceUsage().maxRSS / 1024, 0)} MB (generating the sync body included)`,
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
