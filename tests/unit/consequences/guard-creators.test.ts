import { describe, expect, it } from "vitest";
import { refusal } from "../../../src/consequences/guard.ts";
import type { Consequence } from "../../../src/consequences/types.ts";

describe("the guard and room creators (room version 12)", () => {
  const ctx = {
    botUserId: "@tyr:x",
    ownServer: "x",
    moderators: new Set<string>(),
    creatorsOf: (room: string) => new Set(room === "!v12" ? ["@owner:x", "@co:y"] : []),
  };
  const cause = { by: "system", what: "test" } as const;

  it("does not try to ban, kick, mute or demote a creator; others as before", () => {
    const cs: Consequence[] = [
      { kind: "ban", room: "!v12", user: "@owner:x", reason: "", cause },
      { kind: "kick", room: "!v12", user: "@co:y", reason: "", cause },
      { kind: "mute", room: "!v12", user: "@owner:x", durationMs: 1, reason: "", cause },
      { kind: "setPowerLevel", room: "!v12", user: "@co:y", level: 0, reason: "", cause },
    ];
    for (const c of cs) expect(refusal(c, ctx)).toMatch(/a creator of !v12.*unlimited power/);
    expect(refusal({ kind: "ban", room: "!v12", user: "@other:x", reason: "", cause }, ctx)).toBeUndefined();
    expect(refusal({ kind: "ban", room: "!v10", user: "@owner:x", reason: "", cause }, ctx)).toBeUndefined();
    expect(
      refusal({ kind: "unban", room: "!v12", user: "@owner:x", reason: "", cause }, ctx),
    ).toBeUndefined();
  });
});
