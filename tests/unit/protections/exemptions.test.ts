import { describe, expect, it } from "vitest";
import {
  isExempt,
  parsePowerLevels,
  powerLevelOf,
  roomCreators,
} from "../../../src/protections/exemptions.ts";

const BOT = "@tyr:x.org";
const levels = parsePowerLevels({
  users: { "@mod:x.org": 50, "@admin:x.org": 100, "@str:x.org": "60", "@bad:x.org": "lots" },
  users_default: 0,
});

describe("exemptions", () => {
  it.each<[string, string, Set<string>, number, boolean]>([
    ["the bot", BOT, new Set(), 50, true],
    ["a management room member", "@helper:x.org", new Set(["@helper:x.org"]), 50, true],
    ["a moderator at the threshold", "@mod:x.org", new Set(), 50, true],
    ["an admin above it", "@admin:x.org", new Set(), 50, true],
    ["a string level (old rooms)", "@str:x.org", new Set(), 50, true],
    ["a garbage level → default", "@bad:x.org", new Set(), 50, false],
    ["a moderator below a raised threshold", "@mod:x.org", new Set(), 75, false],
    ["an ordinary user", "@user:x.org", new Set(), 50, false],
  ])("%s", (_what, user, mgmt, threshold, expected) => {
    expect(
      isExempt({
        user,
        botUserId: BOT,
        managementMembers: mgmt,
        powerLevels: levels,
        exemptPowerLevel: threshold,
      }),
    ).toBe(expected);
  });

  it("garbage power levels content means defaults", () => {
    for (const c of [null, "x", [1], { users: "nope", users_default: {} }]) {
      expect(powerLevelOf(parsePowerLevels(c), "@a:x.org")).toBe(0);
    }
    expect(powerLevelOf(parsePowerLevels({ users_default: 60 }), "@a:x.org")).toBe(60);
  });

  it("room v12 creators have infinite power; earlier versions' creators don't", () => {
    const v12 = roomCreators({
      sender: "@c:x.org",
      content: { room_version: "12", additional_creators: ["@d:x.org", 5] },
    });
    expect(v12).toEqual(["@c:x.org", "@d:x.org"]);
    expect(roomCreators({ sender: "@c:x.org", content: { room_version: "10" } })).toEqual([]);
    const pl = parsePowerLevels({}, v12);
    expect(powerLevelOf(pl, "@d:x.org")).toBe(Number.POSITIVE_INFINITY);
    expect(
      isExempt({
        user: "@c:x.org",
        botUserId: BOT,
        managementMembers: new Set(),
        powerLevels: pl,
        exemptPowerLevel: 1e15,
      }),
    ).toBe(true);
  });
});
