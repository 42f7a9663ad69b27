// Pure decisions of the moderation commands.
import { describe, expect, it } from "vitest";
import {
  decideMute,
  decidePowerLevel,
  decideUnmute,
  levelFacts,
  planKicks,
  planRecentJoins,
  selectRedactions,
  type LevelFacts,
} from "../../../src/commands/moderationPlan.ts";
import { RoomState, toStateEvent } from "../../../src/matrix/roomState.ts";

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

describe("join times in room state", () => {
  const member = (user: string, membership: string, ts: number, prev?: string) =>
    toStateEvent({
      type: "m.room.member",
      state_key: user,
      sender: user,
      event_id: `$${user}${ts}`,
      origin_server_ts: ts,
      content: { membership },
      ...(prev ? { unsigned: { prev_content: { membership: prev } } } : {}),
    })!;

  it("starts a stay at the join, not at a later profile change, and ends it on leave", () => {
    const s = new RoomState("!r");
    s.set(member("@a:x", "invite", 100));
    s.set(member("@a:x", "join", 200, "invite"));
    expect(s.joinedAt("@a:x")).toBe(200);
    s.set(member("@a:x", "join", 900, "join")); // new display name
    expect(s.joinedAt("@a:x")).toBe(200);
    s.set(member("@a:x", "leave", 1000, "join"));
    expect(s.joinedAt("@a:x")).toBeUndefined();
    s.set(member("@a:x", "join", 1100, "leave"));
    expect(s.joinedAt("@a:x")).toBe(1100);
  });

  it("from a first full state: a join counts, a profile change of an unseen join does not", () => {
    const s = new RoomState("!r");
    s.set(member("@new:x", "join", 500)); // no prev_content: first join
    s.set(member("@rejoined:x", "join", 600, "leave"));
    s.set(member("@renamed:x", "join", 700, "join")); // joined long ago, renamed at 700
    expect(s.joinedAt("@new:x")).toBe(500);
    expect(s.joinedAt("@rejoined:x")).toBe(600);
    expect(s.joinedAt("@renamed:x")).toBeUndefined();
    expect(s.joinedBetween(550, 10_000)).toEqual([["@rejoined:x", 600]]);
    expect(s.joinedBetween(0, 599)).toEqual([["@new:x", 500]]);
  });

  it("keeps prev_content only when it is a string membership", () => {
    const ev = toStateEvent({
      type: "m.room.member",
      state_key: "@a:x",
      content: { membership: "join" },
      unsigned: { prev_content: { membership: 7 } },
    });
    expect(ev?.prevMembership).toBeUndefined();
  });
});

describe("planRecentJoins", () => {
  const joins: Record<string, [string, number][]> = {
    "!a": [
      ["@s1:evil.org", 1000],
      ["@s2:evil.org", 3000],
      ["@mod:x.org", 2500],
      [BOT, 2000],
    ],
    "!b": [
      ["@s1:evil.org", 4000],
      ["@s3:evil.org", 1500],
    ],
  };
  const input = (limit: number, rooms = ["!a", "!b"]) => ({
    rooms,
    joinedInWindow: (r: string) => joins[r] ?? [],
    botUserId: BOT,
    moderators: MODS,
    limit,
  });

  it("lists recent joiners newest first with every room they joined, sparing Tyr and moderators", () => {
    const plan = planRecentJoins(input(10));
    expect(plan.users).toEqual([
      { user: "@s1:evil.org", rooms: ["!a", "!b"], joinedAt: 4000 },
      { user: "@s2:evil.org", rooms: ["!a"], joinedAt: 3000 },
      { user: "@s3:evil.org", rooms: ["!b"], joinedAt: 1500 },
    ]);
    expect(plan.targets).toEqual([
      { user: "@s1:evil.org", room: "!a" },
      { user: "@s1:evil.org", room: "!b" },
      { user: "@s2:evil.org", room: "!a" },
      { user: "@s3:evil.org", room: "!b" },
    ]);
    expect(plan.spared.map((s) => s.user)).toEqual(["@mod:x.org", BOT]);
    expect(plan.overLimit).toBe(0);
  });

  it("keeps the most recent joiners within the limit and counts the rest", () => {
    const plan = planRecentJoins(input(2));
    expect(plan.users.map((u) => u.user)).toEqual(["@s1:evil.org", "@s2:evil.org"]);
    expect(plan.targets).toHaveLength(3);
    expect(plan.overLimit).toBe(1);
  });

  it("looks only at the rooms given", () => {
    expect(planRecentJoins(input(10, ["!b"])).users.map((u) => u.user)).toEqual([
      "@s1:evil.org",
      "@s3:evil.org",
    ]);
    expect(planRecentJoins(input(10, [])).users).toEqual([]);
  });
});
