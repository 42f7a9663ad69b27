// One compacting garbage collection, for the moment Tyr knows a large transient just ended: the
// first /sync of a run carries every joined room's full state at once. V8 keeps the pages that
// transient used committed (at 1,000 rooms and 300,000 members, ~150 MB of free heap stayed
// resident after an ordinary collection), and its idle memory reducer rarely runs in a process
// that keeps syncing. Node has no API for a compacting collection; the `gc` that --expose-gc puts
// into a new context is the documented V8 one. Where that is unavailable this does nothing.
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

type GcFunction = (options?: { type?: "major"; execution?: "sync"; flavor?: "last-resort" }) => void;

let gcFunction: GcFunction | null | undefined;

function exposedGc(): GcFunction | null {
  if (gcFunction === undefined) {
    try {
      setFlagsFromString("--expose-gc");
      const fn: unknown = runInNewContext("typeof gc === 'function' ? gc : undefined");
      gcFunction = typeof fn === "function" ? (fn as GcFunction) : null;
    } catch {
      gcFunction = null;
    }
  }
  return gcFunction;
}

export interface Compaction {
  rssBeforeMb: number;
  rssAfterMb: number;
  ms: number;
}

/** Collects and compacts the whole heap (a pause of a few hundred ms at ~300 MB); undefined if unavailable. */
export function compactHeap(): Compaction | undefined {
  const gc = exposedGc();
  if (gc === null) return undefined;
  const before = process.memoryUsage.rss();
  const t = performance.now();
  gc({ type: "major", execution: "sync", flavor: "last-resort" });
  const mb = (b: number): number => Math.round(b / 2 ** 20);
  return {
    rssBeforeMb: mb(before),
    rssAfterMb: mb(process.memoryUsage.rss()),
    ms: Math.round(performance.now() - t),
  };
}
