// First run without a management room: Tyr creates one (encrypted, history from joining only),
// invites the initial moderator with power 100, remembers it in its account data, and finds the
// same room again on every later start instead of creating another.
import { afterAll, describe, expect, inject, it } from "vitest";
import { Synapse } from "../harness/synapse.ts";
import { TestUser } from "../harness/user.ts";
import { runBot, testConfig, type RunningBot } from "../harness/bot.ts";
import { pino } from "pino";
import { MANAGEMENT_ROOM_KEY } from "../../src/matrix/managementRoom.ts";
import { startBot } from "../../src/main.ts";

const synapse = Synapse.attach(inject("synapse"));

/** Rooms the user is invited to, from a fresh initial sync. */
async function invites(user: TestUser): Promise<string[]> {
  const body = await user.api<{ rooms?: { invite?: Record<string, unknown> } }>(
    "GET",
    "/_matrix/client/v3/sync?timeout=0",
  );
  return Object.keys(body.rooms?.invite ?? {});
}

describe("first run: Tyr creates its management room", () => {
  const running: RunningBot[] = [];
  afterAll(async () => {
    for (const b of running) await b.stop();
  });

  it("creates an encrypted room, invites the initial moderator with power 100, and reuses it after a restart", async () => {
    const tyr = new TestUser(synapse.url, await synapse.register("tyr"));
    const mod = new TestUser(synapse.url, await synapse.register("mod"));
    const loaded = testConfig({
      url: synapse.url,
      accessToken: tyr.accessToken,
      extra: { initialModerator: mod.userId },
    });
    const first = await runBot(loaded);
    running.push(first);
    const roomId = first.bot.managementRoomId;

    expect(await invites(mod)).toEqual([roomId]);
    await mod.join(roomId);
    expect(await mod.getState(roomId, "m.room.encryption")).toMatchObject({
      algorithm: "m.megolm.v1.aes-sha2",
    });
    expect(await mod.getState(roomId, "m.room.history_visibility")).toEqual({ history_visibility: "joined" });
    const levels = await mod.getState<{ users: Record<string, number> }>(roomId, "m.room.power_levels");
    expect(levels?.users[mod.userId]).toBe(100);
    const create = await mod.api<{ sender: string }>(
      "GET",
      `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.create/?format=event`,
    );
    expect(create.sender).toBe(tyr.userId);
    const recorded = await tyr.api(
      "GET",
      `/_matrix/client/v3/user/${encodeURIComponent(tyr.userId)}/account_data/${MANAGEMENT_ROOM_KEY}`,
    );
    expect(recorded).toEqual({ room_id: roomId });

    await first.stop();
    const second = await runBot(loaded);
    running.push(second);
    expect(second.bot.managementRoomId).toBe(roomId);
    const joined = await tyr.api<{ joined_rooms: string[] }>("GET", "/_matrix/client/v3/joined_rooms");
    expect(joined.joined_rooms).toEqual([roomId]);
  });

  it("refuses to start with neither managementRoom nor a remembered room nor initialModerator", async () => {
    const tyr = new TestUser(synapse.url, await synapse.register("tyr"));
    const loaded = testConfig({
      url: synapse.url,
      accessToken: tyr.accessToken,
      extra: { initialModerator: "@x:y" },
    });
    // The config demands one of the two; without both the start-up itself explains.
    delete (loaded.config as { initialModerator?: string }).initialModerator;
    await expect(startBot(loaded, pino({ level: "silent" }))).rejects.toThrow(
      /no management room: set managementRoom, or initialModerator/,
    );
  });
});
