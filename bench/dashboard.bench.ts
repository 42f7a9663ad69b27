// Action-log searches for the dashboard (issue #17): 100,000 records in the SQLite action log,
// each filter the dashboard offers (entity, room, moderator, cause, kind, time range, free text,
// a combination, a deep page) answered newest-first, one page of 50 plus its match count.
// `dashboard.search_ms` is the slowest filter's median. Yardstick in the same process: the same
// searches as a scan over the records in memory (what the JSON-lines log did for `log <about>`).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ActionLog, type ActionRecord } from "../src/store/actionLog.ts";
import { causeOfActor, type ActionSearch } from "../src/store/actionQuery.ts";
import { mulberry32 } from "../tests/harness/prng.ts";
import type { BenchResult } from "./types.ts";

const RECORDS = 100_000;
const PAGE = 50;
const RUNS = 7;
const T0 = Date.UTC(2026, 0, 1);

function makeRecords(n: number): ActionRecord[] {
  const rnd = mulberry32(0xda5);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const rooms = Array.from({ length: 200 }, (_, i) => `!room${i}:example.org`);
  const mods = Array.from({ length: 12 }, (_, i) => `@mod${i}:example.org`);
  const actors = [
    ...mods,
    "policy !banlist:example.org",
    "protection flooding",
    "protection mentions",
    "tyr (antispam)",
  ];
  const kinds = [
    "ban",
    "ban",
    "ban",
    "kick",
    "redact",
    "redact",
    "mute",
    "unban",
    "setAcl",
    "refuse",
    "notify",
  ];
  return Array.from({ length: n }, (_, i) => ({
    ts: T0 + i * 30_000,
    kind: pick(kinds) as ActionRecord["kind"],
    room: pick(rooms),
    target: `@user${Math.floor(rnd() * 40_000)}:${pick(["spam.example", "evil.org", "matrix.org"])}`,
    actor: pick(actors),
    reason: pick(["spam", "flooding the room", "ban evasion", "crypto scam links", "harassment"]),
    outcome: rnd() < 0.95 ? "done" : "failed",
  }));
}

const searches: [string, Omit<ActionSearch, "limit">][] = [
  ["newest", {}],
  ["entity", { entity: "@USER1234:evil.org" }],
  ["room", { room: "!room17:example.org" }],
  ["moderator", { actor: "@mod3:example.org" }],
  ["cause", { cause: "protection" }],
  ["kind", { kind: "kick" }],
  ["time", { since: T0 + 1_000_000_000, until: T0 + 1_500_000_000 }],
  ["text", { text: "scam" }],
  ["text-rare", { text: "user31415" }],
  ["combined", { room: "!room5:example.org", cause: "moderator", kind: "ban", text: "evasion" }],
  ["no-match", { entity: "@nobody:nowhere.example" }],
  // What `!tyr log <about>` asks: a substring of target, room, actor or list (or a report key).
  ["log-about", { about: "!room17:example" }],
];

/** The in-memory scan the yardstick runs: same filters, newest first. */
function scan(
  records: readonly ActionRecord[],
  s: Omit<ActionSearch, "limit">,
): { page: ActionRecord[]; n: number } {
  const page: ActionRecord[] = [];
  let n = 0;
  const lc = (x: string | undefined) => x?.toLowerCase();
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i]!;
    if (s.entity !== undefined && lc(r.target) !== lc(s.entity)) continue;
    if (s.room !== undefined && r.room !== s.room) continue;
    if (s.actor !== undefined && lc(r.actor) !== lc(s.actor)) continue;
    if (s.cause !== undefined && causeOfActor(r.actor) !== s.cause) continue;
    if (s.kind !== undefined && r.kind !== s.kind) continue;
    if (s.since !== undefined && r.ts < s.since) continue;
    if (s.until !== undefined && r.ts >= s.until) continue;
    const a = lc(s.about);
    if (
      a !== undefined &&
      lc(r.report) !== a &&
      ![r.target, r.room, r.actor, r.list].some((f) => lc(f)?.includes(a))
    )
      continue;
    const t = lc(s.text);
    if (
      t !== undefined &&
      ![r.target, r.room, r.actor, r.list, r.reason, r.detail].some((f) => lc(f)?.includes(t))
    )
      continue;
    n++;
    if (page.length < PAGE) page.push(r);
  }
  return { page, n };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export async function run(): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), "tyr-bench-dash-"));
  const records = makeRecords(RECORDS);
  const log = new ActionLog(dir);
  const t0 = performance.now();
  for (const r of records) log.append(r);
  const fillMs = performance.now() - t0;
  // A deep page: the cursor after 20 pages of the broadest search.
  let before = 0;
  for (let i = 0, page = log.search({ limit: PAGE }); i < 20; i++, page = log.search({ before, limit: PAGE }))
    before = page.at(-1)!.id;
  searches.push(["page-21", { before }]);
  // Right after a bulk load nothing is in the free-text index yet (it is filled behind the
  // writes): the worst case, every text search by LIKE. Then the steady state, once it caught up.
  const unindexed = timeSearches(log, records);
  const t1 = performance.now();
  while (log.indexBacklog() > 0) await new Promise((r) => setImmediate(r));
  const catchUpMs = performance.now() - t1;
  const per = timeSearches(log, records);
  log.close();
  rmSync(dir, { recursive: true, force: true });
  const worst = per.reduce((a, b) => (b.ms > a.ms ? b : a));
  const worstScan = Math.max(...per.map((p) => p.scanMs));
  const worstUnindexed = unindexed.reduce((a, b) => (b.ms > a.ms ? b : a));
  return [
    {
      name: "dashboard.search_ms",
      value: worst.ms,
      unit: "ms",
      baseline: worstScan,
      ratio: worstScan / worst.ms,
      note: `slowest of ${per.length} searches (${worst.name}) over ${RECORDS.toLocaleString("en-US")} records, page of ${PAGE} + count; baseline: in-memory scan. ${per.map((p) => `${p.name} ${p.ms.toFixed(1)}`).join(", ")}`,
    },
    {
      name: "dashboard.search_unindexed_ms",
      value: worstUnindexed.ms,
      unit: "ms",
      baseline: Math.max(...unindexed.map((p) => p.scanMs)),
      ratio: Math.max(...unindexed.map((p) => p.scanMs)) / worstUnindexed.ms,
      note: `the same searches before the free-text index caught up (text by LIKE): slowest ${worstUnindexed.name}; the index caught up with ${RECORDS.toLocaleString("en-US")} records in ${(catchUpMs / 1000).toFixed(1)} s of slices`,
    },
    {
      name: "dashboard.append_us",
      value: (fillMs * 1000) / RECORDS,
      unit: "µs",
      note: "one append (SQLite, WAL; the free-text index is filled behind the writes)",
    },
  ];
}

function timeSearches(
  log: ActionLog,
  records: readonly ActionRecord[],
): { name: string; ms: number; scanMs: number }[] {
  const per: { name: string; ms: number; scanMs: number }[] = [];
  for (const [name, s] of searches) {
    const sql: number[] = [];
    const mem: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      let t = performance.now();
      const page = log.search({ ...s, limit: PAGE });
      const { before: _b, ...countable } = s;
      const n = log.countMatches(countable);
      sql.push(performance.now() - t);
      t = performance.now();
      const ref = scan(records, s);
      mem.push(performance.now() - t);
      // Both must agree on the first page (the `before` search pages by id, which the scan lacks).
      if (
        s.before === undefined &&
        (page.length !== ref.page.length || Math.min(n, 10_000) !== Math.min(ref.n, 10_000))
      )
        throw new Error(
          `dashboard bench: ${name} answers ${page.length}/${n}, the scan ${ref.page.length}/${ref.n}`,
        );
    }
    per.push({ name, ms: median(sql), scanMs: median(mem) });
  }
  return per;
}
