// Current state of every joined room, kept from /sync (never by re-fetching /state): member
// lists, power levels, ACLs and policy rules all come from here. Only well-formed state events
// are stored; anything else is dropped with a reason by the caller.
import type { RawEvent } from "./syncTypes.ts";

export interface StateEvent {
  type: string;
  stateKey: string;
  sender: string;
  eventId: string;
  content: Record<string, unknown>;
  ts: number;
  /** For m.room.member: the membership this event replaced, as the server said (`unsigned.prev_content`). */
  prevMembership?: string;
}

export type Membership = "join" | "invite" | "knock" | "leave" | "ban";

/**
 * The state event types every room has many of, as one shared string each: a parsed /sync body
 * holds its own copy of the type in every event, and a cache of 1,000 rooms keeps hundreds of
 * thousands of member events (measured: 12 MB of duplicate type strings at 300,000 memberships).
 */
const SHARED_TYPES: ReadonlyMap<string, string> = new Map(
  [
    "m.room.member",
    "m.policy.rule.user",
    "m.policy.rule.server",
    "m.policy.rule.room",
    "m.room.rule.user",
    "m.room.rule.server",
    "m.room.rule.room",
    "org.matrix.mjolnir.rule.user",
    "org.matrix.mjolnir.rule.server",
    "org.matrix.mjolnir.rule.room",
  ].map((t) => [t, t]),
);

/** Validates the envelope of a state event; content stays untrusted (an object, nothing more). */
export function toStateEvent(raw: RawEvent): StateEvent | undefined {
  if (typeof raw.type !== "string" || typeof raw.state_key !== "string") return undefined;
  const content =
    raw.content && typeof raw.content === "object" && !Array.isArray(raw.content) ? raw.content : {};
  const stateKey = raw.state_key;
  const sender = typeof raw.sender === "string" ? raw.sender : "";
  const ev: StateEvent = {
    type: SHARED_TYPES.get(raw.type) ?? raw.type,
    stateKey,
    // A member's own join/leave: one string for both (the parsed body has two equal copies).
    sender: sender === stateKey ? stateKey : sender,
    eventId: typeof raw.event_id === "string" ? raw.event_id : "",
    content: content as Record<string, unknown>,
    ts: typeof raw.origin_server_ts === "number" ? raw.origin_server_ts : 0,
  };
  if (raw.type === "m.room.member") {
    const prev = (raw.unsigned as { prev_content?: { membership?: unknown } } | undefined)?.prev_content;
    if (typeof prev?.membership === "string") ev.prevMembership = prev.membership;
  }
  return ev;
}

export class RoomState {
  readonly roomId: string;
  private readonly byType = new Map<string, Map<string, StateEvent>>();
  /**
   * When a joined member's current stay began, for the few members where that is NOT the
   * timestamp of their current member event (a profile change after the join: the earlier start,
   * or null when Tyr never saw the join). Everyone else's stay began at their member event, so
   * 300,000 memberships need no second table (see `joinedAt`).
   */
  private readonly staySince = new Map<string, number | null>();

  constructor(roomId: string) {
    this.roomId = roomId;
  }

  /** Stores the event; returns the previous event at the same (type, state key), if any. */
  set(ev: StateEvent): StateEvent | undefined {
    let m = this.byType.get(ev.type);
    if (!m) this.byType.set(ev.type, (m = new Map()));
    const prev = m.get(ev.stateKey);
    if (ev.type === "m.room.member") this.trackJoin(ev, prev);
    m.set(ev.stateKey, ev);
    return prev;
  }

  /**
   * A join starts a stay; a later profile change (join → join) does not restart it. Without the
   * previous event (the first full state), the server's `prev_content` tells a join from a
   * profile change; a profile change of someone whose join Tyr never saw leaves the time unknown.
   * Called before `ev` replaces `prev`.
   */
  private trackJoin(ev: StateEvent, prev: StateEvent | undefined): void {
    const user = ev.stateKey;
    const wasJoined = prev !== undefined ? prev.content.membership === "join" : ev.prevMembership === "join";
    if (ev.content.membership !== "join" || !wasJoined) {
      this.staySince.delete(user); // no stay, or one that starts at `ev`
      return;
    }
    this.staySince.set(user, prev !== undefined ? this.stayStart(prev) : null);
  }

  private stayStart(ev: StateEvent): number | null {
    if (ev.content.membership !== "join") return null;
    const since = this.staySince.get(ev.stateKey);
    return since === undefined ? ev.ts : since;
  }

  /**
   * When the user's current stay in the room began (the join event's origin_server_ts), or
   * undefined when they are not joined or joined before anything Tyr saw says when.
   */
  joinedAt(userId: string): number | undefined {
    const ev = this.get("m.room.member", userId);
    return ev === undefined ? undefined : (this.stayStart(ev) ?? undefined);
  }

  /**
   * True when the user's current member event continues an earlier stay (a profile change) rather
   * than starting one, as far as Tyr can tell: what a protection needs to tell a join from a rename
   * when the event lacks `prev_content`.
   */
  continuesStay(userId: string): boolean {
    return this.staySince.has(userId) && this.membership(userId) === "join";
  }

  /** Joined members whose stay began between `from` and `to` (epoch ms, inclusive), with when. */
  joinedBetween(from: number, to: number): [user: string, at: number][] {
    const out: [string, number][] = [];
    for (const ev of this.all("m.room.member")) {
      const at = this.stayStart(ev);
      if (at !== null && at >= from && at <= to) out.push([ev.stateKey, at]);
    }
    return out;
  }

  get(type: string, stateKey = ""): StateEvent | undefined {
    return this.byType.get(type)?.get(stateKey);
  }

  /** Event types present in the state. */
  types(): IterableIterator<string> {
    return this.byType.keys();
  }

  all(type: string): IterableIterator<StateEvent> {
    return (this.byType.get(type) ?? new Map<string, StateEvent>()).values();
  }

  membership(userId: string): Membership | undefined {
    const m = this.get("m.room.member", userId)?.content.membership;
    return typeof m === "string" ? (m as Membership) : undefined;
  }

  /** User IDs whose current membership is one of `which`. */
  members(which: readonly Membership[] = ["join"]): string[] {
    const out: string[] = [];
    for (const ev of this.all("m.room.member")) {
      const m = ev.content.membership;
      if (typeof m === "string" && (which as readonly string[]).includes(m)) out.push(ev.stateKey);
    }
    return out;
  }

  displayName(userId: string): string | undefined {
    const d = this.get("m.room.member", userId)?.content.displayname;
    return typeof d === "string" ? d : undefined;
  }

  get powerLevels(): Record<string, unknown> {
    return this.get("m.room.power_levels")?.content ?? {};
  }

  get createEvent(): StateEvent | undefined {
    return this.get("m.room.create");
  }

  get encrypted(): boolean {
    return this.get("m.room.encryption") !== undefined;
  }
}

export class RoomStateCache {
  private readonly rooms = new Map<string, RoomState>();

  room(roomId: string): RoomState {
    let r = this.rooms.get(roomId);
    if (!r) this.rooms.set(roomId, (r = new RoomState(roomId)));
    return r;
  }

  peek(roomId: string): RoomState | undefined {
    return this.rooms.get(roomId);
  }

  forget(roomId: string): void {
    this.rooms.delete(roomId);
  }

  /** `RoomState.joinedAt` of a room Tyr is in (undefined for other rooms). */
  joinedAt(roomId: string, userId: string): number | undefined {
    return this.rooms.get(roomId)?.joinedAt(userId);
  }

  /** `RoomState.continuesStay` of a room Tyr is in (false for other rooms). */
  continuesStay(roomId: string, userId: string): boolean {
    return this.rooms.get(roomId)?.continuesStay(userId) ?? false;
  }

  roomIds(): string[] {
    return [...this.rooms.keys()];
  }
}
