// Runs the enabled protections over one event and turns their decisions into consequences:
// per-protection failures are caught and reported, dry-run decisions become notices, and
// incidents make sure an offender's in-flight messages are cleaned up — each event redacted once.
// No network: the caller executes the consequences (through the consequence queue).
import type { Cause, Consequence } from "../consequences/types.ts";
import {
  defaultConfig,
  effectiveConfig,
  resolveSettings,
  type PipelineOptionValues,
  type ProtectionsConfig,
} from "./config.ts";
import { normaliseEvent, type ProtectionEvent } from "./event.ts";
import { isExempt } from "./exemptions.ts";
import type { AnyProtection, HandlerContext, RoomContext, TickContext } from "./framework.ts";
import { Lru } from "./lru.ts";
import { formatDuration } from "./settings.ts";

export interface PipelineLimits {
  /** Rooms whose protection state is kept (least recently active forgotten first). */
  readonly rooms: number;
  /** Tracked join times (room, user). */
  readonly members: number;
  /** Open incidents (room, user). */
  readonly incidents: number;
  /** Remembered redacted event IDs (never redact twice). */
  readonly redacted: number;
  /** Users whose recent messages are remembered for cleanup, and how many each. */
  readonly recentUsers: number;
  readonly recentPerUser: number;
}

export const DEFAULT_LIMITS: PipelineLimits = {
  rooms: 1_000,
  members: 200_000,
  incidents: 20_000,
  redacted: 50_000,
  recentUsers: 20_000,
  recentPerUser: 25,
};

export interface ProtectionError {
  readonly protection: string;
  readonly room: string;
  readonly eventId?: string;
  readonly error: string;
}

export interface PipelineResult {
  readonly consequences: Consequence[];
  readonly errors: ProtectionError[];
  /** Why nothing ran (unparseable event, exempt sender, the bot's own event). */
  readonly skipped?: string;
}

/**
 * Join times from room state (`RoomStateCache`): every current member's, kept by the sync router
 * anyway. The pipeline's own bounded store holds only the joins it saw live; a member it never saw
 * join (joined before start-up) or has forgotten is looked up here, so no member is ever taken for
 * an old one because a store overflowed.
 */
export interface MemberJoins {
  joinedAt(room: string, user: string): number | undefined;
  /** The user's current member event is a profile change of an ongoing stay, not a join. */
  continuesStay(room: string, user: string): boolean;
}

export interface PipelineInit {
  readonly botUserId: string;
  readonly protections: readonly AnyProtection[];
  readonly config?: ProtectionsConfig;
  readonly limits?: Partial<PipelineLimits>;
  /** Where join times the pipeline did not see live come from (room state); none without it. */
  readonly memberState?: MemberJoins;
}

/** A protection enabled in a room, with its resolved settings. */
export interface EnabledProtection {
  readonly protection: AnyProtection;
  readonly settings: Record<string, unknown>;
  readonly dryRun: boolean;
  readonly cause: Cause;
}

interface Incident {
  readonly protection: string;
  until: number;
  /** Sanction kinds already issued during this incident: in-flight events don't repeat them. */
  readonly sanctions: Set<string>;
}

interface Recent {
  readonly eventId: string;
  readonly at: number;
}

const SANCTIONS = new Set(["ban", "kick", "mute"]);
const EMPTY_SET: ReadonlySet<string> = new Set();

const key = (room: string, user: string) => `${room}\n${user}`;

/** One line describing what a consequence does, for dry-run notices. */
export function describeConsequence(c: Consequence): string {
  switch (c.kind) {
    case "ban":
    case "unban":
    case "kick":
      return `${c.kind} ${c.user} in ${c.room} (${c.reason})`;
    case "mute":
      return `mute ${c.user} in ${c.room}${c.durationMs !== undefined ? ` for ${formatDuration(c.durationMs)}` : ""} (${c.reason})`;
    case "redact":
      return `redact ${c.event} in ${c.room} (${c.reason})`;
    case "setJoinRule":
      return `set the join rule of ${c.room} to ${c.joinRule} (${c.reason})`;
    case "deactivate":
      return `deactivate ${c.user} (${c.reason})`;
    case "setAcl":
      return `change the server ACL of ${c.room}`;
    case "warn":
      return `warn in ${c.room}: ${JSON.stringify(c.text)}`;
    case "notify":
      return `tell moderators: ${c.text}`;
    default:
      // Kinds protections don't produce (sends, future additions): name them at least.
      return `${(c as { kind: string }).kind} (${"room" in c ? String(c.room) : "no room"})`;
  }
}

/** The notice that replaces a dry-run protection's consequences (null when there are none). */
export function dryRunNotice(protection: string, consequences: readonly Consequence[]): Consequence | null {
  if (consequences.length === 0) return null;
  const lines = consequences.map(describeConsequence);
  const text =
    lines.length === 1
      ? `[dry-run] ${protection} would ${lines[0]}`
      : `[dry-run] ${protection} would:\n${lines.map((l) => `- ${l}`).join("\n")}`;
  return { kind: "notify", text, cause: { by: "protection", name: protection, dryRun: true } };
}

export class ProtectionPipeline {
  readonly botUserId: string;
  readonly protections: readonly AnyProtection[];
  readonly limits: PipelineLimits;
  #config: ProtectionsConfig;
  readonly #roomStates: Lru<string, Map<string, unknown>>;
  readonly #entries: Lru<string, readonly EnabledProtection[]>;
  readonly #globalSettings = new Map<string, Record<string, unknown>>();
  readonly #members: Lru<string, number>;
  readonly #incidents: Lru<string, Incident>;
  readonly #recent: Lru<string, Recent[]>;
  readonly #redacted: Lru<string, true>;
  readonly #memberState: MemberJoins | undefined;

  constructor(init: PipelineInit) {
    this.#memberState = init.memberState;
    this.botUserId = init.botUserId;
    this.protections = init.protections;
    this.limits = { ...DEFAULT_LIMITS, ...init.limits };
    this.#config = init.config ?? defaultConfig();
    this.#roomStates = new Lru(this.limits.rooms);
    this.#entries = new Lru(this.limits.rooms);
    this.#members = new Lru(this.limits.members);
    this.#incidents = new Lru(this.limits.incidents);
    this.#recent = new Lru(this.limits.recentUsers);
    this.#redacted = new Lru(this.limits.redacted);
  }

  get config(): ProtectionsConfig {
    return this.#config;
  }

  get options(): PipelineOptionValues {
    return this.#config.options;
  }

  /** Replaces the configuration (after a command or an account-data change). State is kept. */
  setConfig(config: ProtectionsConfig): void {
    this.#config = config;
    this.#entries.clear();
    this.#globalSettings.clear();
  }

  /** When the user's current stay in the room began: seen live, else from room state (clamped to `now`). */
  #joinedAt(room: string, user: string, now: number): number | undefined {
    const live = this.#members.peek(key(room, user));
    if (live !== undefined) return live;
    const at = this.#memberState?.joinedAt(room, user);
    return at !== undefined && at > 0 ? Math.min(at, now) : undefined;
  }

  /** Drops all state of a room (the bot left it or it is no longer protected). */
  forgetRoom(room: string): void {
    this.#roomStates.delete(room);
    this.#entries.delete(room);
  }

  /** Sizes of the bounded stores, for monitoring and tests. */
  stats(): Record<string, number> {
    return {
      rooms: this.#roomStates.size,
      members: this.#members.size,
      incidents: this.#incidents.size,
      recent: this.#recent.size,
      redacted: this.#redacted.size,
    };
  }

  /** Enabled protections for a room with their resolved settings (cached until setConfig). */
  enabledFor(room: string): readonly EnabledProtection[] {
    const cached = this.#entries.get(room);
    if (cached !== undefined) return cached;
    const out: EnabledProtection[] = [];
    for (const p of this.protections) {
      const eff = effectiveConfig(this.#config, p, room);
      if (!eff.enabled) continue;
      const roomSpecific = Object.values(eff.source).includes("room");
      let settings = roomSpecific ? undefined : this.#globalSettings.get(p.name);
      if (settings === undefined) {
        settings = resolveSettings(p, eff.stored);
        if (!roomSpecific) this.#globalSettings.set(p.name, settings);
      }
      out.push({ protection: p, settings, dryRun: eff.dryRun, cause: { by: "protection", name: p.name } });
    }
    this.#entries.set(room, out);
    return out;
  }

  #stateOf(room: string, p: AnyProtection): unknown {
    const states = this.#roomStates.getOrCreate(room, () => new Map());
    let s = states.get(p.name);
    if (s === undefined) {
      s = p.createState();
      states.set(p.name, s);
    }
    return s;
  }

  /** Normalises a raw event and handles it; unusable events are skipped with the reason. */
  handleRaw(
    raw: unknown,
    roomId: string | undefined,
    room: RoomContext,
    now: number,
    only?: (p: EnabledProtection) => boolean,
  ): PipelineResult {
    const n = normaliseEvent(raw, roomId);
    if (!n.ok) return { consequences: [], errors: [], skipped: n.reason };
    return this.handle(n.event, room, now, only);
  }

  /** The protection with an open incident against `user` in `room` at `now`, if any. */
  incidentOf(room: string, user: string, now: number): string | undefined {
    const inc = this.#incidents.peek(key(room, user));
    return inc !== undefined && inc.until > now ? inc.protection : undefined;
  }

  /**
   * Runs every protection enabled in the event's room (or only those `only` accepts: the
   * homeserver check runs the ones enforced at the server). `now` is the receive time (ms).
   */
  handle(
    ev: ProtectionEvent,
    roomInfo: RoomContext,
    now: number,
    only?: (p: EnabledProtection) => boolean,
  ): PipelineResult {
    const consequences: Consequence[] = [];
    const errors: ProtectionError[] = [];
    if (!Number.isFinite(now)) return { consequences, errors, skipped: "invalid clock value" };
    const subject = ev.kind === "membership" ? ev.user : ev.sender;
    // Join times are tracked for every membership change, including the bot's own kicks and bans.
    if (ev.kind === "membership") {
      // Without prev_content a profile change of a member we know as joined looks like a join.
      if (
        ev.membership === "join" &&
        ev.prevMembership === null &&
        (this.#members.has(key(ev.room, ev.user)) ||
          this.#memberState?.continuesStay(ev.room, ev.user) === true)
      ) {
        ev = { ...ev, prevMembership: "join" };
      }
      this.#trackMembership(ev.room, ev.user, ev.membership, ev.prevMembership, now);
    }
    if (ev.sender === this.botUserId || subject === this.botUserId) {
      return { consequences, errors, skipped: "the bot's own event" };
    }
    if (
      isExempt({
        user: subject,
        botUserId: this.botUserId,
        managementMembers: roomInfo.managementMembers ?? EMPTY_SET,
        ...(roomInfo.powerLevels !== undefined ? { powerLevels: roomInfo.powerLevels } : {}),
        exemptPowerLevel: this.#config.options.exemptPowerLevel,
      })
    ) {
      return { consequences, errors, skipped: "exempt" };
    }

    const real: Consequence[] = [];
    const room = ev.room;
    for (const entry of this.enabledFor(room)) {
      if (only !== undefined && !only(entry)) continue;
      const p = entry.protection;
      const handler =
        ev.kind === "message" ? p.onMessage : ev.kind === "membership" ? p.onMembership : p.onReaction;
      if (handler === undefined) continue;
      const ctx: HandlerContext<Record<string, unknown>, unknown> = {
        room,
        settings: entry.settings,
        state: this.#stateOf(room, p),
        now,
        cause: entry.cause,
        roomInfo,
        joinedAt: (user: string) => this.#joinedAt(room, user, now),
      };
      let out: unknown;
      try {
        out = (handler as (e: ProtectionEvent, c: typeof ctx) => unknown).call(p, ev, ctx);
      } catch (e) {
        errors.push({ protection: p.name, room, eventId: ev.eventId, error: errorText(e) });
        continue;
      }
      const valid = checked(out);
      if (valid === null) {
        errors.push({
          protection: p.name,
          room,
          eventId: ev.eventId,
          error: "handler returned no list of consequences",
        });
        continue;
      }
      if (entry.dryRun) {
        const notice = dryRunNotice(p.name, valid);
        if (notice !== null) consequences.push(notice);
      } else {
        real.push(...valid);
      }
    }

    this.#applyIncidents(ev, subject, real, now);
    for (const c of real) {
      if (c.kind === "redact") {
        const k = key(c.room, c.event);
        if (this.#redacted.has(k)) continue;
        this.#redacted.set(k, true);
      }
      consequences.push(c);
    }
    if (ev.kind !== "membership") this.#remember(ev.room, ev.sender, ev.eventId, now);
    return { consequences, errors };
  }

  /** Timers: lets protections with `onTick` act (e.g. restore a join rule after a lockdown). */
  tick(now: number): PipelineResult {
    const consequences: Consequence[] = [];
    const errors: ProtectionError[] = [];
    if (!Number.isFinite(now)) return { consequences, errors, skipped: "invalid clock value" };
    for (const room of [...this.#roomStates.keys()]) {
      for (const entry of this.enabledFor(room)) {
        const p = entry.protection;
        if (p.onTick === undefined) continue;
        const state = this.#roomStates.peek(room)?.get(p.name);
        if (state === undefined) continue; // nothing ever happened here: nothing to time
        let out: unknown;
        try {
          const tickCtx: TickContext<Record<string, unknown>, unknown> = {
            room,
            settings: entry.settings,
            state,
            now,
            cause: entry.cause,
          };
          out = (p.onTick as (c: typeof tickCtx) => unknown).call(p, tickCtx);
        } catch (e) {
          errors.push({ protection: p.name, room, error: errorText(e) });
          continue;
        }
        const valid = checked(out);
        if (valid === null) {
          errors.push({ protection: p.name, room, error: "onTick returned no list of consequences" });
          continue;
        }
        if (entry.dryRun) {
          const notice = dryRunNotice(p.name, valid);
          if (notice !== null) consequences.push(notice);
        } else consequences.push(...valid);
      }
    }
    return { consequences, errors };
  }

  #trackMembership(room: string, user: string, membership: string, prev: string | null, now: number): void {
    const k = key(room, user);
    if (membership === "join") {
      // join → join is a profile change; without prev_content, a user we know as joined is too.
      if (prev !== "join" && !(prev === null && this.#members.has(k))) this.#members.set(k, now);
    } else if (membership === "leave" || membership === "ban") {
      this.#members.delete(k);
    }
  }

  #remember(room: string, user: string, eventId: string, now: number): void {
    const window = this.#config.options.cleanupWindowMs;
    if (window <= 0 || this.#redacted.has(key(room, eventId))) return;
    const list = this.#recent.getOrCreate(key(room, user), () => []);
    while (
      list.length > 0 &&
      ((list[0] as Recent).at < now - window || list.length >= this.limits.recentPerUser)
    ) {
      list.shift();
    }
    list.push({ eventId, at: now });
  }

  #applyIncidents(ev: ProtectionEvent, subject: string, real: Consequence[], now: number): void {
    const opts = this.#config.options;
    if (opts.incidentDurationMs <= 0) return;
    const room = ev.room;
    const existing = this.#incidents.peek(key(room, subject));
    const active = existing !== undefined && existing.until > now ? existing : undefined;

    // Decide which users this event's decisions open (or extend) an incident for.
    const opened: { user: string; protection: string }[] = [];
    for (let i = 0; i < real.length; i++) {
      const c = real[i] as Consequence;
      let user: string | null = null;
      if (SANCTIONS.has(c.kind) && "user" in c && "room" in c && c.room === room) user = c.user;
      else if (c.kind === "redact" && opts.incidentOn === "any" && c.event === ev.eventId) user = subject;
      if (user === null || c.cause.by !== "protection") continue;
      const k = key(room, user);
      const inc = this.#incidents.peek(k);
      if (inc !== undefined && inc.until > now) {
        if (SANCTIONS.has(c.kind)) {
          if (inc.sanctions.has(c.kind)) {
            real.splice(i--, 1); // already issued in this incident: in-flight events don't repeat it
            continue;
          }
          inc.sanctions.add(c.kind);
        }
        inc.until = now + opts.incidentDurationMs;
      } else {
        const sanctions = new Set<string>(SANCTIONS.has(c.kind) ? [c.kind] : []);
        this.#incidents.set(k, { protection: c.cause.name, until: now + opts.incidentDurationMs, sanctions });
        opened.push({ user, protection: c.cause.name });
      }
    }

    // Messages (and reactions) of a user with an active incident are redacted.
    if (ev.kind !== "membership" && active !== undefined) {
      real.push({
        kind: "redact",
        room,
        event: ev.eventId,
        reason: `${active.protection}: message sent during an active incident`,
        cause: { by: "protection", name: active.protection },
      });
    }

    // A new incident also cleans up what the offender posted just before, including the message
    // that triggered it (a protection that only sanctioned, e.g. banned, would leave it up).
    if (opts.cleanupWindowMs <= 0) return;
    for (const o of opened) {
      const targets = (this.#recent.peek(key(room, o.user)) ?? [])
        .filter((r) => r.at >= now - opts.cleanupWindowMs)
        .map((r) => r.eventId);
      if (ev.kind !== "membership" && o.user === subject) targets.push(ev.eventId);
      for (const eventId of targets) {
        if (real.some((c) => c.kind === "redact" && c.event === eventId)) continue;
        real.push({
          kind: "redact",
          room,
          event: eventId,
          reason: `${o.protection}: cleaning up after an offender`,
          cause: { by: "protection", name: o.protection },
        });
      }
      this.#recent.delete(key(room, o.user));
    }
  }
}

/** A handler's return value as consequences, or null when it isn't a list of them (a bug). */
function checked(out: unknown): Consequence[] | null {
  if (!Array.isArray(out)) return null;
  for (const c of out as unknown[]) {
    if (typeof c !== "object" || c === null) return null;
    const { kind, cause } = c as { kind?: unknown; cause?: unknown };
    if (typeof kind !== "string" || typeof cause !== "object" || cause === null) return null;
  }
  return out as Consequence[];
}

function errorText(e: unknown): string {
  const s = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return s.length > 500 ? s.slice(0, 500) + "…" : s;
}
