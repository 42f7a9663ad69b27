// The progress message of a long job: first state at once, edits throttled, the final state
// at once — a job that is done must not wait for a throttled edit it no longer needs.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ProgressMessage } from "../../../src/consequences/progress.ts";
import type { ConsequenceQueue } from "../../../src/consequences/queue.ts";

function recordingQueue() {
  const sent: string[] = [];
  const queue = {
    submit: async (c: { content: { body?: string; "m.new_content"?: { body?: string } } }) => {
      sent.push(c.content["m.new_content"]?.body ?? c.content.body ?? "");
      return { outcome: "done", detail: `$event${sent.length}` };
    },
  } as unknown as ConsequenceQueue;
  return { queue, sent };
}

describe("ProgressMessage", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("shows the first state at once and throttles the next ones", async () => {
    const { queue, sent } = recordingQueue();
    const p = new ProgressMessage(queue, "!r:x", { intervalMs: 3_000 });
    await p.update("1/100");
    await p.update("2/100");
    await p.update("3/100");
    expect(sent).toEqual(["1/100"]);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(sent).toEqual(["1/100", "3/100"]);
  });

  it("finishes without waiting for a throttled edit, and the final state lands last", async () => {
    const { queue, sent } = recordingQueue();
    const p = new ProgressMessage(queue, "!r:x", { intervalMs: 3_000 });
    await p.update("1/100");
    await p.update("99/100"); // throttled: an edit is due in 3 s
    let finished = false;
    const done = p.finish("done: 100/100").then(() => (finished = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(finished).toBe(true);
    await done;
    // The throttled intermediate state is superseded, never sent after the final one.
    await vi.advanceTimersByTimeAsync(5_000);
    expect(sent).toEqual(["1/100", "done: 100/100"]);
  });

  it("spaces its edits out as the job goes on: a few edits, however long the job", async () => {
    // Every edit is an event under the homeserver's message rate limit, the same limit the bans
    // of the job wait for: one edit per interval would cost a long, rate-limited job half its pace.
    const { queue, sent } = recordingQueue();
    const p = new ProgressMessage(queue, "!r:x", { intervalMs: 3_000 });
    for (let i = 1; i <= 1_000; i++) {
      await p.update(`${i}/1000`);
      await vi.advanceTimersByTimeAsync(100); // a 100 s job
    }
    await p.finish("done");
    // Edits at 0, 3, 6, 12, 24, 48 and 96 s (each wait as long as the job has run), then the end.
    expect(sent.length).toBeLessThanOrEqual(8);
    expect(sent.length).toBeGreaterThanOrEqual(5);
    expect(sent.at(-1)).toBe("done");
  });
});
