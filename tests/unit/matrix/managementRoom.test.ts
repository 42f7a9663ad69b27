import { describe, expect, it } from "vitest";
import { managementRoomCreation, rememberedRoom } from "../../../src/matrix/managementRoom.ts";

describe("first-run management room", () => {
  it("is private, invites the moderator with power 100, shows history only from joining", () => {
    const body = managementRoomCreation({ initialModerator: "@mod:example.org", encrypted: true });
    expect(body).toMatchObject({
      preset: "private_chat",
      visibility: "private",
      invite: ["@mod:example.org"],
      power_level_content_override: { users: { "@mod:example.org": 100 } },
    });
    expect(body.initial_state).toContainEqual({
      type: "m.room.history_visibility",
      state_key: "",
      content: { history_visibility: "joined" },
    });
  });

  it("is encrypted from its first event when encryption is on, and only then", () => {
    const types = (encrypted: boolean) =>
      (
        managementRoomCreation({ initialModerator: "@m:x", encrypted }).initial_state as { type: string }[]
      ).map((e) => e.type);
    expect(types(true)).toContain("m.room.encryption");
    expect(types(false)).not.toContain("m.room.encryption");
  });

  it("trusts only a well-formed remembered room ID", () => {
    expect(rememberedRoom({ room_id: "!abc:example.org" })).toBe("!abc:example.org");
    for (const bad of [undefined, null, {}, { room_id: 5 }, { room_id: "#alias:x" }, "!abc"]) {
      expect(rememberedRoom(bad)).toBeUndefined();
    }
  });
});
