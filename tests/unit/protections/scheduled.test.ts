import { afterEach, describe, expect, it } from "vitest";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { pino } from "pino";
import {
  MAX_ATTEMPTS,
  RETRY_AFTER_MS,
  SCHEDULE_FILE,
  ScheduleStore,
  ScheduledConsequences,
  dueEntries,
  parseSchedule,
  scheduleKey,
  upsertEntry,
  type MuteConsequence,
  type ScheduledEntry,
} from "../../../src/consequences/scheduled.ts";
import type { Result } from "../../../src/consequences/queue.ts";
import type { Consequence } from "../../../src/consequences/types.ts";

const log = pino({ level: "silent" });
const cause = { by: "protection", name: "flooding" } as const;
const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "tyr-sched-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const unmute = (user: string, restoreLevel?: number): Consequence => ({
  kind: "unmute",
  room: "!r:x",
  user,
  ...(restoreLevel !== undefined ? { restoreLevel } : {}),
  reason: "mute expired",
  cause,
});
const entry = (c: Consequence, at: number): ScheduledEntry => ({
  key: scheduleKey(c),
  at,
  consequence: c,
  attempts: 0,
});

describe("schedule file", () => {
  it("round-trips entries", () => {
    const store = new ScheduleStore(tempDir());
    expect(store.load()).toEqual({ entries: [], problems: [] }); // no file yet
    const entries = [entry(unmute("@a:x", 0), 1_000), entry(unmute("@b:x"), 2_000)];
    store.save(entries);
    expect(store.load()).toEqual({ entries, problems: [] });
  });

  it("moves a corrupt file aside and starts empty", () => {
    const dir = tempDir();
    writeFileSync(join(dir, SCHEDULE_FILE), '{"version":1,"entries":[{"at":');
    const r = new ScheduleStore(dir).load(42);
    expect(r.entries).toEqual([]);
    expect(r.problems[0]).toMatch(/cannot read .*moved to .*corrupt-42/);
    expect(readdirSync(dir)).toEqual([`${SCHEDULE_FILE}.corrupt-42`]);
  });

  it("drops bad entries with a reason and keeps the good ones", () => {
    const good = { at: 5, consequence: unmute("@a:x", 10) };
    const r = parseSchedule({
      version: 1,
      entries: [
        good,
        null,
        { at: "soon", consequence: unmute("@b:x") },
        { at: 1, consequence: { kind: "explode", cause } },
        { at: 1, consequence: { kind: "ban", room: "!r:x", user: "@c:x", reason: "x" } }, // no cause
        { at: 1, consequence: { ...unmute("@d:x"), restoreLevel: "100" } },
        { at: 9, consequence: unmute("@a:x", 10) }, // duplicate key
      ],
    });
    expect(r.entries).toEqual([
      { key: "unmute|!r:x|@a:x", at: 5, consequence: good.consequence, attempts: 0 },
    ]);
    expect(r.problems).toHaveLength(6);
    expect(r.problems.join("\n")).toMatch(/unknown kind "explode"/);
    expect(parseSchedule([1, 2]).problems[0]).toMatch(/expected/);
  });

  it("re-scheduling an unmute keeps the level from before the first mute", () => {
    let list = upsertEntry([], entry(unmute("@a:x", 25), 1_000));
    list = upsertEntry(list, entry(unmute("@a:x", -1), 5_000)); // level read while already muted
    expect(list).toHaveLength(1);
    expect(list[0]!.at).toBe(5_000);
    expect(list[0]!.consequence).toMatchObject({ kind: "unmute", restoreLevel: 25 });
    // no explicit level before the first mute → none after a second one either
    let l2 = upsertEntry([], entry(unmute("@b:x"), 1));
    l2 = upsertEntry(l2, entry(unmute("@b:x", -1), 2));
    expect(l2[0]!.consequence).not.toHaveProperty("restoreLevel");
    expect(dueEntries([...list, ...l2], 4_999).map((e) => e.at)).toEqual([2]);
  });
});

class FakeQueue {
  submitted: Consequence[] = [];
  outcome: Result["outcome"] = "done";
  submit(c: Consequence): Promise<Result> {
    this.submitted.push(c);
    return Promise.resolve({ outcome: this.outcome });
  }
}

describe("ScheduledConsequences", () => {
  const mute: MuteConsequence = {
    kind: "mute",
    room: "!r:x",
    user: "@spam:x",
    durationMs: 60_000,
    reason: "flooding",
    cause,
  };

  it("a timed mute schedules the unmute with the previous level; it fires when due, across a restart", async () => {
    const dir = tempDir();
    let now = 1_000_000;
    const queue = new FakeQueue();
    const s = new ScheduledConsequences({ dataPath: dir, queue, log, now: () => now, levelOf: () => 7 });
    await s.submitMute(mute);
    expect(s.pending()).toMatchObject([{ at: 1_060_000, consequence: { kind: "unmute", restoreLevel: 7 } }]);
    expect(await s.fireDue()).toBe(0);

    // "restart": a new instance reads the file
    now = 1_060_000;
    const queue2 = new FakeQueue();
    const s2 = new ScheduledConsequences({ dataPath: dir, queue: queue2, log, now: () => now });
    expect(await s2.fireDue()).toBe(1);
    expect(queue2.submitted).toEqual([
      {
        kind: "unmute",
        room: "!r:x",
        user: "@spam:x",
        restoreLevel: 7,
        reason: "mute expired (flooding)",
        cause,
      },
    ]);
    expect(s2.pending()).toEqual([]);
    expect(JSON.parse(readFileSync(join(dir, SCHEDULE_FILE), "utf8"))).toEqual({ version: 1, entries: [] });
  });

  it("schedules nothing for a mute that was not carried out, or has no duration", async () => {
    const queue = new FakeQueue();
    const s = new ScheduledConsequences({ dataPath: tempDir(), queue, log });
    queue.outcome = "dry-run";
    await s.submitMute(mute);
    queue.outcome = "failed";
    await s.submitMute(mute);
    queue.outcome = "done";
    const { durationMs: _d, ...forever } = mute;
    await s.submitMute(forever);
    expect(s.pending()).toEqual([]);
  });

  it("retries a failed entry later, then gives up", async () => {
    let now = 0;
    const queue = new FakeQueue();
    queue.outcome = "failed";
    const s = new ScheduledConsequences({ dataPath: tempDir(), queue, log, now: () => now });
    s.scheduleConsequence(0, unmute("@a:x"));
    for (let i = 1; i < MAX_ATTEMPTS; i++) {
      expect(await s.fireDue()).toBe(1);
      expect(s.pending()).toMatchObject([{ attempts: i, at: now + RETRY_AFTER_MS }]);
      now += RETRY_AFTER_MS;
    }
    expect(await s.fireDue()).toBe(1);
    expect(s.pending()).toEqual([]);
    expect(queue.submitted).toHaveLength(MAX_ATTEMPTS);
  });

  it("cancel removes an entry by key", () => {
    const s = new ScheduledConsequences({ dataPath: tempDir(), queue: new FakeQueue(), log });
    const e = s.scheduleConsequence(10, unmute("@a:x"));
    expect(s.cancel(e.key)).toBe(true);
    expect(s.cancel(e.key)).toBe(false);
    expect(s.pending()).toEqual([]);
  });
});
