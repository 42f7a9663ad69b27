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
  kind: Consequence["kind"];
  room?: string;
  target?: string;
  reason?: string;
  actor: string;
  /** Policy list and rule identity, for policy-caused actions. */
  list?: string;
  ruleKey?: string;
  outcome: Outcome;
  detail?: string;
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
  if ("reason" in c && c.reason) rec.reason = c.reason;
  if (c.cause.by === "policy") {
    rec.list = c.cause.rule.list;
    rec.ruleKey = ruleKey(c.cause.rule);
  }
  if (detail) rec.detail = detail;
  return rec;
}

export class ActionLog {
  private readonly path: string;
  private records: ActionRecord[] = [];
  private readonly maxRecords: number;

  constructor(dataPath: string, opts: { maxRecords?: number } = {}) {
    this.path = join(dataPath, "action-log.jsonl");
    this.maxRecords = opts.maxRecords ?? 50_000;
    this.records = existsSync(this.path) ? parseLines(readFileSync(this.path, "utf8")) : [];
  }

  append(rec: ActionRecord): void {
    this.records.push(rec);
    appendFileSync(this.path, `${JSON.stringify(rec)}\n`);
    if (this.records.length > this.maxRecords) {
      this.records = this.records.slice(-Math.floor(this.maxRecords / 2));
      writeFileAtomic(this.path, this.records.map((r) => JSON.stringify(r)).join("\n") + "\n");
    }
  }

  /** Newest first. `about` matches a room, a target or an actor (case-insensitive substring). */
  query(opts: { about?: string; limit?: number } = {}): ActionRecord[] {
    const limit = opts.limit ?? 20;
    const about = opts.about?.toLowerCase();
    const out: ActionRecord[] = [];
    for (let i = this.records.length - 1; i >= 0 && out.length < limit; i--) {
      const r = this.records[i]!;
      if (
        !about ||
        [r.room, r.target, r.actor, r.list].some((f) => f !== undefined && f.toLowerCase().includes(about))
      ) {
        out.push(r);
      }
    }
    return out;
  }

  /** Rooms in which `user` is currently banned by Tyr because of rule `key` (ban done, no unban since). */
  bansByRule(key: string, user: string): Set<string> {
    const rooms = new Set<string>();
    for (const r of this.records) {
      if (r.target !== user || r.outcome !== "done") continue;
      if (r.kind === "ban" && r.ruleKey === key && r.room) rooms.add(r.room);
      else if (r.kind === "unban" && r.room) rooms.delete(r.room);
    }
    return rooms;
  }

  /** Every (user, room) Tyr banned because of rule `key` and hasn't unbanned since. */
  activeBansOfRule(key: string): { user: string; room: string }[] {
    const active = new Map<string, { user: string; room: string }>();
    for (const r of this.records) {
      if (r.outcome !== "done" || !r.room || !r.target) continue;
      const k = `${r.target}\u0000${r.room}`;
      if (r.kind === "ban" && r.ruleKey === key) active.set(k, { user: r.target, room: r.room });
      else if (r.kind === "unban") active.delete(k);
    }
    return [...active.values()];
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
