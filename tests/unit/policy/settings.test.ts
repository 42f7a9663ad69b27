import { describe, expect, it } from "vitest";
import {
  parseListSettings,
  parseProtectedRooms,
  withListSettings,
  parseWatchedLists,
  roomFromReference,
  serialiseWatchedLists,
} from "../../../src/policy/settings.ts";

describe("account data settings", () => {
  it("reads Mjolnir's permalinks and bare IDs, de-duplicated, in order", () => {
    const r = parseWatchedLists({
      references: ["https://matrix.to/#/!abc:x.org?via=x.org", "!def:y.org", "!abc:x.org", "#list:z.org"],
    });
    expect(r).toEqual({ rooms: ["!abc:x.org", "!def:y.org", "#list:z.org"], problems: [] });
  });

  it("skips garbage with a reason and never throws", () => {
    expect(parseWatchedLists({ references: [1, null, "hello", { a: 1 }] }).problems).toHaveLength(4);
    expect(parseWatchedLists({ references: "!a:b" }).problems[0]).toMatch(/expected a list/);
    expect(parseWatchedLists(null).rooms).toEqual([]);
    expect(parseProtectedRooms({ rooms: ["!r:x", "https://matrix.to/#/@user:x"] })).toEqual({
      rooms: ["!r:x"],
      problems: ["org.matrix.mjolnir.protected_rooms.rooms[1]: not a room reference, skipped"],
    });
  });

  it("accepts room v12 IDs without a server part", () => {
    expect(roomFromReference("!abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")).toBe(
      "!abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    );
  });

  it("writes permalinks and keeps fields written by other software", () => {
    expect(serialiseWatchedLists({ other: 1, references: [] }, ["!a:b"])).toEqual({
      other: 1,
      references: ["https://matrix.to/#/!a%3Ab"],
    });
  });
});

describe("per-list settings", () => {
  it("reads valid entries, reports the rest, and keeps other fields when writing", () => {
    const parsed = parseListSettings({
      lists: { "!a:x": { autoSuspend: true }, "!b:x": { autoSuspend: "yes" }, "#c:x": { autoSuspend: true } },
    });
    expect([...parsed.lists]).toEqual([["!a:x", { autoSuspend: true, autoTakedownRooms: false }]]);
    expect(parsed.problems).toHaveLength(2);
    expect(parseListSettings({ lists: [] }).problems).toHaveLength(1);
    expect(parseListSettings(undefined).lists.size).toBe(0);
    const next = withListSettings({ other: 1, lists: { "!a:x": { autoSuspend: true } } }, "!b:x", {
      autoSuspend: false,
      autoTakedownRooms: true,
    });
    expect(next).toEqual({
      other: 1,
      lists: { "!a:x": { autoSuspend: true }, "!b:x": { autoSuspend: false, autoTakedownRooms: true } },
    });
  });

  it("reads autoTakedownRooms on its own (absent settings are off), and refuses a non-boolean", () => {
    const parsed = parseListSettings({
      lists: { "!a:x": { autoTakedownRooms: true }, "!b:x": { autoTakedownRooms: 1 }, "!c:x": {} },
    });
    expect([...parsed.lists]).toEqual([["!a:x", { autoSuspend: false, autoTakedownRooms: true }]]);
    expect(parsed.problems).toHaveLength(2);
  });
});
