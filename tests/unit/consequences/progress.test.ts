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
});
