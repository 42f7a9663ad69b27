// The safe-mode gate in the command shell: only the repair commands run; the rest are answered
// with what failed and how to fix it; status shows it; restart asks the bot to restart.
import { describe, expect, it } from "vitest";
import { coreCommands } from "../../../src/commands/core.ts";
import { commandsFor } from "../../../src/commands/framework/index.ts";
import type { CommandContext } from "../../../src/commands/context.ts";
import { handlerHarness } from "./handlerHarness.ts";

const { command } = commandsFor<CommandContext>();
let banned = 0;
const ban = command({
  name: "ban",
  group: "Test",
  summary: "test ban",
  run: () => {
    banned++;
    return undefined;
  },
});

describe("safe mode in the command shell", () => {
  it("runs every command while not in safe mode", async () => {
    const h = handlerHarness({ commands: [...coreCommands, ban] });
    banned = 0;
    await h.say("!tyr ban");
    expect(banned).toBe(1);
    expect(h.replies.join("\n")).not.toMatch(/Safe mode/);
  });

  it("refuses other commands with the failure and its fix, and status shows it", async () => {
    const h = handlerHarness({ commands: [...coreCommands, ban] });
    h.safeMode.add({ key: "join:!l:x", what: "cannot join the watched list !l:x", fix: "unwatch !l:x" });
    banned = 0;
    await h.say("!tyr ban");
    expect(banned).toBe(0);
    expect(h.replies.at(-1)).toMatch(
      /ban is not available: Tyr is in safe mode because cannot join the watched list !l:x \(fix it with: unwatch !l:x\)/,
    );
    await h.say("!tyr status");
    expect(h.replies.at(-1)).toMatch(/Safe mode\W+ON: cannot join the watched list !l:x/);
    await h.say("!tyr restart");
    expect(h.restarts).toBe(1);
  });
});
