// Report triage in an encrypted management room, the moderator on matrix-js-sdk with Rust crypto
// (what Element runs): the relayed report arrives encrypted, the moderator's reaction (which
// js-sdk, like Element, sends in the clear) redacts the reported message, and Tyr's edit of the
// notice saying who did it is encrypted too (the Messenger never sends plaintext into this room).
import type { MatrixClient as JsClient, MatrixEvent } from "matrix-js-sdk";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Synapse } from "../harness/synapse.ts";
import { TestUser, eventually } from "../harness/user.ts";
import { runBot, testConfig, watchAndProtect, type RunningBot } from "../harness/bot.ts";
import { createEncryptedRoom, jsTimeline, startModerator, waitFor, waitForJoin } from "./crypto-helpers.ts";
import { REPORTS_CURSOR_FILE } from "../../src/reports/feature.ts";

const synapse = Synapse.attach(inject("synapse"));
const enc = encodeURIComponent;

describe("report triage in an encrypted management room", () => {
  let tyr: TestUser;
  let modApi: TestUser;
  let mod: JsClient;
  let mgmt: string;
  let room: string;
  let bot: RunningBot | undefined;

  beforeAll(async () => {
    const [t, m] = await Promise.all([
      synapse.register("tyr-rep-e2ee", { admin: true }),
      synapse.register("mod-rep-e2ee"),
    ]);
    tyr = new TestUser(synapse.url, t);
    modApi = new TestUser(synapse.url, m);
    mod = await startModerator(synapse.url, m);
    mgmt = await createEncryptedRoom(mod, [tyr.userId]);
    room = await modApi.createRoom({
      preset: "public_chat",
      invite: [tyr.userId],
      power_level_content_override: { users: { [tyr.userId]: 100 } },
    });
    await tyr.join(room);
    await watchAndProtect(tyr, { watchedLists: [], protectedRooms: [room] });
    const loaded = testConfig({
      url: synapse.url,
      accessToken: tyr.accessToken,
      managementRoom: mgmt,
      extra: { reports: { enabled: true, pollSeconds: 1 } },
    });
    bot = await runBot(loaded);
    await waitForJoin(mod, mgmt, tyr.userId);
    const cursor = join(loaded.config.dataPath, REPORTS_CURSOR_FILE);
    await eventually(async () => existsSync(cursor), 15_000, "the first poll");
  });
  afterAll(async () => {
    mod?.stopClient();
    await bot?.stop();
  });

  it("relays encrypted; the moderator's reaction redacts, and the edit is encrypted", async () => {
    expect(bot!.bot.state.peek(mgmt)?.encrypted).toBe(true);
    const [spammer, reporter] = await Promise.all(
      ["spam-rep-e2ee", "reporter-rep-e2ee"].map(
        async (n) => new TestUser(synapse.url, await synapse.register(n)),
      ),
    );
    for (const u of [spammer!, reporter!]) await u.join(room);
    const spam = await spammer!.sendText(room, "cheap crypto, dm me");
    await reporter!.api("POST", `/_matrix/client/v3/rooms/${enc(room)}/report/${enc(spam)}`, {
      reason: "scam",
    });

    const notice: MatrixEvent = await waitFor("the decrypted report", () =>
      jsTimeline(mod, mgmt).find(
        (e) => e.getSender() === tyr.userId && /Report event-\d+ by/.test(String(e.getContent()["body"])),
      ),
    );
    expect(notice.isEncrypted()).toBe(true);
    expect(String(notice.getContent()["body"])).toContain("cheap crypto, dm me");

    await mod.sendEvent(
      mgmt,
      "m.reaction" as never,
      { "m.relates_to": { rel_type: "m.annotation", event_id: notice.getId()!, key: "🗑️" } } as never,
    );
    await eventually(
      async () => {
        const ev = await modApi.api<{ unsigned?: { redacted_because?: unknown } }>(
          "GET",
          `/_matrix/client/v3/rooms/${enc(room)}/event/${enc(spam)}`,
        );
        return ev.unsigned?.redacted_because !== undefined;
      },
      30_000,
      "the reported message redacted",
    );
    const edit: MatrixEvent = await waitFor("the decrypted edit", () =>
      jsTimeline(mod, mgmt).find(
        (e) =>
          e.getSender() === tyr.userId &&
          e.getWireType() === "m.room.encrypted" &&
          (e.getContent()["m.relates_to"] as { rel_type?: string } | undefined)?.rel_type === "m.replace",
      ),
    );
    expect(edit.isEncrypted()).toBe(true);
    const body = String((edit.getContent()["m.new_content"] as { body?: string }).body);
    expect(body).toContain(`🗑️ \`${modApi.userId}\`: redact. Redacted`);
  });
});
