// One message that a long job keeps editing ("banning 340 users in 12 rooms: 120/4080") instead
// of posting a notice per step. Edits are throttled so a 4,000-action job costs a handful of events.
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
  private latest: Fragment | undefined;
  private flushing: Promise<void> | undefined;

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
    const wait = this.intervalMs - (Date.now() - this.lastEdit);
    if (this.flushing) return;
    if (wait > 0) {
      this.flushing = new Promise<void>((r) => setTimeout(r, wait))
        .then(() => this.flush())
        .finally(() => (this.flushing = undefined));
      return;
    }
    // Tracked like a delayed edit, so `finish` waits for it and the final state lands last.
    this.flushing = this.flush().finally(() => (this.flushing = undefined));
    await this.flushing;
  }

  /** The final state, shown right away (after any edit in flight). */
  async finish(f: Fragment | string): Promise<void> {
    await this.flushing;
    this.latest = typeof f === "string" ? text(f) : f;
    await this.flush();
  }

  private async flush(): Promise<void> {
    const f = this.latest;
    if (!f) return;
    this.latest = undefined;
    this.lastEdit = Date.now();
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
