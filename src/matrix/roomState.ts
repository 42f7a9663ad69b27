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

/** Validates the envelope of a state event; content stays untrusted (an object, nothing more). */
export function toStateEvent(raw: RawEvent): StateEvent | undefined {
  if (typeof raw.type !== "string" || typeof raw.state_key !== "string") return undefined;
  const content =
    raw.content && typeof raw.content === "object" && !Array.isArray(raw.content) ? raw.content : {};
  const ev: StateEvent = {
    type: raw.type,
    stateKey: raw.state_key,
    sender: typeof raw.sender === "string" ? raw.sender : "",
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
  /** When each joined member's current stay began, where Tyr can tell (see `joinedAt`). */
  private readonly joinedSince = new Map<string, number>();

  constructor(roomId: string) {
    this.roomId = roomId;
  }

  /** Stores the event; returns the previous event at the same (type, state key), if any. */
  set(ev: StateEvent): StateEvent | undefined {
    let m = this.byType.get(ev.type);
    if (!m) this.byType.set(ev.type, (m = new Map()));
    const prev = m.get(ev.stateKey);
    m.set(ev.stateKey, ev);
    if (ev.type === "m.room.member") this.trackJoin(ev, prev);
    return prev;
  }

  /**
   * A join starts a stay; a later profile change (join → join) does not restart it. Without the
   * previous event (the first full state), the server's `prev_content` tells a join from a
   * profile change; a profile change of someone whose join Tyr never saw leaves the time unknown.
   */
  private trackJoin(ev: StateEvent, prev: StateEvent | undefined): void {
    const user = ev.stateKey;
    if (ev.content.membership !== "join") {
      this.joinedSince.delete(user);
      return;
    }
    const wasJoined = prev !== undefined ? prev.content.membership === "join" : ev.prevMembership === "join";
    if (!wasJoined) this.joinedSince.set(user, ev.ts);
  }

  /**
   * When the user's current stay in the room began (the join event's origin_server_ts), or
   * undefined when they are not joined or joined before anything Tyr saw says when.
   */
  joinedAt(userId: string): number | undefined {
    return this.joinedSince.get(userId);
  }

  /** Joined members whose stay began between `from` and `to` (epoch ms, inclusive), with when. */
  joinedBetween(from: number, to: number): [user: string, at: number][] {
    const out: [string, number][] = [];
    for (const [user, at] of this.joinedSince) if (at >= from && at <= to) out.push([user, at]);
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

  roomIds(): string[] {
    return [...this.rooms.keys()];
  }
}
