// The SQLite action log: import of the old JSON-lines file without losing a record, searches by
// every filter the dashboard offers, keyset paging, and the query builder's escaping.
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { describe, expect, it } from "vitest";
import { ActionLog, type ActionRecord } from "../../../src/store/actionLog.ts";
import { buildSearch, causeOfActor, ftsPhrase, likePattern } from "../../../src/store/actionQuery.ts";

const dir = () => mkdtempSync(join(tmpdir(), "tyr-alog-"));

const rec = (i: number, over: Partial<ActionRecord> = {}): ActionRecord => ({
  ts: 1_700_000_000_000 + i * 1000,
  kind: i % 3 === 0 ? "ban" : i % 3 === 1 ? "redact" : "kick",
  room: `!room${i % 5}:example.org`,
  target: `@user${i}:spam.example`,
  actor: i % 2 === 0 ? "@mod:example.org" : "protection flooding",
  reason: `reason number ${i}`,
  outcome: "done",
  ...over,
});

describe("action log import from JSON lines", () => {
  it("imports every record of the old file once, keeps bans in force, and keeps the file", () => {
    const d = dir();
    const lines = Array.from({ length: 250 }, (_, i) => JSON.stringify(rec(i)));
    lines.push(
      JSON.stringify({ ...rec(999), kind: "ban", target: "@p:x", ruleKey: "!l|user|k", room: "!r:x" }),
    );
    lines.push('{"torn": tr'); // a torn last line after a crash
    writeFileSync(join(d, "action-log.jsonl"), lines.join("\n"));
    const log = new ActionLog(d);
    expect(log.size).toBe(251);
    expect(log.policyBansOf("@p:x").get("!r:x")).toBe("!l|user|k");
    expect(log.query({ limit: 1 })[0]?.target).toBe("@p:x");
    expect(existsSync(join(d, "action-log.jsonl"))).toBe(false);
    expect(existsSync(join(d, "action-log.jsonl.imported"))).toBe(true);
    log.close();
    // A second start imports nothing again, even if the old file came back.
    writeFileSync(join(d, "action-log.jsonl"), lines.slice(0, 10).join("\n"));
    const again = new ActionLog(d);
    expect(again.size).toBe(251);
    again.close();
  });
});

describe("action log batching", () => {
  it("commits one event-loop turn's appends together: on disk after the turn, visible at once", async () => {
    const d = dir();
    const log = new ActionLog(d);
    for (let i = 0; i < 50; i++) log.append(rec(i));
    expect(log.size).toBe(50);
    expect(log.search({ limit: 100 }).length).toBe(50); // same connection: already visible
    await new Promise((r) => setImmediate(r));
    const { DatabaseSync } = await import("node:sqlite");
    const raw = new DatabaseSync(join(d, "action-log.sqlite"));
    expect(raw.prepare("SELECT count(*) AS n FROM actions").get()).toEqual({ n: 50 });
    raw.close();
    log.close();
  });
});

describe("action log free-text index, filled behind the writes", () => {
  const turn = () => new Promise((r) => setImmediate(r));
  /** `fts_upto`, after FTS5's own consistency check (against the table too once caught up). */
  const indexState = (d: string) => {
    const db = new DatabaseSync(join(d, "action-log.sqlite"));
    try {
      const upto = Number(
        (db.prepare("SELECT value FROM meta WHERE key = 'fts_upto'").get() as { value: string }).value,
      );
      const last = Number((db.prepare("SELECT max(id) AS n FROM actions").get() as { n: number }).n);
      const againstTable = upto === last ? 1 : 0;
      db.exec(`INSERT INTO actions_fts (actions_fts, rank) VALUES ('integrity-check', ${againstTable})`);
      return upto;
    } finally {
      db.close();
    }
  };

  it("does not index in the append itself; finds new records by text at once, and catches up", async () => {
    const d = dir();
    const log = new ActionLog(d);
    for (let i = 0; i < 1_000; i++) log.append(rec(i));
    // Same turn: nothing indexed yet, and the newest records are still found (by LIKE).
    expect(log.search({ text: "user999:spam", limit: 5 }).map((r) => r.target)).toEqual([
      "@user999:spam.example",
    ]);
    expect(log.query({ about: "user998:spam" }).map((r) => r.target)).toEqual(["@user998:spam.example"]);
    expect(log.countMatches({ text: "spam.example" })).toBe(1_000);
    for (let i = 0; i < 20; i++) await turn();
    expect(indexState(d)).toBe(1_000);
    expect(log.search({ text: "user999:spam", limit: 5 }).map((r) => r.target)).toEqual([
      "@user999:spam.example",
    ]);
    expect(log.countMatches({ text: "spam.example" })).toBe(1_000);
    log.close();
  });

  it("trims records the index has not reached without damaging it, and resumes after a restart", async () => {
    const d = dir();
    const log = new ActionLog(d, { maxRecords: 600 });
    for (let i = 0; i < 300; i++) log.append(rec(i));
    for (let i = 0; i < 10; i++) await turn(); // these are indexed
    for (let i = 300; i < 700; i++) log.append(rec(i)); // these are not yet, and trigger a trim
    log.close(); // stopped before the index caught up
    expect(indexState(d)).toBeLessThan(700);
    const again = new ActionLog(d, { maxRecords: 600 });
    for (let i = 0; i < 20; i++) await turn();
    expect(indexState(d)).toBe(700);
    expect(again.search({ text: "user650:spam", limit: 5 }).map((r) => r.target)).toEqual([
      "@user650:spam.example",
    ]);
    expect(again.search({ text: "user10:spam", limit: 5 })).toEqual([]); // trimmed
    again.close();
  });

  it("opens a log written with the old insert trigger (all indexed) without indexing it twice", async () => {
    const d = dir();
    const log = new ActionLog(d);
    for (let i = 0; i < 50; i++) log.append(rec(i));
    log.close();
    // The shape of a log from before: an insert trigger and no `fts_upto`.
    const db = new DatabaseSync(join(d, "action-log.sqlite"));
    db.exec("DELETE FROM meta WHERE key = 'fts_upto'");
    db.exec(`CREATE TRIGGER actions_fts_insert AFTER INSERT ON actions BEGIN
      INSERT INTO actions_fts (rowid, target, room, actor, list, reason, detail)
      VALUES (new.id, new.target, new.room, new.actor, new.list, new.reason, new.detail); END;`);
    db.exec("INSERT INTO actions_fts (actions_fts) VALUES ('rebuild')");
    db.close();
    const reopened = new ActionLog(d);
    for (let i = 0; i < 5; i++) await turn();
    expect(indexState(d)).toBe(50);
    expect(reopened.countMatches({ text: "spam.example" })).toBe(50);
    reopened.close();
  });
});

describe("action log searches", () => {
  const d = dir();
  const log = new ActionLog(d);
  for (let i = 0; i < 300; i++) log.append(rec(i));
  log.append(rec(300, { target: "@Mixed:Case.example", reason: "100% off_sale", via: "dashboard" }));

  it("filters by entity (any case), room, actor, cause, kind, time and text, newest first", () => {
    expect(log.search({ entity: "@mixed:case.EXAMPLE", limit: 10 }).map((r) => r.via)).toEqual(["dashboard"]);
    const inRoom = log.search({ room: "!room1:example.org", limit: 500 });
    expect(inRoom.length).toBe(60);
    expect(inRoom.every((r) => r.room === "!room1:example.org")).toBe(true);
    expect(inRoom[0]!.ts).toBeGreaterThan(inRoom[1]!.ts);
    expect(log.search({ cause: "protection", limit: 500 }).length).toBe(150);
    expect(log.search({ actor: "@MOD:example.org", kind: "ban", limit: 500 }).length).toBe(
      Array.from({ length: 301 }, (_, i) => i).filter((i) => i % 2 === 0 && i % 3 === 0).length,
    );
    const t0 = 1_700_000_000_000;
    expect(log.search({ since: t0 + 10_000, until: t0 + 20_000, limit: 500 }).length).toBe(10);
    expect(log.search({ text: "number 29", limit: 500 }).map((r) => r.target)).toEqual(
      ["@user299:spam.example", "@user298:spam.example", "@user297:spam.example", "@user296:spam.example"]
        .concat(["@user295:spam.example", "@user294:spam.example", "@user293:spam.example"])
        .concat(["@user292:spam.example", "@user291:spam.example", "@user290:spam.example"])
        .concat(["@user29:spam.example"]),
    );
    // Short needles (below a trigram) and LIKE's own characters are matched literally.
    expect(log.search({ text: "%", limit: 10 }).length).toBe(1);
    expect(log.search({ text: "f_s", limit: 10 }).length).toBe(1);
    expect(log.search({ text: '"quoted" OR x', limit: 10 })).toEqual([]);
    expect(log.countMatches({ cause: "moderator" })).toBe(151);
  });

  it("answers any search text, even one FTS5 cannot parse (a NUL ends its query string), without throwing", () => {
    for (const text of [
      "\u0000number 29\u0000",
      "num\u0000ber",
      "\u0000",
      'a"\u0000"b',
      "NEAR(abc def)",
      "abc*",
    ])
      for (const s of [{ text }, { about: text }]) {
        expect(() => log.search({ ...s, limit: 10 }), JSON.stringify(s)).not.toThrow();
        expect(() => log.countMatches(s), JSON.stringify(s)).not.toThrow();
      }
    expect(log.search({ text: "NEAR(abc def)", limit: 10 })).toEqual([]);
  });

  it("counts actions per whole time bucket and cause, for the charts", () => {
    const t0 = 1_700_000_000_000;
    const rows = log.histogram(t0, 100_000);
    expect(rows.every((r) => Number.isInteger(r.bucket))).toBe(true);
    expect(rows.filter((r) => r.bucket === 0).reduce((a, r) => a + r.n, 0)).toBe(100);
  });

  it("pages without gaps or repeats with the `before` cursor", () => {
    const seen: number[] = [];
    let before: number | undefined;
    for (;;) {
      const page = log.search({ room: "!room2:example.org", limit: 7, ...(before ? { before } : {}) });
      if (page.length === 0) break;
      seen.push(...page.map((r) => r.id));
      before = page.at(-1)!.id;
    }
    expect(seen.length).toBe(60);
    expect(new Set(seen).size).toBe(60);
  });

  it("keeps `log <about>` semantics: substring of target, room, actor or list, not reason", () => {
    expect(log.query({ about: "USER12:", limit: 5 }).map((r) => r.target)).toEqual(["@user12:spam.example"]);
    expect(log.query({ about: "number", limit: 5 })).toEqual([]);
    expect(log.query({ about: "!room4", limit: 500 }).length).toBe(60);
  });

  it("finds the actions that answered a report by its exact key", () => {
    log.append(rec(400, { report: "event-12" }));
    log.append(rec(401, { report: "event-123" }));
    expect(log.query({ about: "EVENT-12" }).map((r) => r.report)).toEqual(["event-12"]);
    expect(log.query({ about: "e-1" }).map((r) => r.report)).toEqual([]);
  });

  it("remembers redactions across a restart", () => {
    expect(log.wasRedacted("@user1:spam.example")).toBe(true);
    expect(log.wasRedacted("@user0:spam.example")).toBe(false);
    expect(new ActionLog(d).wasRedacted("@user4:spam.example")).toBe(true);
  });
});

describe("action query building", () => {
  it("binds every value and escapes FTS phrases and LIKE patterns", () => {
    const q = buildSearch({ entity: "x'; DROP TABLE actions; --", text: 'a"b', limit: 5 });
    expect(q.sql).not.toContain("DROP");
    expect(q.params).toContain("x'; DROP TABLE actions; --");
    expect(ftsPhrase('a"b')).toBe('"a""b"');
    expect(ftsPhrase("x", ["target"])).toBe('{target} : "x"');
    expect(likePattern("50%_\\")).toBe("%50\\%\\_\\\\%");
  });

  it("names the cause from the actor", () => {
    expect(causeOfActor("policy !l:x")).toBe("policy");
    expect(causeOfActor("protection flooding")).toBe("protection");
    expect(causeOfActor("@mod:x")).toBe("moderator");
    expect(causeOfActor("tyr (antispam)")).toBe("system");
  });
});
