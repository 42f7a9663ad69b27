// The protections feature: the imperative shell around the pure pipeline. It loads the settings
// from the bot's account data (and follows later changes), feeds every live event of a protected
// room through the pipeline with what the bot knows about the room, and hands the decisions to
// the consequence queue. Timed mutes are handed to the scheduler so the unmute survives restarts;
// dry-run notices are coalesced so a flood does not flood the management room too.
import type { BotParts, Feature } from "../feature.ts";
import type { Consequence } from "../consequences/types.ts";
import type { Result } from "../consequences/queue.ts";
import type { ScheduledConsequences } from "../consequences/scheduled.ts";
import type { Logger } from "../logging.ts";
import type { StateEvent } from "../matrix/roomState.ts";
import type { RawEvent } from "../matrix/syncTypes.ts";
import type { BatchMeta, TimelineEvent } from "../router.ts";
import type { Reporting, StatusLine } from "../feature.ts";
import { DryRunCoalescer } from "./coalesce.ts";
import {
  MJOLNIR_ENABLED_KEY,
  PIPELINE_OPTIONS,
  TYR_PROTECTIONS_KEY,
  effectiveConfig,
  parsePersisted,
  serialise,
  type EditResult,
  type ProtectionsConfig,
} from "./config.ts";
import { parsePowerLevels, roomCreators } from "./exemptions.ts";
import type { AnyProtection, RoomContext } from "./framework.ts";
import { ProtectionPipeline, type PipelineResult } from "./pipeline.ts";
import { BUILTIN_PROTECTIONS } from "./registry.ts";
import { PROTECTED_ROOMS_KEY, parseProtectedRooms } from "../policy/settings.ts";

/** After a gap (or a restart), events older than this are history, not live traffic. */
export const BACKLOG_MS = 60_000;
/** Events fetched at most to fill a gap in a room's timeline. */
const MAX_BACKFILL = 1_000;
/** One notice per failing protection per this long. */
const ERROR_NOTICE_INTERVAL_MS = 60 * 60_000;
const MAX_PROBLEM_LINES = 20;
/** Consequences that stop an offender; they jump the queue ahead of clean-up work. */
const SANCTIONS: ReadonlySet<string> = new Set(["ban", "kick", "mute", "setJoinRule"]);

export interface ProtectionsFeatureOptions {
  /** Which rooms are protected. Default: `protectedRooms` from the config (aliases resolved at
   *  start) plus the rooms listed in the account data `org.matrix.mjolnir.protected_rooms`. */
  readonly isProtected?: (roomId: string) => boolean;
  /** Where timed mutes schedule their unmute; without it a mute with a duration stays until lifted. */
  readonly scheduler?: ScheduledConsequences;
  readonly protections?: readonly AnyProtection[];
  /** Timer period for `tick` (join-wave cool-downs) and dry-run summaries. */
  readonly tickMs?: number;
  readonly dryRunWindowMs?: number;
  readonly now?: () => number;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** JSON with sorted keys: equal content compares equal whatever order the server returns. */
function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(",")}]`;
  if (isObj(v))
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson(v[k])}`)
      .join(",")}}`;
  return JSON.stringify(v) ?? "null";
}

interface Counters {
  issued: number;
  done: number;
  failed: number;
  dryRunNotices: number;
  skippedBacklog: number;
  errors: number;
}

export class ProtectionsFeature implements Feature, Reporting {
  readonly name = "protections";
  readonly pipeline: ProtectionPipeline;
  readonly protections: readonly AnyProtection[];
  readonly counters: Counters = {
    issued: 0,
    done: 0,
    failed: 0,
    dryRunNotices: 0,
    skippedBacklog: 0,
    errors: 0,
  };
  private readonly bot: BotParts;
  private readonly log: Logger;
  private readonly scheduler: ScheduledConsequences | undefined;
  private readonly customIsProtected: ((roomId: string) => boolean) | undefined;
  private readonly now: () => number;
  private readonly tickMs: number;
  private readonly coalescer: DryRunCoalescer;

  /** Latest account-data contents of our keys (as received or as we wrote them). */
  private readonly raw = new Map<string, unknown>();
  /** What we wrote recently per key (stable JSON), to recognise our own writes coming back. */
  private readonly written = new Map<string, string[]>();
  private explicitOptions = new Set<string>();
  private loaded = false;
  private loadedWaiters: (() => void)[] = [];
  private reportedProblems = "";
  private editChain: Promise<unknown> = Promise.resolve();

  private readonly configRooms = new Set<string>();
  private accountRooms = new Set<string>();
  /** Protected rooms seen at a batch end (their protection state is dropped once unprotected). */
  private readonly watched = new Set<string>();
  private readonly gapped = new Set<string>();
  /** Gaps waiting for the first event after them: room → last event seen before the gap. */
  private readonly gapAnchors = new Map<string, string | undefined>();
  private readonly lastSeen = new Map<string, string>();
  private readonly roomContexts = new Map<string, RoomContext>();
  private management: { members: Set<string>; names: string[] } | undefined;
  private readonly errorNoticeAt = new Map<string, number>();
  private firstBatch = true;
  private timer: NodeJS.Timeout | undefined;
  private readonly backfills = new Set<Promise<void>>();

  constructor(bot: BotParts, opts: ProtectionsFeatureOptions = {}) {
    this.bot = bot;
    this.log = bot.log.child({ module: "protections" });
    this.protections = opts.protections ?? BUILTIN_PROTECTIONS;
    this.scheduler = opts.scheduler;
    this.customIsProtected = opts.isProtected;
    this.now = opts.now ?? Date.now;
    this.tickMs = opts.tickMs ?? 15_000;
    this.coalescer = new DryRunCoalescer({ windowMs: opts.dryRunWindowMs ?? 30_000 });
    this.pipeline = new ProtectionPipeline({
      botUserId: bot.session.userId,
      protections: this.protections,
      memberState: bot.state,
    });
  }

  // ---- protected rooms ----

  isProtected(roomId: string): boolean {
    if (this.customIsProtected !== undefined) return this.customIsProtected(roomId);
    return (
      roomId !== this.bot.managementRoomId && (this.configRooms.has(roomId) || this.accountRooms.has(roomId))
    );
  }

  /** Protected rooms the bot is in. */
  protectedRoomIds(): string[] {
    return this.bot.state.roomIds().filter((r) => this.isProtected(r));
  }

  // ---- lifecycle ----

  async start(): Promise<void> {
    for (const ref of this.customIsProtected === undefined ? this.bot.config.protectedRooms : []) {
      if (ref.startsWith("!")) {
        this.configRooms.add(ref);
        continue;
      }
      try {
        this.configRooms.add(await this.bot.client.resolveRoom(ref));
      } catch (e) {
        this.log.warn({ room: ref, err: e }, "cannot resolve a protected room alias; it is not protected");
      }
    }
    const every = Math.min(this.tickMs, Math.max(1_000, Math.floor(this.coalescer.windowMs / 3)));
    let sinceTick = 0;
    this.timer = setInterval(() => {
      sinceTick += every;
      if (sinceTick >= this.tickMs) {
        sinceTick = 0;
        this.tick();
      }
      this.flushDryRun(false);
    }, every);
    this.timer.unref?.();
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.flushDryRun(true);
    await Promise.allSettled([...this.backfills]);
  }

  /** Resolves once the settings from the first sync are in effect. */
  whenLoaded(): Promise<void> {
    if (this.loaded) return Promise.resolve();
    return new Promise((r) => this.loadedWaiters.push(r));
  }

  get config(): ProtectionsConfig {
    return this.pipeline.config;
  }

  // ---- router callbacks ----

  onAccountData(type: string, content: Record<string, unknown>): void {
    if (type === PROTECTED_ROOMS_KEY) {
      // Problems with the content are reported by the policy feature, which reads the same key.
      // Aliases count once the policy feature has resolved them into the protected set.
      this.accountRooms = new Set(parseProtectedRooms(content).rooms.filter((r) => r.startsWith("!")));
      return;
    }
    if (type !== TYR_PROTECTIONS_KEY && type !== MJOLNIR_ENABLED_KEY) return;
    const ours = this.written.get(type)?.includes(stableJson(content)) === true;
    if (ours) return; // our own write coming back: already in effect
    this.raw.set(type, content);
    if (this.loaded) this.reload("account data changed");
  }

  onState(roomId: string, ev: StateEvent): void {
    if (roomId === this.bot.managementRoomId && ev.type === "m.room.member") this.management = undefined;
    if (ev.type === "m.room.power_levels" || ev.type === "m.room.join_rules" || ev.type === "m.room.create")
      this.roomContexts.delete(roomId);
  }

  onLeave(roomId: string): void {
    this.pipeline.forgetRoom(roomId);
    this.watched.delete(roomId);
    this.roomContexts.delete(roomId);
    this.lastSeen.delete(roomId);
    if (roomId === this.bot.managementRoomId) this.management = undefined;
  }

  onGap(roomId: string): void {
    if (!this.isProtected(roomId)) return;
    this.gapped.add(roomId);
    this.gapAnchors.set(roomId, this.lastSeen.get(roomId));
  }

  onTimeline(ev: TimelineEvent, meta: BatchMeta): void {
    if (this.firstBatch) this.ensureLoaded();
    if (meta.initial || !this.isProtected(ev.roomId)) return;
    const room = ev.roomId;
    if (this.gapAnchors.has(room)) {
      const stopAt = this.gapAnchors.get(room);
      this.gapAnchors.delete(room);
      this.startBackfill(room, ev.eventId, stopAt);
    }
    this.lastSeen.set(room, ev.eventId);
    this.judge(ev.raw, room, this.gapped.has(room) || this.firstBatch);
  }

  onBatchEnd(): void {
    if (this.firstBatch) this.ensureLoaded();
    this.firstBatch = false;
    this.gapped.clear();
    for (const room of this.protectedRoomIds()) this.watched.add(room);
    // Rooms no longer protected: their protection state goes (it is stale when they come back).
    for (const room of this.watched) {
      if (!this.isProtected(room)) {
        this.watched.delete(room);
        this.pipeline.forgetRoom(room);
        this.roomContexts.delete(room);
      }
    }
  }

  // ---- judging events ----

  /** Runs one raw event of a protected room through the pipeline and submits the outcome. */
  private judge(raw: RawEvent, room: string, backlog: boolean): void {
    // The bot's own messages need no judging; its own kicks and bans still update join tracking.
    if (raw.sender === this.bot.session.userId && raw.type !== "m.room.member") return;
    const now = this.now();
    if (backlog && typeof raw.origin_server_ts === "number" && raw.origin_server_ts < now - BACKLOG_MS) {
      this.counters.skippedBacklog++;
      return;
    }
    let result: PipelineResult;
    try {
      result = this.pipeline.handleRaw(raw, room, this.roomContext(room), now);
    } catch (e) {
      // The pipeline catches protection failures; this is a bug in the pipeline itself.
      this.log.error({ err: e, room }, "protection pipeline failed");
      return;
    }
    this.handleResult(result, room);
  }

  private handleResult(result: PipelineResult, room: string): void {
    for (const err of result.errors) {
      this.counters.errors++;
      this.log.error({ protection: err.protection, room: err.room, eventId: err.eventId }, err.error);
      const last = this.errorNoticeAt.get(err.protection) ?? Number.NEGATIVE_INFINITY;
      if (this.now() - last >= ERROR_NOTICE_INTERVAL_MS) {
        this.errorNoticeAt.set(err.protection, this.now());
        this.notify(
          `Protection ${err.protection} failed in ${err.room}: ${err.error} (more failures are only logged)`,
        );
      }
    }
    this.submit(result.consequences, room);
  }

  private submit(cs: readonly Consequence[], room: string): void {
    for (const c of cs) {
      if (c.kind === "notify" && c.cause.by === "protection" && c.cause.dryRun === true) {
        for (const text of this.coalescer.add(c.cause.name, room, c.text, this.now())) {
          this.counters.dryRunNotices++;
          this.notify(text, c.cause);
        }
        continue;
      }
      this.counters.issued++;
      // Stopping the offender comes first: a ban queued behind hundreds of redactions would let
      // them keep posting (and make more redactions) until it runs.
      const opts = { front: SANCTIONS.has(c.kind) };
      const p =
        c.kind === "mute" && c.durationMs !== undefined && this.scheduler !== undefined
          ? this.scheduler.submitMute(c, opts)
          : this.bot.queue.submit(c, opts);
      void p.then(
        (r: Result) => {
          if (r.outcome === "done") this.counters.done++;
          else if (r.outcome === "failed") this.counters.failed++;
        },
        () => this.counters.failed++,
      );
    }
  }

  private notify(text: string, cause: Consequence["cause"] = { by: "system", what: "protections" }): void {
    void this.bot.queue.submit({ kind: "notify", text, cause });
  }

  private tick(): void {
    try {
      const r = this.pipeline.tick(this.now());
      this.handleResult(r, "");
    } catch (e) {
      this.log.error({ err: e }, "protection timers failed");
    }
  }

  private flushDryRun(all: boolean): void {
    const texts = all ? this.coalescer.flushAll() : this.coalescer.flush(this.now());
    for (const t of texts) {
      this.counters.dryRunNotices++;
      this.notify(t, { by: "system", what: "protections dry-run" });
    }
  }

  /** What the pipeline needs to know about a room (cached until its state changes); also used by
   *  the homeserver check (src/antispam/). */
  roomContext(room: string): RoomContext {
    const mgmt = this.managementInfo();
    let ctx = this.roomContexts.get(room);
    if (ctx === undefined) {
      const state = this.bot.state.peek(room);
      const create = state?.createEvent;
      const creators = create ? roomCreators({ sender: create.sender, content: create.content }) : [];
      const joinRule = state?.get("m.room.join_rules")?.content.join_rule;
      ctx = {
        ...(state?.get("m.room.power_levels") !== undefined
          ? { powerLevels: parsePowerLevels(state.powerLevels, creators) }
          : {}),
        ...(typeof joinRule === "string" ? { joinRule } : {}),
      };
      this.roomContexts.set(room, ctx);
    }
    return { ...ctx, managementMembers: mgmt.members, protectedNames: mgmt.names };
  }

  private managementInfo(): { members: Set<string>; names: string[] } {
    if (this.management !== undefined) return this.management;
    const state = this.bot.state.peek(this.bot.managementRoomId);
    const members = this.bot.moderators();
    const names = new Set<string>();
    for (const m of members) {
      const n = state?.displayName(m);
      if (n !== undefined && n.trim().length > 0) names.add(n);
    }
    this.management = { members, names: [...names] };
    return this.management;
  }

  /** Fetches what a gap in a room's timeline skipped (back to the last event seen, or BACKLOG_MS). */
  private startBackfill(room: string, anchor: string, stopAt: string | undefined): void {
    const job = this.backfill(room, anchor, stopAt)
      .catch((e) => this.log.warn({ err: e, room }, "cannot fetch the events a sync gap skipped"))
      .finally(() => this.backfills.delete(job));
    this.backfills.add(job);
  }

  private async backfill(room: string, anchor: string, stopAt: string | undefined): Promise<void> {
    const enc = encodeURIComponent;
    const notBefore = this.now() - BACKLOG_MS;
    const missed: RawEvent[] = [];
    const ctx = (await this.bot.client.doRequest(
      "GET",
      `/_matrix/client/v3/rooms/${enc(room)}/context/${enc(anchor)}`,
      { limit: 200 },
    )) as { events_before?: RawEvent[]; start?: string };
    let batch = ctx.events_before ?? [];
    let from = ctx.start;
    let done = false;
    while (!done) {
      for (const ev of batch) {
        if (ev.event_id === stopAt || missed.length >= MAX_BACKFILL) {
          done = true;
          break;
        }
        if (typeof ev.origin_server_ts === "number" && ev.origin_server_ts < notBefore) {
          done = true;
          break;
        }
        missed.push(ev);
      }
      if (done || from === undefined || batch.length === 0) break;
      const page = (await this.bot.client.doRequest("GET", `/_matrix/client/v3/rooms/${enc(room)}/messages`, {
        dir: "b",
        from,
        limit: 100,
      })) as { chunk?: RawEvent[]; end?: string };
      batch = page.chunk ?? [];
      from = page.end;
    }
    if (missed.length === 0) return;
    this.log.info({ room, events: missed.length }, "judging events a sync gap skipped");
    for (const raw0 of missed.reverse()) {
      let raw = raw0;
      if (raw.type === "m.room.encrypted" && this.bot.router.decryptor) {
        const clear = await this.bot.router.decryptor(room, raw);
        if (clear === "drop") continue;
        if (clear) raw = clear.event;
      }
      if (typeof raw.state_key === "string" && raw.type !== "m.room.member") continue;
      this.judge(raw, room, true);
    }
  }

  // ---- settings ----

  private ensureLoaded(): void {
    if (this.loaded) return;
    this.loaded = true;
    const problems = this.reload("startup");
    // Broken settings at start-up: protections with half their settings defaulted could act in
    // ways nobody chose, so Tyr waits in safe mode (README: Safe mode). Later edits only warn.
    if (problems.length > 0)
      this.bot.safeMode.add({
        key: "protections",
        what: `the protection settings in Tyr's account data (${TYR_PROTECTIONS_KEY}) are broken: ${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ""}`,
        fix: "protections reset",
      });
    for (const w of this.loadedWaiters) w();
    this.loadedWaiters = [];
  }

  /** Puts the stored settings into effect; returns the problems found in them. */
  private reload(why: string): readonly string[] {
    const tyr = this.raw.get(TYR_PROTECTIONS_KEY);
    const parsed = parsePersisted(tyr, this.raw.get(MJOLNIR_ENABLED_KEY), this.protections);
    const rawOptions = isObj(tyr) && isObj(tyr.options) ? tyr.options : {};
    this.explicitOptions = new Set(Object.keys(rawOptions).filter((k) => Object.hasOwn(PIPELINE_OPTIONS, k)));
    let config = parsed.config;
    if (!this.explicitOptions.has("exemptPowerLevel")) {
      // The YAML config gives the default; an explicit account-data value wins.
      const level = Math.max(1, this.bot.config.protections.exemptPowerLevel);
      config = { ...config, options: { ...config.options, exemptPowerLevel: level } };
    }
    this.apply(config);
    this.log.info({ why, enabled: this.enabledNames() }, "protection settings loaded");
    const problems = parsed.problems.join("\n");
    if (problems !== "" && problems !== this.reportedProblems) {
      const lines = parsed.problems.slice(0, MAX_PROBLEM_LINES).map((p) => `- ${p}`);
      if (parsed.problems.length > MAX_PROBLEM_LINES)
        lines.push(`- … and ${parsed.problems.length - MAX_PROBLEM_LINES} more (see the log)`);
      for (const p of parsed.problems) this.log.warn(`protection settings: ${p}`);
      this.notify(
        `Problems in the protection settings (the defaults apply where a value is unusable):\n${lines.join("\n")}`,
      );
    }
    this.reportedProblems = problems;
    return parsed.problems;
  }

  private apply(config: ProtectionsConfig): void {
    this.pipeline.setConfig(config);
    for (const l of this.configListeners) l(config);
  }

  /** Called with every settings change in effect (the homeserver check keeps its own pipeline). */
  readonly configListeners: ((config: ProtectionsConfig) => void)[] = [];

  /** Whether the settings from account data are in effect yet. */
  get settingsLoaded(): boolean {
    return this.loaded;
  }

  /**
   * Applies an edit (from a command): computed against the current settings, saved to account data,
   * then put into effect. Edits run one at a time, so concurrent commands never lose each other's changes.
   */
  edit(fn: (config: ProtectionsConfig) => EditResult): Promise<EditResult> {
    const run = async (): Promise<EditResult> => {
      await this.whenLoaded();
      const r = fn(this.pipeline.config);
      if (!r.ok) return r;
      await this.persist(r.config);
      this.apply(r.config);
      return r;
    };
    const p = this.editChain.then(run, run);
    this.editChain = p.catch(() => undefined);
    return p;
  }

  private async persist(config: ProtectionsConfig): Promise<void> {
    const s = serialise(config, this.protections);
    const tyr = s[TYR_PROTECTIONS_KEY] as Obj;
    const options = isObj(tyr.options) ? tyr.options : {};
    const kept: Obj = {};
    for (const k of this.explicitOptions) if (Object.hasOwn(options, k)) kept[k] = options[k];
    const contents: [string, Obj][] = [
      [TYR_PROTECTIONS_KEY, { ...tyr, options: kept }],
      [MJOLNIR_ENABLED_KEY, s[MJOLNIR_ENABLED_KEY] as unknown as Obj],
    ];
    for (const [type, content] of contents) await this.writeAccountData(type, content);
  }

  /**
   * `protections reset` with no name: Tyr's own protection settings are cleared (written as {}), so
   * the defaults apply; the protections a Mjolnir migration switched on stay as they are.
   */
  clearAll(): Promise<void> {
    const run = async (): Promise<void> => {
      await this.whenLoaded();
      await this.writeAccountData(TYR_PROTECTIONS_KEY, {});
      this.reload("protections reset");
    };
    const p = this.editChain.then(run, run);
    this.editChain = p.catch(() => undefined);
    return p;
  }

  private async writeAccountData(type: string, content: Obj): Promise<void> {
    const list = this.written.get(type) ?? [];
    list.push(stableJson(content));
    if (list.length > 20) list.shift();
    this.written.set(type, list);
    await this.bot.client.doRequest(
      "PUT",
      `/_matrix/client/v3/user/${encodeURIComponent(this.bot.session.userId)}/account_data/${encodeURIComponent(type)}`,
      null,
      content,
    );
    this.raw.set(type, content);
  }

  // ---- reporting ----

  enabledNames(): string[] {
    return this.protections.filter((p) => effectiveConfig(this.config, p).enabled).map((p) => p.name);
  }

  statusLines(): StatusLine[] {
    const config = this.config;
    const enabled = this.enabledNames();
    const dry = this.protections
      .filter((p) => {
        const e = effectiveConfig(config, p);
        return e.enabled && e.dryRun;
      })
      .map((p) => p.name);
    let overrides = 0;
    const rooms = new Set<string>();
    for (const pc of Object.values(config.protections)) {
      for (const r of Object.keys(pc.rooms)) {
        overrides++;
        rooms.add(r);
      }
    }
    const c = this.counters;
    return [
      {
        label: "Protections",
        value:
          (enabled.length === 0 ? "none enabled" : `${enabled.join(", ")}`) +
          (dry.length > 0 ? ` (dry-run: ${dry.join(", ")})` : "") +
          ` · ${this.protectedRoomIds().length} protected rooms` +
          (overrides > 0 ? ` · ${overrides} room overrides in ${rooms.size} rooms` : ""),
      },
      {
        label: "Protection actions",
        value:
          `${c.issued} issued · ${c.done} done · ${c.failed} failed` +
          (c.dryRunNotices > 0 ? ` · ${c.dryRunNotices} dry-run notices` : "") +
          (c.errors > 0 ? ` · ${c.errors} protection errors` : ""),
      },
    ];
  }
}
