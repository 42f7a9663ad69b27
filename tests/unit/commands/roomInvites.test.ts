import { describe, expect, it } from "vitest";
import { inviteRoomName } from "../../../src/router.ts";
import {
  inviteChoice,
  inviteDecision,
  invitePrompt,
  roomsToProtect,
} from "../../../src/commands/roomInvitesPlan.ts";

describe("invites to rooms", () => {
  const facts = { known: false, inviterProblem: undefined, protectAll: false, safeMode: false };

  it("asks about a moderator's invite, or protects at once with protectAllJoinedRooms", () => {
    expect(inviteDecision("@mod:ex", facts)).toEqual({ kind: "prompt", inviter: "@mod:ex" });
    expect(inviteDecision("@mod:ex", { ...facts, protectAll: true })).toEqual({
      kind: "protect",
      inviter: "@mod:ex",
    });
    expect(inviteDecision("@mod:ex", { ...facts, safeMode: true })).toMatchObject({
      kind: "ignore",
      why: /safe mode/,
    });
  });

  it("leaves alone invites from non-moderators, without an inviter, and to rooms Tyr already uses", () => {
    expect(
      inviteDecision("@x:ex", {
        ...facts,
        inviterProblem: "not a member of the management room",
        protectAll: true,
      }),
    ).toEqual({
      kind: "ignore",
      why: "the inviter is not a moderator (not a member of the management room)",
    });
    expect(inviteDecision(undefined, facts)).toMatchObject({ kind: "ignore" });
    expect(inviteDecision("@mod:ex", { ...facts, known: true })).toMatchObject({ kind: "ignore" });
  });

  it("reads ✅ and ❌ (with or without the emoji variation selector), nothing else", () => {
    expect(inviteChoice("✅")).toBe("protect");
    expect(inviteChoice("✅\uFE0F")).toBe("protect");
    expect(inviteChoice("❌")).toBe("decline");
    expect(inviteChoice("👍")).toBeUndefined();
  });

  it("the prompt names the inviter, the room and the equivalent command", () => {
    const p = invitePrompt("!r:ex", "#r:ex", "@mod:ex", "!tyr");
    expect(p.text).toMatch(
      /`@mod:ex` invited Tyr to `#r:ex` \(`!r:ex`\)\. Protect it\? React ✅ .*`!tyr rooms add !r:ex`.*❌/,
    );
  });

  it("protectAllJoinedRooms skips the management room, policy lists and rooms already protected", () => {
    const joined = [
      { roomId: "!mgmt", type: undefined },
      { roomId: "!list", type: "m.policy" },
      { roomId: "!watched", type: undefined },
      { roomId: "!done", type: undefined },
      { roomId: "!new", type: undefined },
      { roomId: "!space", type: "m.space" },
    ];
    const g = { managementRoomId: "!mgmt", watchedLists: ["!watched"], protectedRooms: new Set(["!done"]) };
    expect(roomsToProtect(joined, g)).toEqual(["!new", "!space"]);
  });

  it("names the invited room from the invite's stripped state: alias first, then name", () => {
    const ev = (type: string, content: Record<string, unknown>) => ({
      type,
      state_key: "",
      sender: "@a:x",
      content,
    });
    expect(
      inviteRoomName([
        ev("m.room.name", { name: " Lobby " }),
        ev("m.room.canonical_alias", { alias: "#l:x" }),
      ]),
    ).toBe("#l:x");
    expect(inviteRoomName([ev("m.room.name", { name: " Lobby " })])).toBe("Lobby");
    expect(
      inviteRoomName([ev("m.room.name", { name: 3 }), ev("m.room.canonical_alias", {})]),
    ).toBeUndefined();
    expect(inviteRoomName([])).toBeUndefined();
  });
});
