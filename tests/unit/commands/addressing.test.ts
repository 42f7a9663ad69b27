// The command shell answers a command sent under a near-miss name with a hint, and stays silent
// for chat (see misaddressedCommand for the recognition itself).
import { describe, expect, it } from "vitest";
import { coreCommands } from "../../../src/commands/core.ts";
import { handlerHarness } from "./handlerHarness.ts";

describe("addressing Tyr under a near-miss name", () => {
  it("'tyr: status' to the account @tyrbot gets the forms Tyr answers to", async () => {
    const h = handlerHarness({ commands: coreCommands, botUserId: "@tyrbot:example.org" });
    await h.say("tyr: status");
    expect(h.replies).toEqual([
      "Tyr does not answer to `tyr`. To run that, send `!tyr status` (or `tyrbot: status`, `@tyrbot:example.org: status`).",
    ]);
    await h.say("tyrbot: status");
    expect(h.replies[1]).toContain("Tyr status");
  });

  it("stays silent for chat that merely names the bot", async () => {
    const h = handlerHarness({
      commands: coreCommands,
      botUserId: "@tyrbot:example.org",
      members: { "@tyra:example.org": "Tyra", "@bob:example.org": "Tyrbo" },
    });
    await h.say("tyr: what do you think?");
    await h.say("tyrbot is quiet today");
    // Near the bot's names, but they are other members of the room.
    await h.say("tyra: status?");
    await h.say("Tyrbo, status of the raid?");
    expect(h.replies).toEqual([]);
  });
});
