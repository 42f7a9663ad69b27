import { describe, expect, it } from "vitest";
import { createLogger } from "../../../src/logging.ts";
import { RoomStateCache } from "../../../src/matrix/roomState.ts";
import type { SyncResponse } from "../../../src/matrix/syncTypes.ts";
import { Router } from "../../../src/router.ts";

const member = (user: string) => ({
  type: "m.room.member",
  state_key: user,
  sender: user,
  event_id: `$${user}`,
  origin_server_ts: 1,
  content: { membership: "join" },
});

describe("Router", () => {
  it("lets go of each joined room's raw events once the room is handled", async () => {
    const router = new Router(new RoomStateCache(), createLogger({ level: "silent", format: "json" }));
    const seen: string[] = [];
    router.subscribe({ onState: (roomId, ev) => seen.push(`${roomId} ${ev.stateKey}`) });
    const body: SyncResponse = {
      rooms: {
        join: {
          "!a:x": { state: { events: [member("@u:x")] } },
          "!b:x": { state: { events: [member("@v:x")] } },
        },
      },
    };
    await router.handle(body, { initial: true });
    expect(seen).toEqual(["!a:x @u:x", "!b:x @v:x"]);
    // The sync loop holds the body until the next /sync returns: it must not pin every room's state.
    expect(body.rooms?.join).toEqual({});
    expect(router.state.peek("!b:x")?.membership("@v:x")).toBe("join");
  });

  it("shares the type and a self-sent member event's sender with the state key", async () => {
    const router = new Router(new RoomStateCache(), createLogger({ level: "silent", format: "json" }));
    await router.handle(
      { rooms: { join: { "!a:x": { state: { events: [member("@u:x")] } } } } },
      { initial: true },
    );
    const ev = router.state.peek("!a:x")?.get("m.room.member", "@u:x");
    expect(ev).toMatchObject({ type: "m.room.member", stateKey: "@u:x", sender: "@u:x", eventId: "$@u:x" });
  });
});
