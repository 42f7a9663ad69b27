// The last few hundred timeline events of every joined room, as seen in /sync: enough to clean up
// after a spammer (takedowns, `redact @user`) without paging back through history. Bounded per
// room and in total; redactions seen in sync drop the redacted event.
import type { Subscriber, TimelineEvent } from "../router.ts";

export interface RecentEvent {
  eventId: string;
  sender: string;
  type: string;
  ts: number;
}

export class RecentEvents implements Subscriber {
  private readonly perRoom: number;
  private readonly maxRooms: number;
  private readonly rooms = new Map<string, RecentEvent[]>();

  constructor(opts: { perRoom?: number; maxRooms?: number } = {}) {
    this.perRoom = opts.perRoom ?? 500;
    this.maxRooms = opts.maxRooms ?? 2_000;
  }

  onTimeline(ev: TimelineEvent): void {
    if (ev.type === "m.room.redaction" && ev.redacts) {
      this.forgetEvent(ev.roomId, ev.redacts);
      return;
    }
    // State events and reactions are not what a clean-up removes.
    if (ev.stateKey !== undefined) return;
    let list = this.rooms.get(ev.roomId);
    if (!list) {
      if (this.rooms.size >= this.maxRooms) {
        const oldest = this.rooms.keys().next().value;
        if (oldest !== undefined) this.rooms.delete(oldest);
      }
      this.rooms.set(ev.roomId, (list = []));
    }
    list.push({ eventId: ev.eventId, sender: ev.sender, type: ev.type, ts: ev.ts });
    if (list.length > this.perRoom) list.splice(0, list.length - this.perRoom);
  }

  onLeave(roomId: string): void {
    this.rooms.delete(roomId);
  }

  /** Events by `sender` in `roomId`, newest first, at most `limit`. */
  bySender(roomId: string, sender: string, limit = 100): RecentEvent[] {
    const list = this.rooms.get(roomId) ?? [];
    const out: RecentEvent[] = [];
    for (let i = list.length - 1; i >= 0 && out.length < limit; i--) {
      if (list[i]!.sender === sender) out.push(list[i]!);
    }
    return out;
  }

  private forgetEvent(roomId: string, eventId: string): void {
    const list = this.rooms.get(roomId);
    const i = list?.findIndex((e) => e.eventId === eventId) ?? -1;
    if (list && i >= 0) list.splice(i, 1);
  }
}
