import { describe, expect, it } from "vitest";
import { badNames } from "../../../src/protections/builtin/bad-names.ts";
import { Harness, kinds, rawMember } from "./helpers.ts";

const MODS = ["Alice (mod)", "Moderator Bob"];
const settings = {
  namePatterns: ["/discord\\.gg|t\\.me/i", "free nitro"],
  avatarPatterns: ["mxc://spam.example/"],
};

describe("bad-names", () => {
  it.each<[string, Record<string, unknown>, string[]]>([
    ["a name with a link", { displayname: "join t.me/scam" }, ["kick"]],
    ["a literal pattern, folded", { displayname: "ＦＲＥＥ NITRO" }, ["kick"]],
    ["a spam avatar", { displayname: "Jane", avatar: "mxc://spam.example/abc" }, ["kick"]],
    ["a moderator's exact name", { displayname: "Alice (mod)" }, ["kick"]],
    ["a moderator's name with Cyrillic letters", { displayname: "Аlicе (mоd)" }, ["kick"]],
    ["a moderator's name with zero-width spaces and case", { displayname: "moderator\u200b BOB" }, ["kick"]],
    ["a moderator's name with diacritics", { displayname: "Modérator Bób" }, ["kick"]],
    ["an ordinary name", { displayname: "Alice Smith" }, []],
    ["a similar but different name", { displayname: "Alicia (mod)" }, []],
    ["no display name", {}, []],
  ])("joining with %s → %j", (_what, profile, expected) => {
    const h = new Harness(badNames, settings, { protectedNames: MODS });
    expect(kinds(h.feed(rawMember("@x:evil.org", "join", profile)))).toEqual(expected);
  });

  it("checks renames of existing members, not unchanged re-sends", () => {
    const h = new Harness(badNames, settings, { protectedNames: MODS });
    expect(
      h.feed(rawMember("@x:evil.org", "join", { prev: "join", displayname: "x", prevDisplayname: "x" })),
    ).toEqual([]);
    expect(
      kinds(
        h.feed(
          rawMember("@x:evil.org", "join", {
            prev: "join",
            displayname: "Moderator Bob",
            prevDisplayname: "x",
          }),
        ),
      ),
    ).toEqual(["kick"]);
  });

  it("bans when configured and uses the configured protected names", () => {
    const h = new Harness(badNames, { action: "ban", protectedNames: ["Tyr Bot"] });
    expect(kinds(h.feed(rawMember("@x:evil.org", "join", { displayname: "TYR B0T" })))).toEqual(["ban"]);
  });

  it("impersonation can be switched off; short protected names are ignored", () => {
    expect(
      new Harness(badNames, { impersonation: false }, { protectedNames: MODS }).feed(
        rawMember("@x:e.org", "join", { displayname: "Alice (mod)" }),
      ),
    ).toEqual([]);
    expect(
      new Harness(badNames, {}, { protectedNames: ["Al"] }).feed(
        rawMember("@x:e.org", "join", { displayname: "al" }),
      ),
    ).toEqual([]);
  });

  it("leaves and bans are not checked", () => {
    const h = new Harness(badNames, settings, { protectedNames: MODS });
    expect(h.feed(rawMember("@x:evil.org", "leave", { displayname: "t.me/x" }))).toEqual([]);
  });
});
