// The action log: every consequence Tyr executed (or refused, or only simulated), with who or what
// caused it. Append-only JSON lines on disk, bounded: when the file passes its limit, the newest
// half is kept. Also the memory of "which bans did rule R cause", so unban can lift exactly those.
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Cause, Consequence } from "../consequences/types.ts";
import { writeFileAtomic } from "./files.ts";

export type Outcome = "done" | "failed" | "skipped" | "dry-run";

export interface ActionRecord {
  ts: number;
  /** What was done; "refuse": the homeserver refused a request on Tyr's answer (src/antispam/). */
  kind: Consequence["kind"] | "refuse";
  room?: string;
  target?: string;
  reason?: string;
  actor: string;
  /** Policy list and rule identity, for policy-caused actions. */
  list?: string;
  ruleKey?: string;
  outcome: Outcome;
  detail?: string;
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
  if (c.cause.by === "policy") {
    rec.list = c.cause.rule.list;
    rec.ruleKey = ruleKey(c.cause.rule);
  }
  if (detail) rec.detail = detail;
  if (c.cause.by === "moderator" && c.cause.report !== undefined) rec.report = c.cause.report;
  return rec;
}

export class ActionLog {
  private readonly path: string;
  private records: ActionRecord[] = [];
  private readonly maxRecords: number;
  /** user → room → rule key: bans Tyr made for policy rules that are still in force. Kept
   *  incrementally so rule removal and reconciliation never rescan the log. */
  private readonly policyBans = new Map<string, Map<string, string>>();
  /** user → the record of the suspension Tyr made that is still in force: who (a rule or a
   *  moderator), why and when. Auto-suspension lifts only those a rule made. */
  private readonly suspensions = new Map<string, ActionRecord>();
  /** room → the record of the takedown Tyr made that is still in force (not unblocked since):
   *  by a rule when it has a `ruleKey`, else by a moderator. */
  private readonly takedowns = new Map<string, ActionRecord>();

  constructor(dataPath: string, opts: { maxRecords?: number } = {}) {
    this.path = join(dataPath, "action-log.jsonl");
    this.maxRecords = opts.maxRecords ?? 50_000;
    this.records = existsSync(this.path) ? parseLines(readFileSync(this.path, "utf8")) : [];
    for (const r of this.records) this.index(r);
  }

  private index(r: ActionRecord): void {
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
    } else if (r.kind === "unban" || (r.kind === "ban" && !r.ruleKey)) {
      // A moderator's own ban (or any unban) takes the ban out of policy hands.
      const rooms = this.policyBans.get(r.target);
      rooms?.delete(r.room);
      if (rooms?.size === 0) this.policyBans.delete(r.target);
    }
  }

  append(rec: ActionRecord): void {
    this.records.push(rec);
    this.index(rec);
    appendFileSync(this.path, `${JSON.stringify(rec)}\n`);
    if (this.records.length > this.maxRecords) {
      // Keep the newest half, plus every ban still in force for a policy rule: dropping those
      // would make a later rule removal forget to lift them.
      const cut = this.records.length - Math.floor(this.maxRecords / 2);
      const active = (r: ActionRecord) =>
        (r.kind === "suspend" && r.target !== undefined && this.suspensions.get(r.target) === r) ||
        (r.kind === "takedownRoom" && r.room !== undefined && this.takedowns.get(r.room) === r) ||
        (r.kind === "ban" &&
          r.ruleKey !== undefined &&
          r.target !== undefined &&
          r.room !== undefined &&
          this.policyBans.get(r.target)?.get(r.room) === r.ruleKey);
      this.records = [...this.records.slice(0, cut).filter(active), ...this.records.slice(cut)];
      writeFileAtomic(this.path, this.records.map((r) => JSON.stringify(r)).join("\n") + "\n");
    }
  }

  /** Newest first. `about` matches a room, a target or an actor (case-insensitive substring), or
   *  exactly the report an action answered ("event-12"). */
  query(opts: { about?: string; limit?: number } = {}): ActionRecord[] {
    const limit = opts.limit ?? 20;
    const about = opts.about?.toLowerCase();
    const out: ActionRecord[] = [];
    for (let i = this.records.length - 1; i >= 0 && out.length < limit; i--) {
      const r = this.records[i]!;
      if (
        !about ||
        r.report?.toLowerCase() === about ||
        [r.room, r.target, r.actor, r.list].some((f) => f !== undefined && f.toLowerCase().includes(about))
      ) {
        out.push(r);
      }
    }
    return out;
  }

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
    return this.redactedIds().has(eventId);
  }

  private redactedCache: { size: number; ids: Set<string> } | undefined;
  private redactedIds(): Set<string> {
    if (this.redactedCache?.size === this.records.length) return this.redactedCache.ids;
    const ids = new Set<string>();
    for (const r of this.records)
      if (r.kind === "redact" && r.outcome === "done" && r.target) ids.add(r.target);
    this.redactedCache = { size: this.records.length, ids };
    return ids;
  }

  get size(): number {
    return this.records.length;
  }
}

const NO_BANS: ReadonlyMap<string, string> = new Map();

function parseLines(text: string): ActionRecord[] {
  const out: ActionRecord[] = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    try {
      const r = JSON.parse(line) as ActionRecord;
      if (r && typeof r === "object" && typeof r.kind === "string" && typeof r.ts === "number") out.push(r);
    } catch {
      // A torn last line after a crash is expected; everything before it is kept.
    }
  }
  return out;
}
