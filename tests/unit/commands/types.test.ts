import { describe, expect, it } from "vitest";
import { formatDuration, parseDuration } from "../../../src/commands/framework/duration.ts";
import * as t from "../../../src/commands/framework/types.ts";

const V4_EVENT = "$" + "Ab-_".repeat(10) + "xyz";

function good<T>(type: t.ArgType<T>, raw: string): T {
  const r = type.parse(raw);
  if (!r.ok) throw new Error(`expected ${JSON.stringify(raw)} to parse: ${r.error}`);
  return r.value;
}

function bad<T>(type: t.ArgType<T>, raw: string): { error: string; detail?: string } {
  const r = type.parse(raw);
  if (r.ok) throw new Error(`expected ${JSON.stringify(raw)} to fail, got ${JSON.stringify(r.value)}`);
  return r;
}

describe("duration", () => {
  const S = 1000;
  const M = 60 * S;
  const H = 60 * M;
  const D = 24 * H;
  it.each<[string, number]>([
    ["30s", 30 * S],
    ["30m", 30 * M],
    ["2h", 2 * H],
    ["2d", 2 * D],
    ["1w", 7 * D],
    ["1h30m", H + 30 * M],
    ["1d12h", D + 12 * H],
    ["30M", 30 * M],
    ["45min", 45 * M],
    ["3hours", 3 * H],
    ["1y", 365 * D],
    ["+5m", 5 * M],
  ])("%s", (raw, ms) => {
    expect(parseDuration(raw)).toEqual({ ok: true, value: ms });
  });

  it.each<[string, string]>([
    ["0", "it must be longer than zero"],
    ["0m", "it must be longer than zero"],
    ["30", "it needs a unit, e.g. 30m or 30h"],
    ["-5m", "a duration cannot be negative"],
    ["1.5h", "use whole numbers, e.g. 1h30m instead of 1.5h"],
    ["5x", 'unknown unit "x" (use s, m, h, d, w or y)'],
    ["1mo", "months vary in length; use days or weeks (30d, 4w)"],
    ["1h1h", 'the unit "h" appears twice'],
    ["1h30", "30 needs a unit (s, m, h, d, w or y)"],
    ["2y", "it must be at most 1y"],
    ["99999999999999999999999d", "it must be at most 1y"],
    ["h", 'expected a number at "h"'],
    ["", "it is empty"],
  ])("rejects %j", (raw, detail) => {
    const r = parseDuration(raw);
    expect(!r.ok && r.detail).toBe(detail);
  });

  it("honours custom bounds", () => {
    expect(parseDuration("30s", { min: M }).ok).toBe(false);
    expect(parseDuration("2y", { max: 3 * 365 * D }).ok).toBe(true);
  });

  it("formats", () => {
    expect(formatDuration(H + 30 * M)).toBe("1h 30m");
    expect(formatDuration(8 * D)).toBe("1w 1d");
    expect(formatDuration(500)).toBe("0s");
  });
});

describe("argument types", () => {
  it("user accepts IDs and permalinks", () => {
    expect(good(t.user(), "@a:b.c")).toBe("@a:b.c");
    expect(good(t.user(), "https://matrix.to/#/@a:b.c")).toBe("@a:b.c");
    expect(bad(t.user(), "https://matrix.to/#/#r:b.c").detail).toBe("that link points at a room");
    expect(bad(t.user(), "foo")).toEqual({ ok: false, error: 'expected a user, got "foo"' });
    expect(bad(t.user(), "@foo").error).toBe(
      'expected a user, got "@foo": it has no server part (expected @name:server)',
    );
  });

  it("room accepts IDs, aliases and permalinks (event links too)", () => {
    expect(good(t.room(), "#r:b.c")).toEqual({ kind: "alias", alias: "#r:b.c", via: [] });
    expect(good(t.room(), "!r:b.c")).toEqual({ kind: "id", roomId: "!r:b.c", via: [] });
    expect(good(t.room(), `https://matrix.to/#/!r:b.c/${V4_EVENT}?via=b.c`)).toEqual({
      kind: "id",
      roomId: "!r:b.c",
      via: ["b.c"],
    });
    expect(bad(t.room(), "lobby")).toEqual({ ok: false, error: 'expected a room, got "lobby"' });
    expect(bad(t.room(), "#lobby").detail).toBe("it has no server part (expected #name:server)");
  });

  it("server requires a plausible name", () => {
    expect(good(t.server(), "evil.org")).toBe("evil.org");
    expect(good(t.server(), "localhost")).toBe("localhost");
    expect(good(t.server(), "[::1]:8448")).toBe("[::1]:8448");
    expect(bad(t.server(), "foo").detail).toBe("a server name needs a dot or a port, like example.org");
  });

  it("globs", () => {
    expect(good(t.userGlob(), "@*:evil.org")).toEqual({ pattern: "@*:evil.org", isGlob: true });
    expect(good(t.userGlob(), "@bob:evil.org")).toEqual({ pattern: "@bob:evil.org", isGlob: false });
    expect(bad(t.userGlob(), "*:evil.org").detail).toBe("user globs start with @, like @*:example.org");
    expect(bad(t.userGlob(), "@*:еvil.org").detail).toBe(
      'it contains "е" (U+0435), which cannot occur in a user ID',
    );
    expect(good(t.serverGlob(), "*.evil.org")).toEqual({ pattern: "*.evil.org", isGlob: true });
    expect(good(t.serverGlob(), "evil.org:8448")).toEqual({ pattern: "evil.org:8448", isGlob: false });
    expect(bad(t.serverGlob(), "*.ev il.org").detail).toBe(
      "it contains a space (U+0020), which cannot occur in a server name",
    );
  });

  describe("entity", () => {
    const e = t.entity();
    it.each<[string, t.Entity]>([
      ["@spam:evil.org", { kind: "user", entity: "@spam:evil.org", isGlob: false }],
      ["@*:evil.org", { kind: "user", entity: "@*:evil.org", isGlob: true }],
      [
        "#room:example.org",
        {
          kind: "room",
          entity: "#room:example.org",
          isGlob: false,
          room: { kind: "alias", alias: "#room:example.org", via: [] },
        },
      ],
      [
        "!abc:example.org",
        {
          kind: "room",
          entity: "!abc:example.org",
          isGlob: false,
          room: { kind: "id", roomId: "!abc:example.org", via: [] },
        },
      ],
      ["evil.org", { kind: "server", entity: "evil.org", isGlob: false }],
      ["*.evil.org", { kind: "server", entity: "*.evil.org", isGlob: true }],
      ["*", { kind: "server", entity: "*", isGlob: true }],
      ["https://matrix.to/#/@spam:evil.org", { kind: "user", entity: "@spam:evil.org", isGlob: false }],
    ])("%s", (raw, value) => {
      expect(good(e, raw)).toEqual(value);
    });

    it.each<[string, string]>([
      ["foo", 'expected a user, room or server, got "foo"'],
      ["@foo", 'expected a user, room or server, got "@foo": it has no server part (expected @name:server)'],
      [
        "exаmple.org",
        'expected a user, room or server, got "exаmple.org": the server name contains "а" (U+0430), which is not allowed (internationalised names must be written in their xn-- form)',
      ],
      ["<script>", 'expected a user, room or server, got "<script>"'],
    ])("rejects %j", (raw, error) => {
      expect(bad(e, raw).error).toBe(error);
    });

    it("can forbid globs", () => {
      expect(bad(t.entity({ globs: false }), "@*:x.org").detail).toBe("globs (* and ?) are not allowed here");
    });
  });

  it("event link", () => {
    expect(good(t.eventLink(), `https://matrix.to/#/!r:b.c/${V4_EVENT}`)).toEqual({
      room: { kind: "id", roomId: "!r:b.c", via: [] },
      eventId: V4_EVENT,
    });
    expect(bad(t.eventLink(), "https://matrix.to/#/!r:b.c").detail).toBe(
      "that link points at a room, not a message",
    );
    expect(bad(t.eventLink(), V4_EVENT).detail).toBe(
      "an event ID alone does not say which room; copy the message's link instead",
    );
  });

  it.each<[string, number | string]>([
    ["5", 5],
    ["+5", 5],
    ["1000", 1000],
    ["0", "it is below 1"],
    ["1001", "it is above 1000"],
    ["1.5", "it must be a whole number"],
    ["99999999999999999999", "it is far too large"],
    ["five", ""],
  ])("integer 1..1000 %j", (raw, expected) => {
    const r = t.integer({ min: 1, max: 1000 }).parse(raw);
    if (typeof expected === "number") expect(r).toEqual({ ok: true, value: expected });
    else expect(!r.ok && (r.detail ?? "")).toBe(expected);
  });

  it("number", () => {
    expect(good(t.number({ min: 0, max: 1 }), "0.25")).toBe(0.25);
    expect(good(t.number(), ".5")).toBe(0.5);
    expect(bad(t.number(), "1e3").error).toBe('expected a number, got "1e3"');
  });

  it("choice is case-insensitive and suggests", () => {
    const c = t.choice(["ban", "kick", "mute"] as const);
    expect(good(c, "KICK")).toBe("kick");
    expect(bad(c, "kcik").error).toBe('expected one of ban, kick, mute, got "kcik": did you mean "kick"?');
  });

  it("text trims and bounds length", () => {
    expect(good(t.text(), "  spam  ")).toBe("spam");
    expect(bad(t.text(), "   ").detail).toBe("it is empty");
    expect(bad(t.text(), "x".repeat(10_000)).detail).toBe(
      "it is too long (10,000 characters; at most 2,000)",
    );
  });

  it("word with a pattern", () => {
    const w = t.word({
      pattern: /^[a-z0-9-]{1,32}$/,
      expected: "a list shortcode",
      hint: "use a-z, 0-9 and -",
    });
    expect(good(w, "spam-list")).toBe("spam-list");
    expect(bad(w, "Spam List!").error).toBe(
      'expected a list shortcode, got "Spam List!": use a-z, 0-9 and -',
    );
  });

  it("oneOf tags the alternative and picks the relevant error", () => {
    const target = t.oneOf({ user: t.user(), message: t.eventLink() });
    expect(good(target, "@a:b.c")).toEqual({ kind: "user", value: "@a:b.c" });
    expect(good(target, `https://matrix.to/#/!r:b.c/${V4_EVENT}`)).toEqual({
      kind: "message",
      value: { room: { kind: "id", roomId: "!r:b.c", via: [] }, eventId: V4_EVENT },
    });
    expect(bad(target, "@a").error).toBe(
      'expected a user or a link to a message, got "@a": it has no server part (expected @name:server)',
    );
    expect(bad(target, "foo").error).toBe('expected a user or a link to a message, got "foo"');
  });

  it("echoes of huge or invisible input stay short and visible", () => {
    const r = bad(t.user(), "\u202e" + "x".repeat(10_000));
    expect(r.error.length).toBeLessThan(120);
    expect(r.error).toContain("<U+202E>");
    expect(r.error).not.toContain("\u202e");
  });
});

describe("adversarial inputs", () => {
  const all: t.ArgType<unknown>[] = [
    t.user(),
    t.room(),
    t.server(),
    t.userGlob(),
    t.serverGlob(),
    t.entity(),
    t.eventLink(),
    t.duration(),
    t.integer(),
    t.number(),
    t.choice(["a", "b"]),
    t.text(),
    t.word(),
    t.oneOf({ u: t.user(), e: t.eventLink() }),
  ];
  const runs = [
    " ",
    "a",
    "1",
    ":",
    "@",
    "*",
    "?",
    ".",
    "/",
    "%",
    "=",
    "#",
    "!",
    "$",
    "h",
    "\t",
    "é",
    "😀",
    "-",
    "[",
    "&",
  ];
  const shapes = runs.flatMap((c) => [
    c.repeat(10_000),
    `a${c.repeat(10_000)}x`,
    `@a:${c.repeat(10_000)}`,
    `https://matrix.to/#/${c.repeat(10_000)}`,
    `matrix:u/${c.repeat(10_000)}`,
    `1${c.repeat(5_000)}h`,
  ]);

  it("every type answers 10,000-character inputs quickly and without throwing", () => {
    for (const type of all) {
      const t0 = performance.now();
      for (const s of shapes) {
        const r = type.parse(s);
        if (!r.ok) expect(r.error.length).toBeLessThan(400);
      }
      expect(performance.now() - t0).toBeLessThan(1_000);
    }
  });
});
