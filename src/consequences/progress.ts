// One message that a long job keeps editing ("banning 340 users in 12 rooms: 120/4080") instead
// of posting a notice per step. Edits are throttled so a 4,000-action job costs a handful of events:
// each wait is at least as long as the job has run so far, so a job of any length costs a few edits
// (they are events under the same homeserver rate limit as the job's own bans: measured with
// Synapse's default limits, an edit per interval cost a 100-room ban job half its pace).
import { editContent, notice, type RelatesTo } from "../format/content.ts";
import { text, type Fragment } from "../format/fragment.ts";
import type { ConsequenceQueue } from "./queue.ts";
import { HOUSEKEEPING } from "./types.ts";

export class ProgressMessage {
  private readonly queue: ConsequenceQueue;
  private readonly roomId: string;
  private readonly relatesTo: RelatesTo | undefined;
  private readonly intervalMs: number;
  private messageId: string | undefined;
  private lastEdit = 0;
  /** When the first state was shown (the job's start, for spacing the edits). */
  private shownAt: number | undefined;
  private latest: Fragment | undefined;
  /** A throttled edit, due later: the final state cancels it (nothing waits for it). */
  private timer: NodeJS.Timeout | undefined;
  /** An edit being sent: the final state waits for it, so it lands last. */
  private inFlight: Promise<void> | undefined;

  constructor(
    queue: ConsequenceQueue,
    roomId: string,
    opts: { relatesTo?: RelatesTo; intervalMs?: number } = {},
  ) {
    this.queue = queue;
    this.roomId = roomId;
    this.relatesTo = opts.relatesTo;
    this.intervalMs = opts.intervalMs ?? 2_000;
  }

  /** Shows the first state, then edits it; intermediate states inside the interval are skipped. */
  async update(f: Fragment | string): Promise<void> {
    this.latest = typeof f === "string" ? text(f) : f;
    if (this.timer !== undefined || this.inFlight !== undefined) return;
    const now = Date.now();
    const gap = Math.max(this.intervalMs, this.lastEdit - (this.shownAt ?? now));
    const wait = gap - (now - this.lastEdit);
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        // A failed edit is the queue's to log; `finish` still sees it through `inFlight`.
        this.send().catch(() => undefined);
      }, wait);
      return;
    }
    await this.send();
  }

  /**
   * The final state, shown right away: after an edit in flight, instead of a throttled one (a
   * finished job must not wait out the throttle — the caller's next job waits behind it).
   */
  async finish(f: Fragment | string): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
    this.latest = typeof f === "string" ? text(f) : f;
    await this.flush();
  }

  private send(): Promise<void> {
    this.inFlight = this.flush().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async flush(): Promise<void> {
    const f = this.latest;
    if (!f) return;
    this.latest = undefined;
    this.lastEdit = Date.now();
    this.shownAt ??= this.lastEdit;
    const content = this.messageId
      ? editContent(this.messageId, f)
      : notice(f, this.relatesTo ? { relatesTo: this.relatesTo } : {});
    const r = await this.queue.submit(
      {
        kind: "send",
        room: this.roomId,
        eventType: "m.room.message",
        content: content as unknown as Record<string, unknown>,
        cause: HOUSEKEEPING,
      },
      { front: true },
    );
    if (!this.messageId && r.outcome === "done") this.messageId = r.detail;
  }
}
