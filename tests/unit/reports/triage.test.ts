// Triage by reaction, the pure part: reactions → actions, which actions a report takes, and the
// command each stands for (the same text a moderator would type).
import { describe, expect, it } from "vitest";
import { parseReport, type Report } from "../../../src/reports/reports.ts";
import {
  actionOfKey,
  actionsFor,
  decideTriage,
  triageLine,
  TRIAGE_KEYS,
} from "../../../src/reports/triagePlan.ts";
import { CommandRegistry } from "../../../src/commands/framework/index.ts";
import type { CommandContext } from "../../../src/commands/context.ts";
import { listCommands } from "../../../src/commands/lists.ts";
import { moderationCommands } from "../../../src/commands/moderation.ts";

const ev = parseReport({
  id: 12,
  room_id: "!room:example.org",
  event_id: "$ev:example.org",
  user_id: "@reporter:example.org",
  sender: "@spammer:evil.org",
  reason: 'spam "quoted" --yes',
})!;
const user = parseReport({ id: 3, target_user_id: "@bad:example.org", user_id: "@r:example.org" }, "user")!;
const room = parseReport({ id: 5, room_id: "!den:example.org", user_id: "@r:example.org" }, "room")!;
const open = (report: Report) => ({ report, actions: [] });

describe("reaction keys", () => {
  it("reads each triage emoji, with or without a presentation selector", () => {
    expect(actionOfKey("🚫")).toBe("ban");
    expect(actionOfKey("🗑")).toBe("redact");
    expect(actionOfKey("🗑️")).toBe("redact");
    expect(actionOfKey("✅\uFE0F")).toBe("handled");
    expect(actionOfKey("⛔")).toBe("bad");
    expect(actionOfKey("👍")).toBeUndefined();
  });

  it("offers per kind only what makes sense", () => {
    expect(actionsFor(ev)).toEqual(["ban", "redact", "kick", "mute", "handled", "bad"]);
    expect(actionsFor(user)).toEqual(["ban", "kick", "mute", "handled", "bad"]);
    expect(actionsFor(room)).toEqual(["handled", "bad"]);
    expect(actionsFor({ kind: "event" })).toEqual(["redact", "handled", "bad"]);
    expect(triageLine(ev).text).toContain("🚫 ban `@spammer:evil.org` through a list");
    expect(triageLine(room).text).toBe("React: ✅ handled · ⛔ bad report.");
  });
});

describe("what an action does", () => {
  const registry = new CommandRegistry<CommandContext>().register(...listCommands, ...moderationCommands);
  const parses = (text: string) => {
    const p = registry.parse(text);
    expect(p.ok, text).toBe(true);
    return p;
  };

  it("turns each action into the moderator command, without the reporter's words", () => {
    const ban = decideTriage(open(ev), "ban", { list: "!list:example.org" });
    expect(ban).toEqual({
      kind: "command",
      text: "ban !list:example.org @spammer:evil.org reported abuse (report event-12)",
    });
    const kick = decideTriage(open(ev), "kick");
    expect(kick).toMatchObject({
      text: "kick @spammer:evil.org --room !room:example.org reported abuse (report event-12)",
    });
    const mute = decideTriage(open(user), "mute");
    expect(mute).toMatchObject({ text: "mute @bad:example.org 1h reported abuse (report user-3)" });
    const redact = decideTriage(open(ev), "redact");
    for (const d of [ban, kick, mute, redact]) {
      if (d.kind !== "command") throw new Error("expected a command");
      expect(d.text).not.toContain("quoted");
      parses(d.text);
    }
    const p = parses((redact as { text: string }).text);
    if (!p.ok) throw new Error("unreachable");
    expect(p.invocation.command).toBe("redact");
  });

  it("dismisses, refuses what the kind cannot take, a repeat, and a ban without a list", () => {
    expect(decideTriage(open(room), "handled")).toEqual({ kind: "dismiss", state: "handled" });
    expect(decideTriage(open(ev), "bad")).toEqual({ kind: "dismiss", state: "bad" });
    expect(decideTriage(open(room), "ban")).toMatchObject({ kind: "refuse" });
    expect(decideTriage(open(user), "redact")).toMatchObject({ kind: "refuse" });
    expect(decideTriage(open(ev), "ban")).toEqual({ kind: "needs-list" });
    // A refusal comes before asking for a list.
    expect(decideTriage(open(ev), "ban", { spared: new Set(["@spammer:evil.org"]) })).toMatchObject({
      kind: "refuse",
    });
    const done = { report: ev, actions: [{ action: "redact" as const, outcome: "done" as const }] };
    expect(decideTriage(done, "redact")).toMatchObject({ kind: "refuse" });
    const failed = { report: ev, actions: [{ action: "redact" as const, outcome: "failed" as const }] };
    expect(decideTriage(failed, "redact")).toMatchObject({ kind: "command" });
    expect(TRIAGE_KEYS.mute).toBe("🔇");
    // Never a one-click action against Tyr or a moderator (a report against them is still closable).
    const spared = new Set(["@spammer:evil.org"]);
    for (const a of ["ban", "kick", "mute"] as const)
      expect(decideTriage(open(ev), a, { list: "!l:x", spared })).toMatchObject({ kind: "refuse" });
    expect(decideTriage(open(ev), "redact", { spared })).toMatchObject({ kind: "command" });
    expect(decideTriage(open(ev), "handled", { spared })).toMatchObject({ kind: "dismiss" });
  });
});
