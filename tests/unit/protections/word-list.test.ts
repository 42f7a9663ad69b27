import { describe, expect, it } from "vitest";
import { wordList } from "../../../src/protections/builtin/word-list.ts";
import { edit, Harness, html, kinds, rawMember, text } from "./helpers.ts";

const PATTERNS = ["free crypto", "/\\bt\\.me\\/[a-z0-9_]+/i", "/(?:nitro|steam)\\s*gift/i"];

describe("word-list", () => {
  it.each<[string, unknown, string[]]>([
    ["a literal, other case", text("FREE CRYPTO for everyone"), ["redact"]],
    ["a regex", text("join t.me/pumpgroup today"), ["redact"]],
    ["a regex in HTML text only", html("gift", "<b>Steam</b> gift inside"), ["redact"]],
    ["obfuscated with full-width and zero-width chars", text("ｆｒｅｅ cry\u200bpto"), ["redact"]],
    ["obfuscated with an empty HTML tag", html("x", "free cry<b></b>pto"), ["redact"]],
    ["an edit into spam", edit("$o", { msgtype: "m.text", body: "free crypto!" }), ["redact"]],
    ["normal chat", text("crypto is free to discuss here"), []],
    ["near miss", text("visit t.mex/foo"), []],
  ])("%s → %j", (_what, raw, expected) => {
    expect(kinds(new Harness(wordList, { patterns: PATTERNS }).feed(raw))).toEqual(expected);
  });

  it("does nothing with an empty list", () => {
    expect(new Harness(wordList).feed(text("anything at all"))).toEqual([]);
  });

  it.each<[string, string[]]>([
    ["redact", ["redact"]],
    ["redact+warn", ["redact", "warn"]],
    ["kick", ["redact", "kick"]],
    ["ban", ["redact", "ban"]],
  ])("action %s → %j", (action, expected) => {
    expect(kinds(new Harness(wordList, { patterns: PATTERNS, action }).feed(text("free crypto")))).toEqual(
      expected,
    );
  });

  it("the reason names the pattern", () => {
    const [c] = new Harness(wordList, { patterns: PATTERNS }).feed(text("steam gift"));
    expect(c).toMatchObject({ reason: 'word-list: matched "/(?:nitro|steam)\\\\s*gift/i"' });
  });

  it("newMembersOnly spares established members", () => {
    const h = new Harness(wordList, { patterns: PATTERNS, newMembersOnly: true, newMemberWindow: "1h" });
    expect(h.feed(text("free crypto", { sender: "@old:x.org" }))).toEqual([]);
    h.feed(rawMember("@new:x.org", "join"));
    expect(kinds(h.feed(text("free crypto", { sender: "@new:x.org" })))).toEqual(["redact"]);
    h.advance(2 * 3_600_000);
    expect(h.feed(text("free crypto", { sender: "@new:x.org" }))).toEqual([]);
  });

  it("matchFolded can be switched off", () => {
    const h = new Harness(wordList, { patterns: PATTERNS, matchFolded: false });
    expect(h.feed(text("ｆｒｅｅ crypto"))).toEqual([]);
  });

  it("a catastrophic-backtracking pattern over a long message finishes fast", () => {
    const h = new Harness(wordList, { patterns: ["/(a+)+$/", "/(x+x+)+y/"] });
    const t0 = performance.now();
    expect(h.feed(text("a".repeat(60_000) + "!"))).toEqual([]);
    expect(h.feed(text("x".repeat(60_000)))).toEqual([]);
    expect(performance.now() - t0).toBeLessThan(1500);
  });
});
