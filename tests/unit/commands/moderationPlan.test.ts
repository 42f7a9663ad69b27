// Pure decisions of the moderation commands.
import { describe, expect, it } from "vitest";
import {
  decideMute,
  decidePowerLevel,
  decideUnmute,
  levelFacts,
  planKicks,
  selectRedactions,
  type LevelFacts,
} from "../../../src/commands/moderationPlan.ts";
import { RoomState } from "../../../src/matrix/roomState.ts";

const BOT = "@tyr:x.org";
const MODS = new Set(["@mod:x.org"]);

describe("planKicks", () => {
  const members: Record<string, Record<string, string>> = {
    "!a": {
      "@s1:evil.org": "join",
      "@s2:evil.org": "invite",
      "@mod:x.org": "join",
      [BOT]: "join",
      "@gone:evil.org": "leave",
    },
    "!b": { "@s1:evil.org": "join", "@s3:evil.org": "ban", "@s4:evil.org": "knock" },
  };
  const membership = (r: string, u: string) => members[r]?.[u];

  it("kicks each matched member in each room they are in, and spares Tyr and moderators", () => {
    const plan = planKicks({
      candidates: [
        "@s1:evil.org",
        "@s2:evil.org",
        "@s3:evil.org",
        "@s4:evil.org",
        "@gone:evil.org",
        "@mod:x.org",
        BOT,
        "@s1:evil.org",
      ],
      rooms: ["!a", "!b"],
      membership,
      botUserId: BOT,
      moderators: MODS,
    });
    expect(plan.kicks).toEqual([
      { user: "@s1:evil.org", room: "!a" },
      { user: "@s1:evil.org", room: "!b" },
      { user: "@s2:evil.org", room: "!a" },
      { user: "@s4:evil.org", room: "!b" },
    ]);
    expect(plan.users).toEqual(["@s1:evil.org", "@s2:evil.org", "@s4:evil.org"]);
    expect(plan.rooms).toEqual(["!a", "!b"]);
    expect(plan.spared.map((s) => s.user)).toEqual(["@mod:x.org", BOT]);
  });

  it("only looks at the rooms given", () => {
    const plan = planKicks({
      candidates: ["@s1:evil.org"],
      rooms: ["!b"],
      membership,
      botUserId: BOT,
      moderators: MODS,
    });
    expect(plan.kicks).toEqual([{ user: "@s1:evil.org", room: "!b" }]);
  });

  it("does not mention spared users who are not in the rooms", () => {
    const plan = planKicks({
      candidates: ["@mod:x.org"],
      rooms: ["!b"],
      membership,
      botUserId: BOT,
      moderators: MODS,
    });
    expect(plan).toEqual({ kicks: [], users: [], rooms: [], spared: [] });
  });
});

describe("selectRedactions", () => {
  it("never picks the same event twice, skips what Tyr redacted, and caps per room", () => {
    const done = new Set(["$old"]);
    const sel = selectRedactions(
      [
        { room: "!a", events: ["$1", "$2", "$1", "$old", "$3", "$4"] },
        { room: "!b", events: ["$2", "$5"] },
      ],
      (id) => done.has(id),
      3,
    );
    expect(sel.redactions).toEqual([
      { room: "!a", event: "$1" },
      { room: "!a", event: "$2" },
      { room: "!a", event: "$3" },
      { room: "!b", event: "$5" },
    ]);
    expect(sel.alreadyRedacted).toBe(1);
  });
});

const facts = (o: Partial<LevelFacts> = {}): LevelFacts => ({
  botLevel: 100,
  powerLevelsLevel: 100,
  targetLevel: 0,
  eventsDefault: 0,
  ...o,
});

describe("decidePowerLevel", () => {
  const U = "@u:x.org";
  it.each([
    ["a normal change", facts(), 50, "ok"],
    ["the same level", facts({ targetLevel: 50 }), 50, "noop"],
    ["Tyr's own level", facts(), 100, "confirm"],
    ["above Tyr's level", facts(), 101, "refuse"],
    ["a target at Tyr's level", facts({ targetLevel: 100 }), 0, "refuse"],
    ["without power to send power levels", facts({ botLevel: 50, powerLevelsLevel: 100 }), 10, "refuse"],
    ["a room creator (v12)", facts({ targetLevel: Infinity }), 0, "refuse"],
    ["Tyr as creator (unlimited)", facts({ botLevel: Infinity }), 1_000_000, "ok"],
    ["demoting below zero", facts({ targetLevel: 50 }), -10, "ok"],
  ])("%s", (_name, f, level, kind) => {
    expect(decidePowerLevel(f, U, level, BOT).kind).toBe(kind);
  });
  it("never changes Tyr's own level", () => {
    expect(decidePowerLevel(facts({ targetLevel: 100 }), BOT, 50, BOT)).toMatchObject({ kind: "refuse" });
  });
});

describe("decideMute / decideUnmute", () => {
  const U = "@u:x.org";
  it("mutes a normal member, not a moderator, not someone Tyr does not outrank", () => {
    expect(decideMute(facts(), U, BOT, MODS).kind).toBe("ok");
    expect(decideMute(facts(), "@mod:x.org", BOT, MODS).kind).toBe("refuse");
    expect(decideMute(facts(), BOT, BOT, MODS).kind).toBe("refuse");
    expect(decideMute(facts({ targetLevel: 100 }), U, BOT, MODS).kind).toBe("refuse");
    expect(decideMute(facts({ targetLevel: -1 }), U, BOT, MODS).kind).toBe("noop");
  });
  it("unmutes only muted users", () => {
    expect(decideUnmute(facts({ targetLevel: -1 }), U, BOT).kind).toBe("ok");
    expect(decideUnmute(facts(), U, BOT).kind).toBe("noop");
    expect(decideUnmute(facts({ targetLevel: -1, botLevel: 50 }), U, BOT).kind).toBe("refuse");
  });
});

describe("levelFacts", () => {
  it("reads levels from room state", () => {
    const s = new RoomState("!r");
    s.set({
      type: "m.room.create",
      stateKey: "",
      sender: "@c:x.org",
      eventId: "$c",
      content: { room_version: "10" },
      ts: 0,
    });
    s.set({
      type: "m.room.power_levels",
      stateKey: "",
      sender: "@c:x.org",
      eventId: "$p",
      content: {
        users: { [BOT]: 90, "@u:x.org": -5 },
        events_default: 0,
        events: { "m.room.power_levels": 80 },
      },
      ts: 0,
    });
    expect(levelFacts(s, BOT, "@u:x.org")).toEqual({
      botLevel: 90,
      powerLevelsLevel: 80,
      targetLevel: -5,
      eventsDefault: 0,
    });
  });
});
