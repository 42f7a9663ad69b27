import { describe, expect, it } from "vitest";
import { compactHeap } from "../../../src/util/heap.ts";

describe("compactHeap", () => {
  it("runs one compacting collection and reports the resident memory around it", () => {
    const c = compactHeap();
    expect(c).toBeDefined(); // the gc of --expose-gc, enabled at run time, is available
    expect(c!.rssBeforeMb).toBeGreaterThan(0);
    expect(c!.rssAfterMb).toBeGreaterThan(0);
    expect(c!.ms).toBeGreaterThanOrEqual(0);
    // Still callable: the gc function is kept after the first use.
    expect(compactHeap()).toBeDefined();
  });
});
