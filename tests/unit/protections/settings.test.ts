import { describe, expect, it } from "vitest";
import { compilePattern, compilePatternList } from "../../../src/protections/patterns.ts";
import {
  boolean,
  duration,
  formatDuration,
  integer,
  number,
  oneOf,
  parseDuration,
  patternList,
  string,
  stringList,
  validateSetting,
  type SettingSpec,
} from "../../../src/protections/settings.ts";

const maxMessages = integer({ description: "", default: 10, min: 1, max: 1000 });
const ratio = number({ description: "", default: 0.5, min: 0, max: 1 });
const flag = boolean({ description: "", default: false });
const window = duration({ description: "", default: 10_000, min: 1000, max: 3_600_000 });
const label = string({ description: "", default: "", maxLength: 10 });
const kindsList = stringList({
  description: "",
  default: [],
  maxItems: 3,
  maxItemLength: 16,
  oneOf: ["image", "video", "file"],
});
const names = stringList({ description: "", default: [], maxItems: 2, maxItemLength: 5 });
const patterns = patternList({ description: "", default: [], maxItems: 5, maxItemLength: 100 });
const sanction = oneOf({ description: "", values: ["mute", "ban", "none"], default: "mute" });

describe("validateSetting: accepted values and their stored form", () => {
  it.each<[string, SettingSpec, unknown, unknown]>([
    ["integer from JSON", maxMessages, 20, 20],
    ["integer from text", maxMessages, " 20 ", 20],
    ["number", ratio, "0.25", 0.25],
    ["boolean word", flag, "on", true],
    ["boolean false word", flag, "No", false],
    ["duration text", window, "1m30s", 90_000],
    ["duration ms number", window, 5000, 5000],
    ["string", label, "hi", "hi"],
    ["enum, any case", sanction, "BAN", "ban"],
    ["string list, comma-separated", kindsList, "image, Video", ["image", "video"]],
    ["string list, JSON text", names, '["a","b"]', ["a", "b"]],
    ["string list, deduplicated", names, ["a", "a"], ["a"]],
    ["pattern list, one item from text", patterns, "/spam{2,3}/i", ["/spam{2,3}/i"]],
    ["pattern list, empty", patterns, [], []],
  ])("%s", (_what, spec, input, stored) => {
    expect(validateSetting(spec, input, "p.s")).toEqual({ ok: true, value: stored });
  });
});

describe("validateSetting: errors name the setting and the expected type", () => {
  it.each<[SettingSpec, unknown, string]>([
    [maxMessages, "ten", 'flooding.maxMessages: expected an integer between 1 and 1000, got "ten"'],
    [maxMessages, 0, "flooding.maxMessages: expected an integer between 1 and 1000, got 0"],
    [maxMessages, 2.5, "flooding.maxMessages: expected an integer between 1 and 1000, got 2.5"],
    [maxMessages, 1e300, "flooding.maxMessages: expected an integer between 1 and 1000, got 1e+300"],
    [maxMessages, null, "flooding.maxMessages: expected an integer between 1 and 1000, got null"],
    [
      maxMessages,
      { a: 1 },
      "flooding.maxMessages: expected an integer between 1 and 1000, got a JSON object",
    ],
    [
      maxMessages,
      "9".repeat(400),
      'flooding.maxMessages: expected an integer between 1 and 1000, got "999999999999999999999999999999999999999999999999999999999999…"',
    ],
    [ratio, "NaN", 'flooding.maxMessages: expected a number between 0 and 1, got "NaN"'],
    [flag, "maybe", 'flooding.maxMessages: expected true or false, got "maybe"'],
    [
      window,
      "10",
      'flooding.maxMessages: expected a duration between 1s and 1h (e.g. 30s, 5m, 2h), got "10"',
    ],
    [
      window,
      "2h",
      'flooding.maxMessages: expected a duration between 1s and 1h (e.g. 30s, 5m, 2h), got "2h"',
    ],
    [
      window,
      "5 parsecs",
      'flooding.maxMessages: expected a duration between 1s and 1h (e.g. 30s, 5m, 2h), got "5 parsecs"',
    ],
    [
      label,
      "much too long",
      'flooding.maxMessages: expected text of at most 10 characters, got "much too long"',
    ],
    [sanction, "kick", 'flooding.maxMessages: expected one of mute, ban, none, got "kick"'],
    [
      kindsList,
      ["image", "gif"],
      'flooding.maxMessages: item 2 must be one of image, video, file, got "gif"',
    ],
    [
      names,
      ["a", "b", "c"],
      "flooding.maxMessages: expected a list of at most 2 items of at most 5 characters, got a list of 3 items",
    ],
    [names, ["a", 5], "flooding.maxMessages: item 2 must be non-empty text of at most 5 characters, got 5"],
    [
      names,
      ["toolong"],
      'flooding.maxMessages: item 1 must be non-empty text of at most 5 characters, got "toolong"',
    ],
  ])("%j ← %j", (spec, input, message) => {
    expect(validateSetting(spec, input, "flooding.maxMessages")).toEqual({ ok: false, error: message });
  });

  it("names the invalid pattern item", () => {
    const r = validateSetting(patterns, ["fine", "/(unclosed/", "/a*/"], "word-list.patterns");
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error).toMatch(/^word-list\.patterns: item 2 "\/\(unclosed\/": invalid regex: /);
      expect(r.error).toContain('item 3 "/a*/": pattern matches every text');
    }
  });
});

describe("durations", () => {
  it.each<[string, number | null]>([
    ["0", 0],
    ["500ms", 500],
    ["30s", 30_000],
    ["1h30m", 5_400_000],
    ["2d", 172_800_000],
    ["1w", 604_800_000],
    ["1.5h", 5_400_000],
    ["10", null],
    ["h", null],
    ["-5s", null],
    ["5 years", null],
    ["", null],
  ])("parseDuration(%j) = %j", (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it("formats durations compactly", () => {
    expect([0, 500, 10_000, 5_400_000, 90_061_000].map(formatDuration)).toEqual([
      "0s",
      "500ms",
      "10s",
      "1h30m",
      "1d1h1m1s",
    ]);
  });
});

describe("patterns (re2js)", () => {
  it("matches literals case-insensitively as substrings", () => {
    const r = compilePatternList(["Free Crypto", "t.me/"]);
    expect(r.ok && r.list.firstMatch("get FREE CRYPTO now")).toBe("Free Crypto");
    expect(r.ok && r.list.firstMatch("join t.me/x")).toBe("t.me/");
    expect(r.ok && r.list.firstMatch("tame")).toBeNull(); // "." in a literal is literal
  });

  it("supports /regex/flags", () => {
    const r = compilePatternList(["/\\bn[i1]gg/i", "/^buy$/m", "/a.b/s"]);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.list.firstMatch("you N1GGer")).toBe("/\\bn[i1]gg/i");
    expect(r.list.firstMatch("hello\nbuy\nnow")).toBe("/^buy$/m");
    expect(r.list.firstMatch("a\nb")).toBe("/a.b/s");
    expect(r.list.firstMatch("snigger is fine? no: sn1gg")).toBeNull();
  });

  it("treats /…/ with non-flag letters as a literal", () => {
    const r = compilePattern("/r/spam");
    expect(r.ok && r.pattern.regex).toBe(false);
  });

  it.each(["", "//", "/(/", "/a{99999}/", "/a*/", "/(?:)/"])("rejects %j", (item) => {
    expect(compilePattern(item).ok).toBe(false);
  });

  it("runs catastrophic-backtracking patterns in linear time", () => {
    const r = compilePatternList(["/(a+)+$/", "/(x+x+)+y/", "/^(a|aa)+$/"]);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const hostile = "a".repeat(50_000) + "!";
    const t0 = performance.now();
    // The classic ReDoS inputs: a long run that fails to match at the very end.
    expect(r.list.firstMatch(hostile)).toBeNull();
    expect(r.list.firstMatch("x".repeat(50_000))).toBeNull();
    expect(r.list.firstMatch("a".repeat(50_000))).toBe("/(a+)+$/");
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});
