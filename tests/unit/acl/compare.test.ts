import { describe, expect, it } from "vitest";
import { aclEquals } from "../../../src/acl/compare.ts";

const base = { allow: ["*"], deny: ["a.org", "*.b.org"], allow_ip_literals: false };

describe("aclEquals", () => {
  it.each<[string, unknown, unknown, boolean]>([
    ["identical", base, { ...base }, true],
    ["order-insensitive", base, { allow: ["*"], deny: ["*.b.org", "a.org"], allow_ip_literals: false }, true],
    ["duplicates do not matter", base, { ...base, deny: ["a.org", "*.b.org", "a.org"] }, true],
    ["different deny", base, { ...base, deny: ["a.org"] }, false],
    ["extra deny", base, { ...base, deny: ["a.org", "*.b.org", "c.org"] }, false],
    ["case matters (never a false 'equal')", base, { ...base, deny: ["A.org", "*.b.org"] }, false],
    ["different allow", base, { ...base, allow: ["*.org"] }, false],
    ["different ip flag", base, { ...base, allow_ip_literals: true }, false],
    [
      "missing ip flag means true",
      { allow: ["*"], deny: [] },
      { allow: ["*"], deny: [], allow_ip_literals: true },
      true,
    ],
    [
      "missing ip flag is not false",
      { allow: ["*"], deny: [] },
      { allow: ["*"], deny: [], allow_ip_literals: false },
      false,
    ],
    [
      "non-boolean ip flag means true",
      { allow: ["*"], allow_ip_literals: "no" },
      { allow: ["*"], allow_ip_literals: true },
      true,
    ],
    ["missing allow means []", { deny: ["x"] }, { allow: [], deny: ["x"] }, true],
    ["missing allow is not ['*']", { deny: [] }, { allow: ["*"], deny: [] }, false],
    ["missing deny means []", { allow: ["*"] }, { allow: ["*"], deny: [] }, true],
    [
      "malformed deny is never equal",
      { allow: ["*"], deny: "a.org" },
      { allow: ["*"], deny: "a.org" },
      false,
    ],
    ["non-string entries are never equal", { allow: ["*", 1] }, { allow: ["*", 1] }, false],
    ["null content", null, base, false],
    ["array content", [], [], false],
    ["empty objects", {}, {}, true],
  ])("%s", (_name, a, b, expected) => {
    expect(aclEquals(a, b)).toBe(expected);
    expect(aclEquals(b, a)).toBe(expected);
  });
});
