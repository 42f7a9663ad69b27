// Consequences that must happen later — "unmute @x in !r at T" — kept in a small JSON file in the
// data directory so they survive a restart. Due entries fire on start and on a timer, through the
// consequence queue like every other effect. An entry is removed only after the queue has carried
// it out, so a crash in between fires it again (the kinds scheduled here are idempotent).
//
// Timed mutes: `submitMute` submits the mute and, once it was actually executed, schedules the
// matching `unmute`, remembering the level the user had before so it can be restored. The
// moderator `mute <user> [duration]` command uses the same entry points.
import { join } from "node:path";
import { renameSync } from "node:fs";
import type { Logger } from "../logging.ts";
import type { RoomStateCache } from "../matrix/roomState.ts";
import { readJsonFile, writeFileAtomic } from "../store/files.ts";
import { dedupeKey, type Result } from "./queue.ts";
import type { Consequence } from "./types.ts";

export const SCHEDULE_FILE = "scheduled-consequences.json";
const VERSION = 1;
/** More than this many future effects is a bug or an attack; the oldest requests are dropped. */
export const MAX_SCHEDULED = 10_000;
/** A failed entry is tried again after this long, at most MAX_ATTEMPTS times. */
export const RETRY_AFTER_MS = 5 * 60_000;
export const MAX_ATTEMPTS = 5;

export interface ScheduledEntry {
  /** Same key = the same future effect: scheduling it again replaces the earlier entry. */
  readonly key: string;
  /** When to fire (ms since the epoch). */
  readonly at: number;
  readonly consequence: Consequence;
  /** Failed executions so far. */
  readonly attempts: number;
}

export type MuteConsequence = Extract<Consequence, { kind: "mute" }>;
export type UnmuteConsequence = Extract<Consequence, { kind: "unmute" }>;

/**
 * The identity of a scheduled effect: the queue's (a later schedule of the same effect replaces
 * the earlier one), except that a member has one scheduled power level whatever its value, and
 * messages are told apart by their text.
 */
export function scheduleKey(c: Consequence): string {
  switch (c.kind) {
    case "setPowerLevel":
      return `${c.kind}|${c.room}|${c.user}`;
    case "redact":
      return `redact|${c.room}|${c.event}`;
    case "warn":
    case "send":
      return `${c.kind}|${c.room}|${JSON.stringify("text" in c ? c.text : c.content).slice(0, 200)}`;
    case "notify":
      return `notify|${c.text.slice(0, 200)}`;
    default:
      return dedupeKey(c) ?? c.kind;
  }
}

// ---- pure: validation and list operations ----

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === "string" && v.length > 0 && v.length <= 65_536;

function validCause(v: unknown): boolean {
  if (!isObj(v)) return false;
  switch (v.by) {
    case "policy":
      return isObj(v.rule);
    case "protection":
      return isStr(v.name);
    case "moderator":
      return isStr(v.user) && typeof v.command === "string";
    case "system":
      return isStr(v.what);
    default:
      return false;
  }
}

/** A consequence read back from disk, or a reason it can't be used. */
export function validConsequence(v: unknown): Consequence | string {
  if (!isObj(v)) return "not an object";
  if (!validCause(v.cause)) return "missing or invalid cause";
  const roomOk = isStr(v.room) && v.room.startsWith("!");
  const userOk = isStr(v.user) && v.user.startsWith("@");
  switch (v.kind) {
    case "ban":
    case "unban":
    case "kick":
      return roomOk && userOk && typeof v.reason === "string" ? (v as Consequence) : `invalid ${v.kind}`;
    case "mute":
      return roomOk &&
        userOk &&
        typeof v.reason === "string" &&
        (v.durationMs === undefined || Number.isSafeInteger(v.durationMs))
        ? (v as Consequence)
        : "invalid mute";
    case "unmute":
      return roomOk &&
        userOk &&
        typeof v.reason === "string" &&
        (v.restoreLevel === undefined || Number.isSafeInteger(v.restoreLevel))
        ? (v as Consequence)
        : "invalid unmute";
    case "setPowerLevel":
      return roomOk && userOk && typeof v.reason === "string" && Number.isSafeInteger(v.level)
        ? (v as Consequence)
        : "invalid setPowerLevel";
    case "redact":
      return roomOk && isStr(v.event) && typeof v.reason === "string" ? (v as Consequence) : "invalid redact";
    case "setJoinRule":
      return roomOk && (v.joinRule === "invite" || v.joinRule === "public" || v.joinRule === "knock")
        ? (v as Consequence)
        : "invalid setJoinRule";
    case "setAcl":
      return roomOk && isObj(v.content) && Array.isArray(v.content.allow) && Array.isArray(v.content.deny)
        ? (v as Consequence)
        : "invalid setAcl";
    case "setState":
      return roomOk &&
        isStr(v.eventType) &&
        typeof v.stateKey === "string" &&
        isObj(v.content) &&
        typeof v.reason === "string"
        ? (v as Consequence)
        : "invalid setState";
    case "warn":
      return roomOk && typeof v.text === "string" ? (v as Consequence) : "invalid warn";
    case "deactivate":
      return userOk && typeof v.erase === "boolean" && typeof v.reason === "string"
        ? (v as Consequence)
        : "invalid deactivate";
    case "notify":
      return typeof v.text === "string" ? (v as Consequence) : "invalid notify";
    case "send":
      return roomOk && isStr(v.eventType) && isObj(v.content) ? (v as Consequence) : "invalid send";
    default:
      return `unknown kind ${JSON.stringify(v.kind)?.slice(0, 40) ?? typeof v.kind}`;
  }
}

export interface ParsedSchedule {
  readonly entries: ScheduledEntry[];
  readonly problems: string[];
}

/** Reads the file's content (untrusted). Bad entries are dropped and reported, never fatal. */
export function parseSchedule(raw: unknown): ParsedSchedule {
  const problems: string[] = [];
  const entries: ScheduledEntry[] = [];
  if (raw === undefined) return { entries, problems };
  if (!isObj(raw) || !Array.isArray(raw.entries)) {
    problems.push('expected {"version": 1, "entries": [...]}; starting with an empty schedule');
    return { entries, problems };
  }
  if (raw.version !== VERSION)
    problems.push(`unknown version ${JSON.stringify(raw.version)}; reading it anyway`);
  const seen = new Set<string>();
  (raw.entries as unknown[]).forEach((e, i) => {
    if (!isObj(e) || typeof e.at !== "number" || !Number.isFinite(e.at)) {
      problems.push(`entry ${i + 1}: expected {at, consequence}; dropped`);
      return;
    }
    const c = validConsequence(e.consequence);
    if (typeof c === "string") {
      problems.push(`entry ${i + 1}: ${c}; dropped`);
      return;
    }
    const key = scheduleKey(c);
    if (seen.has(key)) {
      problems.push(`entry ${i + 1}: duplicate of an earlier entry; dropped`);
      return;
    }
    seen.add(key);
    const attempts =
      typeof e.attempts === "number" && Number.isSafeInteger(e.attempts) && e.attempts >= 0 ? e.attempts : 0;
    entries.push({ key, at: e.at, consequence: c, attempts });
  });
  if (entries.length > MAX_SCHEDULED) {
    problems.push(`more than ${MAX_SCHEDULED} entries; the earliest-due ones are kept`);
    entries.sort((a, b) => a.at - b.at);
    entries.length = MAX_SCHEDULED;
  }
  return { entries, problems };
}

export function serialiseSchedule(entries: readonly ScheduledEntry[]): unknown {
  return {
    version: VERSION,
    entries: entries.map((e) => ({ at: e.at, attempts: e.attempts, consequence: e.consequence })),
  };
}

/**
 * Adds (or replaces, by key) an entry. Re-scheduling an unmute keeps the level remembered by the
 * first one: that is the level from before the first mute, the one to restore.
 */
export function upsertEntry(entries: readonly ScheduledEntry[], entry: ScheduledEntry): ScheduledEntry[] {
  const existing = entries.find((e) => e.key === entry.key);
  let next = entry;
  if (
    existing !== undefined &&
    existing.consequence.kind === "unmute" &&
    entry.consequence.kind === "unmute"
  ) {
    const { restoreLevel: _drop, ...rest } = entry.consequence;
    const kept = existing.consequence.restoreLevel;
    next = { ...entry, consequence: kept === undefined ? rest : { ...rest, restoreLevel: kept } };
  }
  const out = entries.filter((e) => e.key !== entry.key);
  out.push(next);
  if (out.length > MAX_SCHEDULED) {
    out.sort((a, b) => a.at - b.at);
    out.length = MAX_SCHEDULED;
  }
  return out;
}

/** Entries due at `now`, earliest first. */
export function dueEntries(entries: readonly ScheduledEntry[], now: number): ScheduledEntry[] {
  return entries.filter((e) => e.at <= now).sort((a, b) => a.at - b.at);
}

// ---- the file ----

export class ScheduleStore {
  readonly path: string;

  constructor(dataPath: string) {
    this.path = join(dataPath, SCHEDULE_FILE);
  }

  /** Never throws: an unreadable or corrupt file is moved aside (kept for inspection) and reported. */
  load(now = Date.now()): ParsedSchedule {
    let raw: unknown;
    try {
      raw = readJsonFile(this.path);
    } catch (e) {
      const aside = `${this.path}.corrupt-${now}`;
      let moved = "";
      try {
        renameSync(this.path, aside);
        moved = `; moved to ${aside}`;
      } catch {
        // leave it where it is; the next save replaces it
      }
      return {
        entries: [],
        problems: [`cannot read ${this.path} (${e instanceof Error ? e.message : String(e)})${moved}`],
      };
    }
    return parseSchedule(raw);
  }

  save(entries: readonly ScheduledEntry[]): void {
    writeFileAtomic(this.path, JSON.stringify(serialiseSchedule(entries)));
  }
}

// ---- the feature ----

/** `levelOf` from the room state cache: the user's explicit entry in `users`, if any. */
export function explicitLevelFrom(state: RoomStateCache): (room: string, user: string) => number | undefined {
  return (room, user) => {
    const users = state.peek(room)?.powerLevels.users;
    if (typeof users !== "object" || users === null || !Object.hasOwn(users, user)) return undefined;
    const v = (users as Record<string, unknown>)[user];
    return typeof v === "number" && Number.isSafeInteger(v) ? v : undefined;
  };
}

export interface Submitter {
  submit(c: Consequence, opts?: { front?: boolean }): Promise<Result>;
}

export interface ScheduledConsequencesOptions {
  dataPath: string;
  queue: Submitter;
  log: Logger;
  /** The user's explicit level in the room's power levels (undefined: no override), for unmutes. */
  levelOf?: (room: string, user: string) => number | undefined;
  /** How often due entries are checked. */
  intervalMs?: number;
  now?: () => number;
}

export class ScheduledConsequences {
  readonly name = "scheduled";
  private readonly store: ScheduleStore;
  private readonly queue: Submitter;
  private readonly log: Logger;
  private readonly levelOf: (room: string, user: string) => number | undefined;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private entries: ScheduledEntry[] = [];
  private readonly firing = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private loaded = false;
  fired = 0;

  constructor(opts: ScheduledConsequencesOptions) {
    this.store = new ScheduleStore(opts.dataPath);
    this.queue = opts.queue;
    this.log = opts.log;
    this.levelOf = opts.levelOf ?? (() => undefined);
    this.intervalMs = opts.intervalMs ?? 5_000;
    this.now = opts.now ?? Date.now;
  }

  /** Pending entries (a copy), earliest first. */
  pending(): ScheduledEntry[] {
    this.load();
    return [...this.entries].sort((a, b) => a.at - b.at);
  }

  /** Runs `c` at `at` (ms since the epoch), even across restarts. Replaces an entry with the same key. */
  scheduleConsequence(at: number, c: Consequence): ScheduledEntry {
    this.load();
    const entry: ScheduledEntry = { key: scheduleKey(c), at, consequence: c, attempts: 0 };
    this.entries = upsertEntry(this.entries, entry);
    this.persist();
    return this.entries.find((e) => e.key === entry.key) ?? entry;
  }

  /** Drops the entry with this key (e.g. a moderator unmuted by hand). */
  cancel(key: string): boolean {
    this.load();
    const before = this.entries.length;
    this.entries = this.entries.filter((e) => e.key !== key);
    if (this.entries.length === before) return false;
    this.persist();
    return true;
  }

  /** The unmute that undoes `mute`, restoring the level the user has now (before the mute). */
  unmuteFor(mute: MuteConsequence): UnmuteConsequence {
    const level = this.levelOf(mute.room, mute.user);
    return {
      kind: "unmute",
      room: mute.room,
      user: mute.user,
      ...(level !== undefined ? { restoreLevel: level } : {}),
      reason: `mute expired (${mute.reason})`.slice(0, 500),
      cause: mute.cause,
    };
  }

  /**
   * Submits a mute; when it has a duration and was carried out, schedules its unmute. The level to
   * restore is read before the mute runs. A mute that failed or was only simulated schedules nothing.
   */
  async submitMute(mute: MuteConsequence, opts: { front?: boolean } = {}): Promise<Result> {
    const unmute = mute.durationMs !== undefined ? this.unmuteFor(mute) : undefined;
    const r = await this.queue.submit(mute, opts);
    if (r.outcome === "done" && unmute !== undefined && mute.durationMs !== undefined) {
      this.scheduleConsequence(this.now() + mute.durationMs, unmute);
    }
    return r;
  }

  async start(): Promise<void> {
    this.load();
    await this.fireDue();
    this.timer = setInterval(() => void this.fireDue(), this.intervalMs);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Submits every due entry; resolves when they have been carried out (or given up). */
  async fireDue(): Promise<number> {
    this.load();
    const due = dueEntries(this.entries, this.now()).filter((e) => !this.firing.has(e.key));
    await Promise.all(due.map((e) => this.fire(e)));
    return due.length;
  }

  private async fire(e: ScheduledEntry): Promise<void> {
    this.firing.add(e.key);
    let r: Result;
    try {
      r = await this.queue.submit(e.consequence);
    } catch (err) {
      r = { outcome: "failed", error: err instanceof Error ? err.message : String(err) };
    } finally {
      this.firing.delete(e.key);
    }
    // Rescheduled meanwhile (e.g. muted again): the newer entry stays.
    const current = this.entries.find((x) => x.key === e.key);
    if (current !== e) return;
    if (r.outcome === "failed" && e.attempts + 1 < MAX_ATTEMPTS) {
      this.log.warn(
        { key: e.key, error: r.error, attempt: e.attempts + 1 },
        "scheduled action failed; will retry",
      );
      this.entries = upsertEntry(this.entries, {
        ...e,
        at: this.now() + RETRY_AFTER_MS,
        attempts: e.attempts + 1,
      });
    } else {
      if (r.outcome === "failed")
        this.log.error({ key: e.key, error: r.error }, "scheduled action failed; giving up");
      else this.fired++;
      this.entries = this.entries.filter((x) => x.key !== e.key);
    }
    this.persist();
  }

  private load(): void {
    if (this.loaded) return;
    this.loaded = true;
    const { entries, problems } = this.store.load(this.now());
    this.entries = entries;
    for (const p of problems) this.log.warn({ file: this.store.path }, `scheduled actions: ${p}`);
  }

  private persist(): void {
    try {
      this.store.save(this.entries);
    } catch (e) {
      // Kept in memory; the next change tries again.
      this.log.error({ err: e, file: this.store.path }, "cannot save the scheduled actions");
    }
  }
}
