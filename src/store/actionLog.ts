// The action log: every consequence Tyr executed (or refused, or only simulated), with who or what
// caused it. Kept in SQLite (node:sqlite, no native addon) so months of actions stay searchable
// (the dashboard, `log`); indexes for the searches in actionQuery.ts. Bounded: past `maxRecords`
// the oldest half goes, except what is still in force. Also the memory of "which bans did rule R
// cause", so unban can lift exactly those. The JSON-lines file of earlier versions is imported on
// first start (and kept, renamed, beside the database).
import { existsSync, readFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { Cause, Consequence } from "../consequences/types.ts";
import { buildCount, buildSearch, causeOfActor, type ActionSearch } from "./actionQuery.ts";

export type Outcome = "done" | "failed" | "skipped" | "dry-run";

export interface ActionRecord {
  ts: number;
  /** What was done; "refuse": the homeserver refused a request on Tyr's answer (src/antispam/);
   *  "command": a change a moderator made from the dashboard (the command is the reason). */
  kind: Consequence["kind"] | "refuse" | "command";
  room?: string;
  target?: string;
  reason?: string;
  actor: string;
  /** Policy list and rule identity, for policy-caused actions. */
  list?: string;
  ruleKey?: string;
  outcome: Outcome;
  detail?: string;
  /** Where a moderator's action was asked for, when not in chat ("dashboard"). */
  via?: string;
  /** The abuse report this action answered (src/reports/), e.g. "event-12". */
  report?: string;
}

export function actorOf(cause: Cause): string {
  switch (cause.by) {
    case "policy":
      return `policy ${cause.rule.list}`;
    case "protection":
      return `protection ${cause.name}`;
    case "moderator":
      return cause.user;
    case "system":
      return `tyr (${cause.what})`;
  }
}

/** Identity of a rule across edits of its content: list + kind + state key. */
export function ruleKey(rule: { list: string; kind: string; stateKey: string }): string {
  return `${rule.list}|${rule.kind}|${rule.stateKey}`;
}

export function toRecord(c: Consequence, outcome: Outcome, detail?: string, ts = Date.now()): ActionRecord {
  const rec: ActionRecord = { ts, kind: c.kind, actor: actorOf(c.cause), outcome };
  if ("room" in c) rec.room = c.room;
  if ("user" in c) rec.target = c.user;
  if (c.kind === "redact") rec.target = c.event;
  if (c.kind === "setState") rec.target = c.target ?? `${c.eventType} ${c.stateKey}`;
  if (c.kind === "quarantineMedia") {
    rec.target = c.target.id;
    if (c.target.scope === "room") rec.room = c.target.id;
  }
  if ("reason" in c && c.reason) rec.reason = c.reason;
  if (c.cause.by === "moderator" && c.cause.via !== undefined) rec.via = c.cause.via;
  if (c.cause.by === "policy") {
    rec.list = c.cause.rule.list;
    rec.ruleKey = ruleKey(c.cause.rule);
  }
  if (detail) rec.detail = detail;
  if (c.cause.by === "moderator" && c.cause.report !== undefined) rec.report = c.cause.report;
  return rec;
}

/** One stored record: its row id orders the log (newer is larger) and pages searches. */
export type StoredRecord = ActionRecord & { readonly id: number };

const SCHEMA = `
CREATE TABLE IF NOT EXISTS actions (
  id INTEGER PRIMARY KEY,
  ts INTEGER NOT NULL,
  kind TEXT NOT NULL,
  room TEXT,
  target TEXT,
  reason TEXT,
  actor TEXT NOT NULL,
  cause TEXT NOT NULL,
  via TEXT,
  list TEXT,
  rule_key TEXT,
  outcome TEXT NOT NULL,
  detail TEXT,
  report TEXT
);
CREATE INDEX IF NOT EXISTS actions_ts ON actions (ts);
CREATE INDEX IF NOT EXISTS actions_target ON actions (target COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS actions_room ON actions (room);
CREATE INDEX IF NOT EXISTS actions_actor ON actions (actor COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS actions_cause ON actions (cause);
CREATE INDEX IF NOT EXISTS actions_kind ON actions (kind);
CREATE INDEX IF NOT EXISTS actions_report ON actions (report COLLATE NOCASE) WHERE report IS NOT NULL;
CREATE VIRTUAL TABLE IF NOT EXISTS actions_fts USING fts5 (
  target, room, actor, list, reason, detail, content = 'actions', content_rowid = 'id', tokenize = 'trigram'
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

/**
 * The free-text index is filled behind the writes, not by an insert trigger: indexing a record
 * costs ~10× inserting it (measured 42 of 46 µs), and a wave of thousands of bans must not hold
 * the event loop for that. `fts_upto` in `meta` is the newest id indexed; searches read the newer
 * ones by LIKE. Only indexed rows may be deleted from the index (FTS5 external content). Logs
 * created with the old insert trigger had everything indexed: `fts_upto` starts at their newest id.
 */
const FTS_BEHIND_WRITES = `
INSERT OR IGNORE INTO meta (key, value) SELECT 'fts_upto', coalesce(max(id), 0) FROM actions;
DROP TRIGGER IF EXISTS actions_fts_insert;
DROP TRIGGER IF EXISTS actions_fts_delete;
CREATE TRIGGER actions_fts_delete AFTER DELETE ON actions
WHEN old.id <= (SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'fts_upto') BEGIN
  INSERT INTO actions_fts (actions_fts, rowid, target, room, actor, list, reason, detail)
  VALUES ('delete', old.id, old.target, old.room, old.actor, old.list, old.reason, old.detail);
END;
`;

/** Records indexed per slice: ~4 µs each, so a slice holds the event loop for a few ms at most. */
const FTS_SLICE = 250;

type Row = Record<string, string | number | null>;

const OUTCOMES: ReadonlySet<string> = new Set<Outcome>(["done", "failed", "skipped", "dry-run"]);

/** A database row as a record: NULL columns are absent fields, as in the records Tyr writes. */
function fromRow(r: Row): StoredRecord {
  const rec: Record<string, unknown> = {
    id: Number(r.id),
    ts: Number(r.ts),
    kind: r.kind,
    actor: r.actor,
    outcome: r.outcome,
  };
  for (const [col, field] of [
    ["room", "room"],
    ["target", "target"],
    ["reason", "reason"],
    ["via", "via"],
    ["list", "list"],
    ["rule_key", "ruleKey"],
    ["detail", "detail"],
    ["report", "report"],
  ] as const)
    if (r[col] !== null && r[col] !== undefined) rec[field] = String(r[col]);
  return rec as unknown as StoredRecord;
}

/** Bounds for the search page size and the match count, so no request can ask for everything. */
export const MAX_PAGE = 500;
export const COUNT_CAP = 10_000;

export class ActionLog {
  private readonly db: DatabaseSync;
  private readonly maxRecords: number;
  private count: number;
  private readonly insert: StatementSync;
  private readonly redacted: StatementSync;
  /** user → room → rule key: bans Tyr made for policy rules that are still in force. Kept
   *  incrementally so rule removal and reconciliation never rescan the log. */
  private readonly policyBans = new Map<string, Map<string, string>>();
  /** "user\0room" → id of the record of a policy ban in force (kept when the log is trimmed). */
  private readonly policyBanIds = new Map<string, number>();
  /** user → the record of the suspension Tyr made that is still in force: who (a rule or a
   *  moderator), why and when. Auto-suspension lifts only those a rule made. */
  private readonly suspensions = new Map<string, StoredRecord>();
  /** room → the record of the takedown Tyr made that is still in force (not unblocked since):
   *  by a rule when it has a `ruleKey`, else by a moderator. */
  private readonly takedowns = new Map<string, StoredRecord>();

  constructor(dataPath: string, opts: { maxRecords?: number } = {}) {
    this.maxRecords = opts.maxRecords ?? 1_000_000;
    for (const other of OPEN) other.commitBatch();
    OPEN.add(this);
    this.db = new DatabaseSync(join(dataPath, "action-log.sqlite"));
    // WAL: readers (the dashboard) never wait for the writer; NORMAL sync is crash-safe in WAL.
    this.db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;");
    this.db.exec(SCHEMA);
    this.transaction(() => this.db.exec(FTS_BEHIND_WRITES));
    this.ftsUpto = this.db.prepare("SELECT CAST(value AS INTEGER) AS n FROM meta WHERE key = 'fts_upto'");
    this.lastId = this.db.prepare("SELECT coalesce(max(id), 0) AS n FROM actions");
    this.indexSlice = this.db.prepare(
      `INSERT INTO actions_fts (rowid, target, room, actor, list, reason, detail)
       SELECT id, target, room, actor, list, reason, detail FROM actions WHERE id > ? AND id <= ?`,
    );
    this.sliceEnd = this.db.prepare(
      "SELECT max(id) AS n FROM (SELECT id FROM actions WHERE id > ? ORDER BY id LIMIT ?)",
    );
    this.insert = this.db.prepare(
      `INSERT INTO actions (ts, kind, room, target, reason, actor, cause, via, list, rule_key, outcome, detail, report)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.redacted = this.db.prepare(
      "SELECT 1 FROM actions WHERE target = ? AND kind = 'redact' AND outcome = 'done' LIMIT 1",
    );
    this.importJsonLines(join(dataPath, "action-log.jsonl"));
    this.count = Number((this.db.prepare("SELECT count(*) AS n FROM actions").get() as Row).n);
    const inForce = this.db.prepare(
      `SELECT * FROM actions WHERE outcome = 'done'
         AND kind IN ('ban', 'unban', 'suspend', 'unsuspend', 'takedownRoom', 'unblockRoom') ORDER BY id`,
    );
    for (const r of inForce.iterate() as Iterable<Row>) this.index(fromRow(r));
    this.scheduleIndexing();
  }

  private readonly ftsUpto: StatementSync;
  private readonly lastId: StatementSync;
  private readonly indexSlice: StatementSync;
  private readonly sliceEnd: StatementSync;
  private indexingScheduled = false;

  /** Ids above this are not in the free-text index yet (read from the file: another log open
   *  on it may index too), or undefined when all are. */
  private unindexedAfter(): number | undefined {
    const upto = Number((this.ftsUpto.get() as Row).n);
    return upto < Number((this.lastId.get() as Row).n) ? upto : undefined;
  }

  /** How many records the free-text index has not reached yet (they are searched by LIKE). */
  indexBacklog(): number {
    const upto = this.unindexedAfter();
    if (upto === undefined) return 0;
    return Number((this.db.prepare("SELECT count(*) AS n FROM actions WHERE id > ?").get(upto) as Row).n);
  }

  /** Index the next slice after the current turn, and so on until the index has caught up. */
  private scheduleIndexing(): void {
    if (this.indexingScheduled) return;
    this.indexingScheduled = true;
    setImmediate(() => {
      this.indexingScheduled = false;
      if (!this.db.isOpen) return;
      try {
        if (this.indexNextSlice()) this.scheduleIndexing();
      } catch {
        // The index only speeds searches up (they read what it lacks by LIKE): try again later.
        setTimeout(() => this.scheduleIndexing(), 1_000).unref();
      }
    });
  }

  /** Indexes up to FTS_SLICE records after `fts_upto`; true when more remain. */
  private indexNextSlice(): boolean {
    const own = !this.db.isTransaction;
    // IMMEDIATE: `fts_upto` is read under the write lock, so two logs on one file never index a
    // record twice. Inside an open append batch the batch's transaction already holds it.
    if (own) this.db.exec("BEGIN IMMEDIATE");
    try {
      const upto = Number((this.ftsUpto.get() as Row).n);
      const end = (this.sliceEnd.get(upto, FTS_SLICE) as Row).n;
      if (end !== null) {
        this.indexSlice.run(upto, Number(end));
        this.db.prepare("UPDATE meta SET value = ? WHERE key = 'fts_upto'").run(String(end));
      }
      if (own) this.db.exec("COMMIT");
      return end !== null && Number(end) < Number((this.lastId.get() as Row).n);
    } catch (e) {
      if (own && this.db.isTransaction) this.db.exec("ROLLBACK");
      throw e;
    }
  }

  /**
   * The JSON-lines log of earlier versions, imported once: every record in one transaction with
   * a marker, then the file is renamed (a crash between the two imports nothing twice).
   */
  private importJsonLines(path: string): void {
    if (!existsSync(path)) return;
    const done = this.db.prepare("SELECT value FROM meta WHERE key = 'imported_jsonl'").get();
    if (done === undefined) {
      const records = parseLines(readFileSync(path, "utf8"));
      this.transaction(() => {
        for (const r of records) this.write(r);
        this.db
          .prepare("INSERT INTO meta (key, value) VALUES ('imported_jsonl', ?)")
          .run(String(records.length));
      });
    }
    renameSync(path, `${path}.imported`);
  }

  private transaction(body: () => void): void {
    this.commitBatch();
    this.db.exec("BEGIN");
    try {
      body();
      this.db.exec("COMMIT");
    } catch (e) {
      this.db.exec("ROLLBACK");
      throw e;
    }
  }

  /**
   * Appends of one event-loop turn share one transaction, committed right after it: a commit per
   * record costs ~20× the insert (measured: 6 µs in a batch, 140 µs alone), which would stall the
   * queue behind a wave of thousands of bans. A crash can lose at most that turn's records.
   */
  private openBatch(): void {
    if (this.db.isTransaction) return;
    this.db.exec("BEGIN");
    this.batchOpen = true;
    setImmediate(() => this.commitBatch());
  }

  private batchOpen = false;

  private commitBatch(): void {
    if (!this.batchOpen) return;
    this.batchOpen = false;
    if (!this.db.isOpen || !this.db.isTransaction) return;
    try {
      this.db.exec("COMMIT");
    } catch (e) {
      // Runs outside any caller (after the turn): keep the process alive, and let the next
      // append throw it, where the caller logs it.
      this.failed = e;
      if (this.db.isTransaction) this.db.exec("ROLLBACK");
    }
  }

  private failed: unknown;

  private write(rec: ActionRecord): number {
    this.openBatch();
    const res = this.insert.run(
      rec.ts,
      rec.kind,
      rec.room ?? null,
      rec.target ?? null,
      rec.reason ?? null,
      rec.actor,
      causeOfActor(rec.actor),
      rec.via ?? null,
      rec.list ?? null,
      rec.ruleKey ?? null,
      rec.outcome,
      rec.detail ?? null,
      rec.report ?? null,
    );
    this.scheduleIndexing();
    return Number(res.lastInsertRowid);
  }

  private index(r: StoredRecord): void {
    if (r.outcome !== "done") return;
    if (r.kind === "takedownRoom" && r.room) this.takedowns.set(r.room, r);
    else if (r.kind === "unblockRoom" && r.room) this.takedowns.delete(r.room);
    if (!r.target) return;
    if (r.kind === "suspend") this.suspensions.set(r.target, r);
    else if (r.kind === "unsuspend") this.suspensions.delete(r.target);
    if (!r.room) return;
    if (r.kind === "ban" && r.ruleKey) {
      let rooms = this.policyBans.get(r.target);
      if (!rooms) this.policyBans.set(r.target, (rooms = new Map()));
      rooms.set(r.room, r.ruleKey);
      this.policyBanIds.set(`${r.target}\0${r.room}`, r.id);
    } else if (r.kind === "unban" || (r.kind === "ban" && !r.ruleKey)) {
      // A moderator's own ban (or any unban) takes the ban out of policy hands.
      const rooms = this.policyBans.get(r.target);
      rooms?.delete(r.room);
      if (rooms?.size === 0) this.policyBans.delete(r.target);
      this.policyBanIds.delete(`${r.target}\0${r.room}`);
    }
  }

  append(rec: ActionRecord): void {
    if (this.failed !== undefined) {
      const e = this.failed;
      this.failed = undefined;
      throw new Error(`the action log could not save recent records: ${String(e)}`, { cause: e });
    }
    const id = this.write(rec);
    this.count++;
    this.kindSet?.add(rec.kind);
    this.index({ ...rec, id });
    if (this.count > this.maxRecords) this.trim();
  }

  /** Keeps the newest half, plus every ban, suspension and room takedown still in force: dropping
   *  those would make a later rule removal forget to lift them. */
  private trim(): void {
    const keepFrom = this.db
      .prepare("SELECT id FROM actions ORDER BY id DESC LIMIT 1 OFFSET ?")
      .get(Math.floor(this.maxRecords / 2) - 1) as Row | undefined;
    if (keepFrom === undefined) return;
    const active = [
      ...this.policyBanIds.values(),
      ...[...this.suspensions.values(), ...this.takedowns.values()].map((r) => r.id),
    ];
    this.transaction(() => {
      this.db.exec("CREATE TEMP TABLE IF NOT EXISTS keep (id INTEGER PRIMARY KEY)");
      this.db.exec("DELETE FROM keep");
      const add = this.db.prepare("INSERT OR IGNORE INTO keep (id) VALUES (?)");
      for (const id of active) add.run(id);
      this.db
        .prepare("DELETE FROM actions WHERE id < ? AND id NOT IN (SELECT id FROM keep)")
        .run(Number(keepFrom.id));
    });
    this.count = Number((this.db.prepare("SELECT count(*) AS n FROM actions").get() as Row).n);
  }

  /** Newest first. `about` matches a room, a target, an actor or a list (case-insensitive
   *  substring), or exactly the report an action answered ("event-12"). */
  query(opts: { about?: string; limit?: number } = {}): StoredRecord[] {
    return this.search({
      limit: opts.limit ?? 20,
      ...(opts.about !== undefined ? { about: opts.about } : {}),
    });
  }

  /** One page of a search (see actionQuery.ts), newest first; page on with `before: last.id`. */
  search(s: ActionSearch): StoredRecord[] {
    const q = buildSearch({ ...s, limit: Math.min(MAX_PAGE, s.limit) }, this.unindexedAfter());
    return (this.db.prepare(q.sql).all(...q.params) as Row[]).map(fromRow);
  }

  /** How many actions a search matches, counted up to `COUNT_CAP`. */
  countMatches(s: Omit<ActionSearch, "limit" | "before">): number {
    const q = buildCount(s, COUNT_CAP, this.unindexedAfter());
    return Number((this.db.prepare(q.sql).get(...q.params) as Row).n);
  }

  /** Actions since `since` per time bucket and cause, for charts. */
  histogram(since: number, bucketMs: number): { bucket: number; cause: string; n: number }[] {
    const rows = this.db
      .prepare(
        "SELECT CAST((ts - ?) / ? AS INTEGER) AS bucket, cause, count(*) AS n FROM actions WHERE ts >= ? GROUP BY bucket, cause",
      )
      // Bound JS numbers are REALs in SQLite: the CAST makes the division whole buckets.
      .all(since, bucketMs, since) as Row[];
    return rows.map((r) => ({ bucket: Number(r.bucket), cause: String(r.cause), n: Number(r.n) }));
  }

  /** The kinds of action in the log, for the filter menu: read once, then kept up to date. */
  kinds(): string[] {
    this.kindSet ??= new Set(
      (this.db.prepare("SELECT DISTINCT kind FROM actions").all() as Row[]).map((r) => String(r.kind)),
    );
    return [...this.kindSet].sort();
  }

  private kindSet: Set<string> | undefined;

  /** Every (user, room) Tyr banned because of rule `key` and hasn't unbanned since. */
  activeBansOfRule(key: string): { user: string; room: string }[] {
    const out: { user: string; room: string }[] = [];
    for (const [user, rooms] of this.policyBans)
      for (const [room, k] of rooms) if (k === key) out.push({ user, room });
    return out;
  }

  /** Rooms where Tyr banned `user` because of a policy rule (and hasn't unbanned since), with the rule. */
  policyBansOf(user: string): ReadonlyMap<string, string> {
    return this.policyBans.get(user) ?? NO_BANS;
  }

  /** Users Tyr currently has banned somewhere because of a policy rule. */
  policyBannedUsers(): IterableIterator<string> {
    return this.policyBans.keys();
  }

  /** The suspension of `user` Tyr made and has not lifted: by a rule when it has a `ruleKey`. */
  suspensionOf(user: string): ActionRecord | undefined {
    return this.suspensions.get(user);
  }

  /** Users Tyr suspended because of a policy rule (and hasn't unsuspended since). */
  *policySuspendedUsers(): IterableIterator<string> {
    for (const [user, r] of this.suspensions) if (r.ruleKey !== undefined) yield user;
  }

  /** How many suspensions Tyr made are in force, by a rule and by moderators. */
  suspensionCounts(): { policy: number; moderator: number } {
    let policy = 0;
    for (const r of this.suspensions.values()) if (r.ruleKey !== undefined) policy++;
    return { policy, moderator: this.suspensions.size - policy };
  }

  /** The takedown of `room` Tyr made and has not lifted: by a rule when it has a `ruleKey`. */
  takedownOf(room: string): ActionRecord | undefined {
    return this.takedowns.get(room);
  }

  /** Rooms Tyr took down because of a policy rule (and hasn't unblocked since). */
  *policyTakenDownRooms(): IterableIterator<string> {
    for (const [room, r] of this.takedowns) if (r.ruleKey !== undefined) yield room;
  }

  /** Was this event already redacted by Tyr? (never redact the same event twice) */
  wasRedacted(eventId: string): boolean {
    return this.redacted.get(eventId) !== undefined;
  }

  get size(): number {
    return this.count;
  }

  close(): void {
    this.commitBatch();
    OPEN.delete(this);
    if (this.db.isOpen) this.db.close();
  }
}

const NO_BANS: ReadonlyMap<string, string> = new Map();

/** Logs open in this process: one opening a database commits the others' pending batches first,
 *  so it reads everything written before (tests and tools open a second one beside the bot's). */
const OPEN = new Set<ActionLog>();

function parseLines(text: string): ActionRecord[] {
  const out: ActionRecord[] = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    try {
      const r = JSON.parse(line) as ActionRecord;
      if (
        r &&
        typeof r === "object" &&
        typeof r.kind === "string" &&
        typeof r.ts === "number" &&
        typeof r.actor === "string" &&
        OUTCOMES.has(r.outcome)
      )
        out.push(r);
    } catch {
      // A torn last line after a crash is expected; everything before it is kept.
    }
  }
  return out;
}
