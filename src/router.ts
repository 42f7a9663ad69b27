// Splits each /sync batch into what the rest of Tyr cares about: state changes (kept in the room
// state cache, then announced), timeline events, account data, invites and left rooms. Events are
// validated here once; subscribers get well-formed envelopes and must still treat content as untrusted.
import type { Logger } from "./logging.ts";
import { RoomStateCache, toStateEvent, type StateEvent } from "./matrix/roomState.ts";
import type { RawEvent, SyncResponse } from "./matrix/syncTypes.ts";

export interface TimelineEvent {
  roomId: string;
  type: string;
  eventId: string;
  sender: string;
  content: Record<string, unknown>;
  ts: number;
  stateKey?: string;
  redacts?: string;
  /** True when the event came to us encrypted and was decrypted. */
  decrypted?: boolean;
  /** What the crypto engine knows about the sender's device (for the command trust gate). */
  decryption?: unknown;
  raw: RawEvent;
}

export interface BatchMeta {
  /** First sync without a saved token: timeline events are history, not live input. */
  initial: boolean;
  /** The token this batch was requested with: where a gap in a room's timeline starts. */
  since?: string;
  /**
   * Decrypted long after it was sent (its key came late): history like `initial`, but a command
   * in it gets an answer saying it was not run.
   */
  stale?: boolean;
}

export interface Subscriber {
  onState?(roomId: string, ev: StateEvent, prev: StateEvent | undefined, meta: BatchMeta): void;
  onTimeline?(ev: TimelineEvent, meta: BatchMeta): void | Promise<void>;
  onAccountData?(type: string, content: Record<string, unknown>): void;
  /** `name`: the room's alias or name from the invite's stripped state, when it has one. */
  onInvite?(roomId: string, inviter: string | undefined, name?: string): void;
  onLeave?(roomId: string): void;
  /** The timeline of a room skipped events (gap): re-derive what depends on them. `prevBatch`
   *  is the pagination token just before the first event of this batch (for /messages). */
  onGap?(roomId: string, gap: { from: string | undefined; to: string | undefined }): void;
  /** After the whole batch: the place for coalesced work (reconciliation, ACL sync). */
  onBatchEnd?(meta: BatchMeta): Promise<void> | void;
}

/** Turns an encrypted timeline event into its cleartext. `undefined`: could not (yet) decrypt;
 *  "drop": the event must not be acted on at all (e.g. a replayed ciphertext). */
export type Decryptor = (
  roomId: string,
  raw: RawEvent,
) => Promise<{ event: RawEvent; info?: unknown } | "drop" | undefined>;

export function toTimelineEvent(roomId: string, raw: RawEvent): TimelineEvent | undefined {
  if (typeof raw.type !== "string" || typeof raw.event_id !== "string" || typeof raw.sender !== "string")
    return undefined;
  const content =
    raw.content && typeof raw.content === "object" && !Array.isArray(raw.content)
      ? (raw.content as Record<string, unknown>)
      : {};
  const ev: TimelineEvent = {
    roomId,
    type: raw.type,
    eventId: raw.event_id,
    sender: raw.sender,
    content,
    ts: typeof raw.origin_server_ts === "number" ? raw.origin_server_ts : 0,
    raw,
  };
  if (typeof raw.state_key === "string") ev.stateKey = raw.state_key;
  const redacts =
    typeof raw.redacts === "string"
      ? raw.redacts
      : typeof content.redacts === "string"
        ? content.redacts
        : undefined;
  if (redacts) ev.redacts = redacts;
  return ev;
}

export class Router {
  readonly state: RoomStateCache;
  private readonly subscribers: Subscriber[] = [];
  private readonly log: Logger;
  decryptor: Decryptor | undefined;
  /** Timeline events seen, and encrypted ones decrypted or not (yet), for metrics. */
  readonly stats = { timelineEvents: 0, decrypted: 0, undecryptable: 0 };

  constructor(state: RoomStateCache, log: Logger) {
    this.state = state;
    this.log = log;
  }

  subscribe(s: Subscriber): void {
    this.subscribers.push(s);
  }

  /** Handles one /sync body; its joined rooms are removed from `body.rooms.join` as they are handled. */
  async handle(body: SyncResponse, meta: BatchMeta): Promise<void> {
    for (const ev of body.account_data?.events ?? []) {
      if (typeof ev.type === "string" && ev.content && typeof ev.content === "object") {
        this.each((s) => s.onAccountData?.(ev.type as string, ev.content as Record<string, unknown>));
      }
    }
    const joined = body.rooms?.join ?? {};
    for (const roomId of Object.keys(joined)) {
      const room = joined[roomId]!;
      // Each room's raw events leave the body once handled: the sync loop holds the body until the
      // next /sync returns, and the first one carries every room's full state (at 1,000 rooms and
      // 300,000 members, raw envelopes the state cache no longer needs).
      delete joined[roomId];
      for (const raw of room.state?.events ?? []) this.applyState(roomId, raw, meta);
      if (room.timeline?.limited && !meta.initial)
        this.each((s) => s.onGap?.(roomId, { from: room.timeline?.prev_batch, to: meta.since }));
      for (const raw0 of room.timeline?.events ?? []) {
        if (typeof raw0.state_key === "string") this.applyState(roomId, raw0, meta);
        let raw = raw0;
        let info: unknown;
        this.stats.timelineEvents++;
        if (raw.type === "m.room.encrypted" && this.decryptor) {
          const clear = await this.decryptor(roomId, raw);
          if (clear === "drop") continue;
          if (clear) ({ event: raw, info } = clear);
          this.stats[clear ? "decrypted" : "undecryptable"]++;
        }
        await this.deliver(roomId, raw, meta, raw !== raw0, info);
      }
    }
    for (const [roomId, room] of Object.entries(body.rooms?.invite ?? {})) {
      const me = room.invite_state?.events?.find(
        (e) => e.type === "m.room.member" && (e.content as { membership?: string })?.membership === "invite",
      );
      const name = inviteRoomName(room.invite_state?.events ?? []);
      this.each((s) => s.onInvite?.(roomId, typeof me?.sender === "string" ? me.sender : undefined, name));
    }
    for (const roomId of Object.keys(body.rooms?.leave ?? {})) {
      this.state.forget(roomId);
      this.each((s) => s.onLeave?.(roomId));
    }
    for (const s of this.subscribers) {
      try {
        await s.onBatchEnd?.(meta);
      } catch (e) {
        this.log.error({ err: e }, "batch-end handler failed");
      }
    }
  }

  /** Hands one timeline event to every subscriber (also used for events decrypted late). */
  async deliver(
    roomId: string,
    raw: RawEvent,
    meta: BatchMeta,
    decrypted = false,
    info?: unknown,
  ): Promise<void> {
    const ev = toTimelineEvent(roomId, raw);
    if (!ev) {
      this.log.debug({ roomId }, "dropping a malformed timeline event");
      return;
    }
    if (decrypted) {
      ev.decrypted = true;
      ev.decryption = info;
    }
    for (const s of this.subscribers) {
      try {
        await s.onTimeline?.(ev, meta);
      } catch (e) {
        this.log.error({ err: e, roomId, eventId: ev.eventId }, "timeline handler failed");
      }
    }
  }

  private applyState(roomId: string, raw: RawEvent, meta: BatchMeta): void {
    const ev = toStateEvent(raw);
    if (!ev) return;
    const prev = this.state.room(roomId).set(ev);
    if (prev?.eventId === ev.eventId && ev.eventId) return;
    this.each((s) => s.onState?.(roomId, ev, prev, meta));
  }

  private each(fn: (s: Subscriber) => void): void {
    for (const s of this.subscribers) {
      try {
        fn(s);
      } catch (e) {
        this.log.error({ err: e }, "sync subscriber failed");
      }
    }
  }
}

/** What an invited room calls itself in the invite's stripped state: its alias, else its name. */
export function inviteRoomName(events: readonly RawEvent[]): string | undefined {
  const content = (type: string) =>
    events.find((e) => e.type === type && e.state_key === "")?.content as Record<string, unknown> | undefined;
  const alias = content("m.room.canonical_alias")?.alias;
  if (typeof alias === "string" && alias.length > 0 && alias.length <= 255) return alias;
  const name = content("m.room.name")?.name;
  return typeof name === "string" && name.trim().length > 0 ? name.trim().slice(0, 100) : undefined;
}
