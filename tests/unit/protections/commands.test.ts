// The `protections …` command group over an in-memory configuration: parsing, edits, replies.
import { describe, expect, it } from "vitest";
import { pino } from "pino";
import { CommandRegistry } from "../../../src/commands/framework/index.ts";
import type { CommandContext } from "../../../src/commands/context.ts";
import { protectionsCommands, type ProtectionsControl } from "../../../src/commands/protections.ts";
import {
  defaultConfig,
  effectiveConfig,
  findProtection,
  type ProtectionsConfig,
} from "../../../src/protections/config.ts";
import { BUILTIN_PROTECTIONS } from "../../../src/protections/registry.ts";
import type { Fragment } from "../../../src/format/fragment.ts";

class FakeControl implements ProtectionsControl {
  readonly protections = BUILTIN_PROTECTIONS;
  config: ProtectionsConfig = defaultConfig();
  saves = 0;
  readonly protectedRooms = new Set(["!a:x"]);
  async edit(fn: (c: ProtectionsConfig) => ReturnType<Parameters<ProtectionsControl["edit"]>[0]>) {
    const r = fn(this.config);
    if (r.ok) {
      this.saves++;
      this.config = r.config;
    }
    return r;
  }
  whenLoaded() {
    return Promise.resolve();
  }
  cleared = 0;
  clearAll() {
    this.cleared++;
    this.config = defaultConfig();
    return Promise.resolve();
  }
  isProtected(roomId: string) {
    return this.protectedRooms.has(roomId);
  }
}

function setup() {
  const control = new FakeControl();
  const registry = new CommandRegistry<CommandContext>().register(...protectionsCommands(control));
  const ctx = {
    bot: { log: pino({ level: "silent" }), config: { commands: { prefix: "!tyr" } } },
    sender: "@mod:x",
    cause: { by: "moderator", user: "@mod:x", command: "protections" },
  } as unknown as CommandContext;
  const run = async (text: string): Promise<string> => {
    const parsed = registry.parse(text);
    if (!parsed.ok) return `PARSE: ${parsed.error}`;
    const reply = (await parsed.run(ctx)) as Fragment;
    return reply.text.replaceAll("`", "");
  };
  return { control, run };
}

const flooding = findProtection(BUILTIN_PROTECTIONS, "flooding")!;

describe("protections commands", () => {
  it("lists every protection with its state", async () => {
    const { run } = setup();
    const out = await run("protections");
    for (const p of BUILTIN_PROTECTIONS) expect(out).toContain(`name: ${p.name} · state: off · mode: live`);
  });

  it("enables globally and per room, and the list shows the override", async () => {
    const { control, run } = setup();
    expect(await run("protections enable flooding")).toBe("flooding is now on in every protected room.");
    expect(await run("protections disable BasicFloodingProtection --room !a:x")).toBe(
      "flooding is now off in !a:x only.",
    );
    expect(effectiveConfig(control.config, flooding).enabled).toBe(true);
    expect(effectiveConfig(control.config, flooding, "!a:x").enabled).toBe(false);
    expect(await run("protections")).toContain(
      "name: flooding · state: on · mode: live · room overrides: 1 room (off in 1)",
    );
    expect(control.saves).toBe(2);
  });

  it("sets values with their type checked, and says what was there before", async () => {
    const { control, run } = setup();
    expect(await run("protections set flooding maxMessages 5")).toBe(
      "flooding.maxMessages = 5 in every protected room (was 10).",
    );
    expect(await run("protections set flooding window 30s --room !a:x")).toBe(
      "flooding.window = 30s in !a:x only (was 1m).",
    );
    expect(await run("protections set flooding maxMessages 0")).toBe(
      '✗ flooding.maxMessages: expected an integer between 1 and 1000, got "0"',
    );
    expect(await run("protections set flooding nope 3")).toMatch(
      /^✗ flooding has no setting "nope"; settings: maxMessages, /,
    );
    expect(control.saves).toBe(2);
  });

  it("adds and removes list items, and notes a room that is not protected", async () => {
    const { control, run } = setup();
    expect(await run("protections add word-list patterns /free\\s+nitro/i --room !b:x")).toBe(
      "Added /free\\s+nitro/i to word-list.patterns in !b:x only (1 item).\nNote: !b:x is not a protected room, so this has no effect until it is.",
    );
    expect(await run("protections add word-list patterns /free\\s+nitro/i --room !b:x")).toMatch(
      /already contains/,
    );
    expect(await run("protections remove word-list patterns /free\\s+nitro/i --room !b:x")).toMatch(
      /^Removed .* \(0 left\)/,
    );
    expect(Object.keys(control.config.protections["word-list"]?.rooms ?? {})).toEqual(["!b:x"]);
  });

  it("dry-run, show and reset", async () => {
    const { control, run } = setup();
    expect(await run("protections dryrun flooding on")).toMatch(
      /flooding is in dry-run in every protected room/,
    );
    expect(await run("protections dry-run flooding maybe")).toMatch(/^PARSE: .*one of on, off/);
    await run("protections set flooding maxMessages 4");
    const show = await run("protections show flooding");
    expect(show).toContain("disabled, dry-run");
    expect(show).toContain("maxMessages = 4 (set) — default 10");
    await run("protections reset flooding");
    expect(control.config.protections.flooding?.settings).toEqual({});
    expect(control.config.protections.flooding?.dryRun).toBe(true);
    expect(await run("protections show nosuch")).toMatch(/^✗ unknown protection "nosuch"; known: flooding, /);
  });

  it("reset with no name asks first, then clears every setting", async () => {
    const { control, run } = setup();
    await run("protections enable flooding");
    const parsed = registry(control).parse("protections reset");
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    const preview = await parsed.confirmation({} as CommandContext);
    expect(preview?.text).toMatch(/About to clear all of Tyr's protection settings/);
    expect(await run("protections reset --room !a:x")).toBe("✗ --room needs a protection name");
    expect(control.cleared).toBe(0);
    expect(await run("protections reset")).toMatch(/cleared: every protection is back to its defaults/);
    expect(control.cleared).toBe(1);
    expect(effectiveConfig(control.config, flooding).enabled).toBe(false);
  });
});

function registry(control: FakeControl) {
  return new CommandRegistry<CommandContext>().register(...protectionsCommands(control));
}
