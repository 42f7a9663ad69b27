// How a takedown removes the banned user's messages, on a real Synapse with MSC4293 switched on
// (experimental_features.msc4293_enabled): the ban carries redact_events and the server redacts
// the messages itself (no m.room.redaction event is sent). With the flag switched off in Tyr's
// config, Synapse's per-user bulk redaction (MSC4194's admin form) does it with real redaction
// events; with both off, Tyr redacts each message itself. Each path leaves a different trace in the
// room, which is what the tests look at.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { DEV_DIR, Synapse } from "../harness/synapse.ts";
import { TestUser, eventually, type SeenEvent } from "../harness/user.ts";
import { runBot, testConfig, watchAndProtect } from "../harness/bot.ts";

const enc = encodeURIComponent;
const dir = join(DEV_DIR, `redaction-${process.pid}`);

describe("redaction on takedown: redact_events, bulk, per event", () => {
  let hs: Synapse;
  const user = (name: string, admin = false) => TestUser.register(hs, name, { admin });

  beforeAll(async () => {
    hs = await Synapse.create({ dir, experimental: { msc4293_enabled: true } });
  }, 120_000);
  afterAll(async () => {
    await hs?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A takedown rule for a spammer who posted two messages; returns what the room then shows. */
  async function takedown(redaction: Record<string, boolean>) {
    const [tyr, mod, maintainer, spammer] = await Promise.all([
      user("tyr", true),
      user("mod"),
      user("maint"),
      user("spammer"),
    ]);
    const mgmt = await mod.createRoom({ invite: [tyr.userId] });
    const room = await mod.createRoom({
      preset: "public_chat",
      invite: [tyr.userId],
      power_level_content_override: { users: { [tyr.userId]: 100 } },
    });
    const list = await maintainer.createRoom({
      preset: "public_chat",
      creation_content: { type: "m.policy" },
    });
    await tyr.join(room);
    await tyr.join(list);
    await watchAndProtect(tyr, { watchedLists: [list], protectedRooms: [room] });
    const bot = await runBot(
      testConfig({ url: hs.url, accessToken: tyr.accessToken, managementRoom: mgmt, extra: { redaction } }),
    );
    try {
      await spammer.join(room);
      const messages = [await spammer.sendText(room, "spam one"), await spammer.sendText(room, "spam two")];
      // Tyr answering a later command has synced past the messages (it knows their IDs).
      await mod.sendText(mgmt, "!tyr status");
      await mod.waitForNotice(mgmt, tyr.userId, /Protected rooms/);
      await maintainer.setState(list, "m.policy.rule.user", "spam", {
        entity: spammer.userId,
        recommendation: "org.matrix.msc4204.takedown",
        reason: "abuse",
      });
      await eventually(async () => (await mod.membership(room, spammer.userId)) === "ban", 30_000, "banned");
      const redacted = async (id: string) =>
        Object.keys(
          (await mod.api<SeenEvent>("GET", `/_matrix/client/v3/rooms/${enc(room)}/event/${enc(id)}`)).content,
        ).length === 0;
      await eventually(
        async () => (await Promise.all(messages.map(redacted))).every(Boolean),
        30_000,
        "redacted",
      );
      const timeline = await mod.api<{ chunk: SeenEvent[] }>(
        "GET",
        `/_matrix/client/v3/rooms/${enc(room)}/messages?dir=b&limit=100`,
      );
      const redactions = timeline.chunk.filter((e) => e.type === "m.room.redaction");
      const ban = await mod.getState<Record<string, unknown>>(room, "m.room.member", spammer.userId);
      const logged = await eventually(
        async () =>
          bot.bot.actionLog
            .query({ about: spammer.userId })
            .find((r) => r.kind === "redactUser" && r.outcome === "done"),
        30_000,
        "redaction logged",
      );
      return { redactions, ban, detail: String(logged.detail), tyr, spammer, messages };
    } finally {
      await bot.stop();
    }
  }

  it("the server honours redact_events: messages redacted without a single redaction event", async () => {
    const r = await takedown({});
    expect(r.ban).toMatchObject({ membership: "ban", "org.matrix.msc4293.redact_events": true });
    expect(r.redactions).toEqual([]);
    expect(r.detail).toMatch(/MSC4293/);
  });

  it("redact_events off: Synapse's bulk redaction sends the redactions", async () => {
    const r = await takedown({ redactEventsFlag: false });
    expect(r.ban).not.toHaveProperty(["org.matrix.msc4293.redact_events"]);
    // Synapse redacts every event of the user in the room (their join too).
    expect(r.redactions.map((e) => e.content.redacts)).toEqual(expect.arrayContaining(r.messages));
    expect(r.detail).toMatch(/bulk redaction \(MSC4194/);
  });

  it("both off: Tyr redacts each message itself", async () => {
    const r = await takedown({ redactEventsFlag: false, bulkRedaction: false });
    // The events Tyr saw the spammer send (their join too), each redacted by Tyr.
    expect(new Set(r.redactions.map((e) => e.sender))).toEqual(new Set([r.tyr.userId]));
    expect(r.redactions.map((e) => e.content.redacts)).toEqual(expect.arrayContaining(r.messages));
    expect(r.detail).toMatch(/redacted \d+ event\(s\) one by one/);
  });
});
