// Ban propagation in an encrypted management room: the moderator's client is matrix-js-sdk with
// Rust crypto (what Element runs). A ban made in that client prompts an encrypted notice the
// client decrypts; the moderator's reaction (which js-sdk, like Element, sends unencrypted) writes
// the rule, and the spammer is banned in the second protected room.
import type { MatrixClient as JsClient, MatrixEvent } from "matrix-js-sdk";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Synapse } from "../harness/synapse.ts";
import { TestUser, eventually } from "../harness/user.ts";
import { runBot, testConfig, watchAndProtect, type RunningBot } from "../harness/bot.ts";
import { createEncryptedRoom, jsTimeline, startModerator, waitFor, waitForJoin } from "./crypto-helpers.ts";

const synapse = Synapse.attach(inject("synapse"));

describe("ban propagation in an encrypted management room", () => {
  let tyr: TestUser;
  let modApi: TestUser;
  let mod: JsClient;
  let mgmt: string;
  let list: string;
  let rooms: string[];
  let bot: RunningBot | undefined;

  beforeAll(async () => {
    const [t, m] = await Promise.all([synapse.register("tyr-prop-e2ee"), synapse.register("mod-prop-e2ee")]);
    tyr = new TestUser(synapse.url, t);
    modApi = new TestUser(synapse.url, m);
    mod = await startModerator(synapse.url, m);
    mgmt = await createEncryptedRoom(mod, [tyr.userId]);
    const room = () =>
      modApi.createRoom({
        preset: "public_chat",
        invite: [tyr.userId],
        power_level_content_override: { users: { [tyr.userId]: 100 } },
      });
    rooms = [await room(), await room()];
    list = await modApi.createRoom({
      preset: "public_chat",
      creation_content: { type: "m.policy" },
      invite: [tyr.userId],
      power_level_content_override: { users: { [tyr.userId]: 50 } },
      initial_state: [
        { type: "org.matrix.mjolnir.shortcode", state_key: "", content: { shortcode: "e2ee" } },
      ],
    });
    for (const r of [...rooms, list]) await tyr.join(r);
    await watchAndProtect(tyr, { watchedLists: [list], protectedRooms: rooms });
    bot = await runBot(testConfig({ url: synapse.url, accessToken: tyr.accessToken, managementRoom: mgmt }));
    await waitForJoin(mod, mgmt, tyr.userId);
  });
  afterAll(async () => {
    mod?.stopClient();
    await bot?.stop();
  });

  it("prompts encrypted, and the moderator's reaction from Element's SDK writes the rule", async () => {
    expect(bot!.bot.state.peek(mgmt)?.encrypted).toBe(true);
    const spammer = new TestUser(synapse.url, await synapse.register("spam-prop-e2ee"));
    for (const r of rooms) await spammer.join(r);
    await mod.ban(rooms[0]!, spammer.userId, "crypto scam");

    const prompt: MatrixEvent = await waitFor("the decrypted prompt", () =>
      jsTimeline(mod, mgmt).find(
        (e) =>
          e.getSender() === tyr.userId &&
          e.getType() === "m.room.message" &&
          String(e.getContent()["body"]).includes(`banned \`${spammer.userId}\``),
      ),
    );
    expect(prompt.isEncrypted()).toBe(true);
    expect(String(prompt.getContent()["body"])).toContain("(crypto scam). Add to `e2ee`?");

    const reaction = await mod.sendEvent(
      mgmt,
      "m.reaction" as never,
      {
        "m.relates_to": { rel_type: "m.annotation", event_id: prompt.getId()!, key: "1️⃣" },
      } as never,
    );
    const sent = await modApi.api<{ type: string }>(
      "GET",
      `/_matrix/client/v3/rooms/${encodeURIComponent(mgmt)}/event/${encodeURIComponent(reaction.event_id)}`,
    );
    // js-sdk, like Element, sends reactions in the clear even in encrypted rooms: Tyr must take them.
    expect(sent.type).toBe("m.reaction");
    await eventually(
      async () => (await modApi.membership(rooms[1]!, spammer.userId)) === "ban",
      30_000,
      "banned in the second room",
    );
    const state = await modApi.api<{ type: string; content: Record<string, unknown> }[]>(
      "GET",
      `/_matrix/client/v3/rooms/${encodeURIComponent(list)}/state`,
    );
    const rule = state.find((e) => e.type === "m.policy.rule.user" && e.content.entity === spammer.userId);
    expect(rule?.content).toMatchObject({ recommendation: "m.ban", reason: "crypto scam" });
  });
});
