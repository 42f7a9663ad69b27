import { describe, expect, it } from "vitest";
import { decodeEntities, decodeEntityAt } from "../../../src/format/entities.ts";

describe("HTML character references", () => {
  it.each([
    ["a &amp; b", "a & b"],
    ["&LT;tag&gt;", "<tag>"],
    ["&quot;&apos;&nbsp;", `"' `],
    ["&#64;alice", "@alice"],
    ["&#x1F600;", "😀"],
    ["&#X40;", "@"],
    ["&#0;", "&#0;"], // NUL is not a character to decode
    ["&#xD800;", "&#xD800;"], // lone surrogate
    ["&#x110000;", "&#x110000;"], // beyond Unicode
    ["&#12abc;", "&#12abc;"], // not all digits
    ["&#;", "&#;"],
    ["&unknown;", "&unknown;"],
    ["&amp", "&amp"], // no semicolon
    ["AT&T and R&D", "AT&T and R&D"],
    ["&&amp;", "&&"],
  ])("%j → %j", (input, expected) => {
    expect(decodeEntities(input)).toBe(expected);
  });

  it("says where a reference ends, or that the & is literal", () => {
    expect(decodeEntityAt("x&lt;y", 1)).toEqual(["<", 5]);
    expect(decodeEntityAt("x&y", 1)).toEqual(["&", 2]);
  });

  it("stays linear on text full of & without ;", () => {
    const hostile = "&".repeat(200_000) + "#x41".repeat(50_000);
    const t = performance.now();
    expect(decodeEntities(hostile)).toBe(hostile);
    expect(performance.now() - t).toBeLessThan(1000);
  });
});
