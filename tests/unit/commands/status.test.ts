// `status` through the command shell: "Last sync" must count the sync that delivered the command.
import { describe, expect, it } from "vitest";
import { coreCommands } from "../../../src/commands/core.ts";
import { handlerHarness } from "./handlerHarness.ts";

describe("status", () => {
  it("on an idle bot, shows the sync that delivered the command, not the one before it", async () => {
    const h = handlerHarness({ commands: coreCommands });
    // The previous sync finished 23 s ago; the long poll that just returned carried the command
    // and is still being handled, so the sync loop has not updated its own time yet.
    h.lastSyncAt = Date.now() - 23_000;
    await h.say("!tyr status");
    expect(h.replies.join("\n")).toMatch(/Last sync\W+just now/);
  });

  it("does not say never for a command in the first sync after a restart (still being handled)", async () => {
    const h = handlerHarness({ commands: coreCommands });
    await h.say("!tyr status");
    expect(h.replies.join("\n")).toMatch(/Last sync\W+just now/);
  });
});
