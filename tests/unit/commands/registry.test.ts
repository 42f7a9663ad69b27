import { describe, expect, it } from "vitest";
import { commandsFor, defineCommand } from "../../../src/commands/framework/command.ts";
import { CommandRegistry, usageLine, type ParseOutcome } from "../../../src/commands/framework/registry.ts";
import * as t from "../../../src/commands/framework/types.ts";
import { makeCtx, makeRegistry, type TestCtx } from "./fixtures.ts";

const registry = makeRegistry();

function parsed(input: string, prefix?: string): { command: string; args: Record<string, unknown> } {
  const r = registry.parse(input, prefix === undefined ? {} : { prefix });
  if (!r.ok) throw new Error(`expected ${JSON.stringify(input)} to parse: ${r.error}`);
  return { command: r.command.name, args: r.args };
}

function error(input: string, prefix?: string): string {
  const r: ParseOutcome<TestCtx> = registry.parse(input, prefix === undefined ? {} : { prefix });
  if (r.ok) throw new Error(`expected ${JSON.stringify(input)} to fail`);
  return r.error;
}

const user = (id: string) => ({ kind: "user", entity: id, isGlob: false });

describe("resolution and argument parsing", () => {
  it.each<[string, string, Record<string, unknown>]>([
    [
      "ban spam @bad:evil.org spamming a lot",
      "ban",
      { list: "spam", entity: user("@bad:evil.org"), reason: "spamming a lot", yes: false },
    ],
    [
      "BAN spam @bad:evil.org",
      "ban",
      { list: "spam", entity: user("@bad:evil.org"), reason: undefined, yes: false },
    ],
    [
      'ban spam @bad:evil.org "quoted reason"',
      "ban",
      { list: "spam", entity: user("@bad:evil.org"), reason: "quoted reason", yes: false },
    ],
    [
      'ban spam @b:e.org it\'s   "really" bad',
      "ban",
      { list: "spam", entity: user("@b:e.org"), reason: 'it\'s   "really" bad', yes: false },
    ],
    [
      "ban spam @b:e.org don't \"stop",
      "ban",
      { list: "spam", entity: user("@b:e.org"), reason: "don't \"stop", yes: false },
    ],
    [
      "ban spam @b:e.org rude --yes",
      "ban",
      { list: "spam", entity: user("@b:e.org"), reason: "rude", yes: true },
    ],
    [
      "ban spam @b:e.org --yes very rude",
      "ban",
      { list: "spam", entity: user("@b:e.org"), reason: "very rude", yes: true },
    ],
    ["ban spam @b:e.org -y", "ban", { list: "spam", entity: user("@b:e.org"), reason: undefined, yes: true }],
    [
      "ban spam @b:e.org rude -- --not-a-flag",
      "ban",
      { list: "spam", entity: user("@b:e.org"), reason: "rude --not-a-flag", yes: false },
    ],
    [
      "ban spam @b:e.org '--quoted-not-a-flag'",
      "ban",
      { list: "spam", entity: user("@b:e.org"), reason: "--quoted-not-a-flag", yes: false },
    ],
    ["rules matching @b:e.org", "rules matching", { entity: user("@b:e.org") }],
    ["Rules   Matching @b:e.org", "rules matching", { entity: user("@b:e.org") }],
    ["rules spam", "rules", { list: "spam" }],
    ["rules", "rules", { list: undefined }],
    ["acl", "acl", {}],
    ["acl sync", "acl sync", {}],
    [
      "protections set spam threshold 5 per minute",
      "protections set",
      { protection: "spam", setting: "threshold", value: "5 per minute" },
    ],
    ["list create spam spam-list", "list create", { shortcode: "spam", alias: "spam-list" }],
    [
      "rooms add #a:b.c !x:y.z",
      "rooms add",
      {
        room: [
          { kind: "alias", alias: "#a:b.c", via: [] },
          { kind: "id", roomId: "!x:y.z", via: [] },
        ],
      },
    ],
    ["redact @a:b.c", "redact", { target: { kind: "user", value: "@a:b.c" }, room: undefined, limit: 50 }],
    [
      "redact @a:b.c --limit 10",
      "redact",
      { target: { kind: "user", value: "@a:b.c" }, room: undefined, limit: 10 },
    ],
    [
      "redact @a:b.c --limit=10 --room #r:x.y",
      "redact",
      {
        target: { kind: "user", value: "@a:b.c" },
        room: { kind: "alias", alias: "#r:x.y", via: [] },
        limit: 10,
      },
    ],
    [
      "mute @a:b.c spamming",
      "mute",
      { user: "@a:b.c", duration: undefined, reason: "spamming", room: undefined },
    ],
    [
      "mute @a:b.c 1h spamming",
      "mute",
      { user: "@a:b.c", duration: 3_600_000, reason: "spamming", room: undefined },
    ],
    ["mute @a:b.c", "mute", { user: "@a:b.c", duration: undefined, reason: undefined, room: undefined }],
    [
      "silence @a:b.c 2d",
      "mute",
      { user: "@a:b.c", duration: 172_800_000, reason: undefined, room: undefined },
    ],
  ])("%s", (input, command, args) => {
    expect(parsed(input)).toEqual({ command, args });
  });

  it.each([
    "kick @*:evil.org --room #r:x.y",
    "kick @*:evil.org --room=#r:x.y",
    "kick @*:evil.org -r #r:x.y",
    "kick @*:evil.org —room #r:x.y",
    "kick --room #r:x.y @*:evil.org",
  ])("flag forms: %s", (input) => {
    expect(parsed(input)).toEqual({
      command: "kick",
      args: {
        user: { pattern: "@*:evil.org", isGlob: true },
        reason: undefined,
        room: { kind: "alias", alias: "#r:x.y", via: [] },
        yes: false,
      },
    });
  });

  it("the invocation carries prefix, canonical name and text", () => {
    const r = registry.parse("silence @a:b.c", { prefix: "!mod" });
    expect(r.ok && r.invocation).toEqual({
      prefix: "!mod",
      command: "mute",
      text: "silence @a:b.c",
      yes: false,
    });
  });
});

describe("errors", () => {
  it.each<[string, string]>([
    ["ban spam foo", 'ban: argument 2 should be a user, room or server, got "foo" — see "!tyr help ban"'],
    ["bna spam @a:b.c", 'Unknown command "bna". Did you mean "ban"?'],
    ["unbna spam @a:b.c", 'Unknown command "unbna". Did you mean "unban"?'],
    ["xyzzy", 'Unknown command "xyzzy". Type "!tyr help" for the list of commands.'],
    ["", 'No command given. Type "!tyr help" to see what I can do.'],
    [
      "ban",
      'ban: missing argument 1, <list> (a list shortcode) — usage: !tyr ban <list> <entity> [reason…] [--yes] — see "!tyr help ban"',
    ],
    [
      "ban spam",
      'ban: missing argument 2, <entity> (a user, room or server) — usage: !tyr ban <list> <entity> [reason…] [--yes] — see "!tyr help ban"',
    ],
    [
      "ban spam @foo",
      'ban: argument 2 should be a user, room or server, got "@foo": it has no server part (expected @name:server) — see "!tyr help ban"',
    ],
    [
      "unban spam @a:b.c extra",
      'unban: too many arguments: "extra" was not expected — usage: !tyr unban <list> <entity> — see "!tyr help unban"',
    ],
    [
      "kick @a:b.c --rom #x:y.z",
      'kick: unknown flag "--rom" (did you mean --room?; put -- before text that starts with dashes) — see "!tyr help kick"',
    ],
    [
      "acl --force",
      'acl: unknown flag "--force" (it takes no flags; put -- before text that starts with dashes) — see "!tyr help acl"',
    ],
    ["kick @a:b.c --room", 'kick: --room needs a value (a room) — see "!tyr help kick"'],
    ["kick @a:b.c --room --yes", 'kick: --room needs a value (a room) — see "!tyr help kick"'],
    ["kick @a:b.c --room foo", 'kick: --room should be a room, got "foo" — see "!tyr help kick"'],
    ["ban spam @a:b.c --yes --yes", 'ban: --yes was given twice — see "!tyr help ban"'],
    ["ban spam @a:b.c --yes=true", 'ban: --yes does not take a value — see "!tyr help ban"'],
    [
      'kick "@a:b.c',
      'kick: Unclosed quote " at character 6, before "@a:b.c": add a closing " followed by a space, or remove it — see "!tyr help kick"',
    ],
    [
      '"ban spam',
      'Unclosed quote " at character 1, before "ban spam": add a closing " followed by a space, or remove it.',
    ],
    ["list", '"list" needs more: "list create". See "!tyr help list".'],
    ["list creat a b", 'Unknown command "list creat". Did you mean "list create"?'],
    [
      "bаn spam @a:b.c",
      'Unknown command "bаn" (it contains "а" (U+0430), which is not a Latin letter). Did you mean "ban"?',
    ],
    ["rule matching @a:b.c", 'Unknown command "rule matching". Did you mean "rules matching" or "rules"?'],
    [
      "redact @a:b.c --limit 0",
      'redact: --limit should be a whole number from 1 to 1000, got "0": it is below 1 — see "!tyr help redact"',
    ],
    [
      "redact foo",
      'redact: argument 1 should be a user or a link to a message, got "foo" — see "!tyr help redact"',
    ],
    [
      "rooms add #a:b.c nope",
      'rooms add: argument 2 should be a room, got "nope" — see "!tyr help rooms add"',
    ],
    [
      "rooms add",
      'rooms add: missing argument 1, <room>… (a room) — usage: !tyr rooms add <room>… — see "!tyr help rooms add"',
    ],
    [
      "mute @a:b.c 5x",
      'mute: argument 2 should be a duration (like 30m, 2h, 1d, 1w or 1h30m), got "5x": unknown unit "x" (use s, m, h, d, w or y) — see "!tyr help mute"',
    ],
    [
      "protections set a b",
      'protections set: missing argument 3, <value>… (text) — usage: !tyr protections set <protection> <setting> <value>… — see "!tyr help protections set"',
    ],
    [
      "ban spam <script>alert(1)</script>",
      'ban: argument 2 should be a user, room or server, got "<script>alert(1)</script>" — see "!tyr help ban"',
    ],
  ])("%j", (input, message) => {
    expect(error(input)).toBe(message);
  });

  it("uses the prefix in use", () => {
    expect(error("ban spam foo", "!mod")).toBe(
      'ban: argument 2 should be a user, room or server, got "foo" — see "!mod help ban"',
    );
  });

  it("rejects absurdly long commands with a message", () => {
    expect(error(`ban spam @a:b.c ${"x".repeat(10_000)}`)).toMatch(
      /^That command is too long \(10,016 characters; the limit is 10,000\)\.$/,
    );
  });

  it("keeps echoes of huge arguments short", () => {
    const msg = error(`ban spam ${"f".repeat(5000)}`);
    expect(msg.length).toBeLessThan(200);
  });

  it("numbers arguments as typed, even after a skipped optional one", () => {
    expect(error(`mute @a:b.c ${"x".repeat(2500)}`)).toBe(
      'mute: argument 2 should be text, got "' +
        "x".repeat(60) +
        '…": it is too long (2,500 characters; at most 2,000) — see "!tyr help mute"',
    );
  });

  it("a reason that is too long is refused precisely", () => {
    expect(error(`ban spam @a:b.c ${"x".repeat(2500)}`)).toBe(
      'ban: argument 3 should be text, got "' +
        "x".repeat(60) +
        '…": it is too long (2,500 characters; at most 2,000) — see "!tyr help ban"',
    );
  });
});

describe("confirmation and running", () => {
  it("asks only when the check says so, and never with --yes", async () => {
    const ctx = makeCtx();
    const wide = registry.parse("ban spam *.evil.org");
    expect(wide.ok && (await wide.confirmation(ctx))?.text).toBe("This bans everything matching *.evil.org.");
    const yes = registry.parse("ban spam *.evil.org --yes");
    expect(yes.ok && (await yes.confirmation(ctx))).toBeNull();
    const narrow = registry.parse("ban spam @a:evil.org");
    expect(narrow.ok && (await narrow.confirmation(ctx))).toBeNull();
  });

  it("confirmation checks can use the context", async () => {
    const k = registry.parse("kick @*:evil.org");
    expect(k.ok && (await k.confirmation(makeCtx(10)))?.text).toBe("wide kick");
    expect(k.ok && (await k.confirmation(makeCtx(2)))).toBeNull();
  });

  it("confirm: true produces a generic preview", async () => {
    const s = registry.parse("shutdown #r:x.y", { prefix: "!mod" });
    const preview = s.ok ? await s.confirmation(makeCtx()) : null;
    expect(preview?.text).toBe("About to run `!mod shutdown #r:x.y`.");
    expect(preview?.html).toBe("About to run <code>!mod shutdown #r:x.y</code>.");
  });

  it("run passes the typed values and returns the reply", async () => {
    const ctx = makeCtx();
    const r = registry.parse("ban spam @a:b.c rude");
    if (!r.ok) throw new Error(r.error);
    const reply = await r.run(ctx);
    expect(ctx.calls).toEqual([
      { command: "ban", args: { list: "spam", entity: user("@a:b.c"), reason: "rude", yes: false } },
    ]);
    expect(reply).toEqual({ text: "Banned `@a:b.c` on spam", html: "Banned <code>@a:b.c</code> on spam" });
  });
});

describe("definitions", () => {
  const { command } = commandsFor<null>();
  const run = (): undefined => undefined;

  it("rejects malformed definitions at startup", () => {
    expect(() => command({ name: "Ban", group: "g", summary: "s", run })).toThrow(/lower-case words/);
    expect(() =>
      command({
        name: "x",
        group: "g",
        summary: "s",
        args: [
          { name: "a", type: t.text(), rest: true },
          { name: "b", type: t.text() },
        ],
        run,
      }),
    ).toThrow(/must be last/);
    expect(() =>
      command({
        name: "x",
        group: "g",
        summary: "s",
        args: [
          { name: "a", type: t.text(), optional: true },
          { name: "b", type: t.text() },
        ],
        run,
      }),
    ).toThrow(/required argument after an optional one/);
    expect(() =>
      command({
        name: "x",
        group: "g",
        summary: "s",
        args: [{ name: "room", type: t.room() }],
        flags: { room: { type: t.room(), description: "" } },
        run,
      }),
    ).toThrow(/same name as an argument/);
    const a = command({ name: "x", group: "g", summary: "s", run });
    expect(() => new CommandRegistry([a, a])).toThrow(/registered twice/);
  });

  it("usage lines come from the definition", () => {
    const k = registry.find("kick")!;
    expect(usageLine(k, "!tyr")).toBe("!tyr kick <user> [reason…] [--room <room>] [--yes]");
    const c = defineCommand({
      name: "x",
      group: "g",
      summary: "s",
      args: [{ name: "rooms", type: t.room(), variadic: true, optional: true }],
      run: (_ctx: null) => undefined,
    });
    expect(usageLine(c, "!t")).toBe("!t x [rooms…]");
  });

  it("never throws, even if a parser does", () => {
    const boom = command({
      name: "boom",
      group: "g",
      summary: "s",
      args: [
        {
          name: "x",
          type: t.argType("x", "x", () => {
            throw new Error("kaboom");
          }),
        },
      ],
      run,
    });
    const r = new CommandRegistry([boom]).parse("boom 1");
    expect(r).toEqual({ ok: false, error: "Sorry, I could not read that command (kaboom)." });
  });
});
