// How a command that did not complete is answered and logged: an expected condition the
// moderator can act on (encryption switched off, an unknown list, the homeserver refusing) is
// answered and logged at info without a stack; only an unexpected fault is logged as an error.
import { describe, expect, it } from "vitest";
import { MatrixError } from "matrix-bot-sdk";
import { commandsFor, UserFacingError } from "../../../src/commands/framework/index.ts";
import type { CommandContext } from "../../../src/commands/context.ts";
import { cryptoCommands } from "../../../src/commands/crypto.ts";
import { listCommands } from "../../../src/commands/lists.ts";
import { classifyFailure } from "../../../src/commands/handler.ts";
import { handlerHarness } from "./handlerHarness.ts";

const { command } = commandsFor<CommandContext>();

const failing = [
  command({
    name: "broken",
    group: "Test",
    summary: "Fails like a bug",
    run: () => {
      throw new TypeError("cannot read properties of undefined");
    },
  }),
  command({
    name: "refused",
    group: "Test",
    summary: "The homeserver says no",
    run: () => {
      throw new MatrixError({ errcode: "M_FORBIDDEN", error: "You don't have permission" }, 403);
    },
  }),
];

const errorLines = (logs: Record<string, unknown>[]) => logs.filter((l) => Number(l.level) >= 50);

describe("a command that does not complete", () => {
  it("crypto status with encryption switched off is answered, and logged at info without a stack", async () => {
    const h = handlerHarness({ commands: cryptoCommands });
    await h.say("!tyr crypto status");
    expect(h.replies.join("\n")).toMatch(/encryption is switched off .*encryption\.enabled: false/);
    expect(errorLines(h.logs)).toEqual([]);
    const line = h.logs.find((l) => l.command === "crypto status");
    expect(line).toMatchObject({ level: 30 });
    expect(JSON.stringify(line)).not.toContain("stack");
  });

  it("an unknown list is an expected condition too", async () => {
    const h = handlerHarness({ commands: listCommands, services: { policy: { lists: [] } as never } });
    await h.say("!tyr unwatch nosuchlist");
    expect(h.replies.join("\n")).toMatch(/no watched list has the shortcode "nosuchlist"/);
    expect(errorLines(h.logs)).toEqual([]);
  });

  it("a homeserver refusal is answered with its errcode and not logged as an error", async () => {
    const h = handlerHarness({ commands: failing });
    await h.say("!tyr refused");
    expect(h.replies.join("\n")).toContain("refused failed: M_FORBIDDEN: You don't have permission");
    expect(errorLines(h.logs)).toEqual([]);
  });

  it("an unexpected fault is logged as an error, with its stack, and the moderator is pointed to the log", async () => {
    const h = handlerHarness({ commands: failing });
    await h.say("!tyr broken");
    expect(h.replies.join("\n")).toMatch(
      /broken failed: cannot read properties of undefined\. Check the log/,
    );
    const [line] = errorLines(h.logs);
    expect(line).toMatchObject({ command: "broken" });
    expect(JSON.stringify(line)).toContain("stack");
  });
});

describe("classifyFailure", () => {
  it("tells expected conditions from faults", () => {
    expect(classifyFailure(new UserFacingError("no such list"))).toEqual({
      expected: true,
      reason: "no such list",
    });
    expect(
      classifyFailure(new MatrixError({ errcode: "M_NOT_FOUND", error: "Room alias not found" }, 404)),
    ).toEqual({ expected: true, reason: "M_NOT_FOUND: Room alias not found" });
    // A server error or a rate limit that outlasted the retries is not the moderator's doing.
    expect(classifyFailure(new MatrixError({ errcode: "M_UNKNOWN", error: "Internal" }, 500)).expected).toBe(
      false,
    );
    expect(classifyFailure(new RangeError("bad")).expected).toBe(false);
  });
});
