import { describe, expect, it } from "vitest";
import { DryRunCoalescer } from "../../../src/protections/coalesce.ts";

describe("DryRunCoalescer", () => {
  it("sends the first notice of a window at once and folds the rest into one summary", () => {
    const c = new DryRunCoalescer({ windowMs: 30_000, samples: 2 });
    expect(c.add("flooding", "!a:x", "[dry-run] flooding would redact $1", 1_000)).toEqual([
      "[dry-run] flooding would redact $1",
    ]);
    for (let i = 2; i <= 100; i++) {
      expect(c.add("flooding", "!a:x", `[dry-run] flooding would redact $${i}`, 1_000 + i * 100)).toEqual([]);
    }
    expect(c.flush(30_999)).toEqual([]); // window still open
    const [summary, ...rest] = c.flush(31_000);
    expect(rest).toEqual([]);
    expect(summary).toContain("[dry-run] flooding in !a:x: 99 more decisions within 30s");
    expect(summary).toContain("- [dry-run] flooding would redact $2");
    expect(summary).toContain("- [dry-run] flooding would redact $3");
    expect(summary).not.toContain("$4");
    expect(c.size).toBe(0);
  });

  it("keeps windows apart per protection and per room", () => {
    const c = new DryRunCoalescer({ windowMs: 10_000 });
    expect(c.add("flooding", "!a:x", "f-a", 0)).toHaveLength(1);
    expect(c.add("flooding", "!b:x", "f-b", 0)).toHaveLength(1);
    expect(c.add("word-list", "!a:x", "w-a", 0)).toHaveLength(1);
    expect(c.add("flooding", "!a:x", "f-a2", 1)).toHaveLength(0);
    const out = c.flush(10_000);
    expect(out).toHaveLength(1); // only the window with held notices says anything
    expect(out[0]).toMatch(/^\[dry-run\] flooding in !a:x: 1 more decision within 10s/);
  });

  it("a notice after the window ends brings the old summary with it and opens a new window", () => {
    const c = new DryRunCoalescer({ windowMs: 1_000 });
    c.add("p", "!r:x", "one", 0);
    c.add("p", "!r:x", "two", 500);
    const out = c.add("p", "!r:x", "three", 2_000);
    expect(out).toHaveLength(2);
    expect(out[0]).toContain("1 more decision");
    expect(out[1]).toBe("three");
  });

  it("clips long samples and bounds the number of open windows", () => {
    const c = new DryRunCoalescer({ windowMs: 60_000, sampleLength: 20, maxWindows: 3 });
    c.add("p", "!0:x", "first", 0);
    c.add("p", "!0:x", "x".repeat(10_000), 1);
    c.add("p", "!1:x", "a", 2);
    c.add("p", "!2:x", "b", 3);
    const out = c.add("p", "!3:x", "c", 4); // evicts the oldest window, summarising it
    expect(out).toHaveLength(2);
    expect(out[0]).toContain("!0:x");
    expect(out[0]!.length).toBeLessThan(200);
    expect(c.size).toBe(3);
    expect(c.flushAll()).toEqual([]);
  });

  it("a clock going backwards never swallows notices", () => {
    const c = new DryRunCoalescer({ windowMs: 1_000 });
    c.add("p", "!r:x", "one", 5_000);
    expect(c.add("p", "!r:x", "two", 1_000)).toEqual(["two"]);
  });
});
