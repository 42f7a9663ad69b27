// A command whose room key reaches Tyr late (the sender's client withheld it, a backup restore
// brings it later): run when it is still fresh, answered but not run when it is older than
// encryption.lateDecryptionMaxAgeSeconds. The moderator is matrix-js-sdk (Rust crypto) against a
// real Synapse; the late key is the moderator's own export imported into Tyr's engine, the way a
// restore from key backup delivers keys.
import type { MatrixClient as JsClient, MatrixEvent } from "matrix-js-sdk";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { Synapse } from "../harness/synapse.ts";
import { runBot, testConfig, type RunningBot } from "../harness/bot.ts";
import type { CryptoFeature } from "../../src/matrix/crypto/feature.ts";
import {
  accounts,
  bodyOf,
  inReplyTo,
  createEncryptedRoom,
  jsTimeline,
  startModerator,
  waitFor,
  waitForJoin,
  type TestUser,
} from "./crypto-helpers.ts";

const synapse = Synapse.attach(inject("synapse"));
const { register } = accounts(synapse);
const MAX_AGE_S = 8;

describe("commands decrypted late", () => {
  let botUser: TestUser;
  let modUser: TestUser;
  let mod: JsClient;
  let bot: RunningBot;
  let mgmt: string;

  beforeAll(async () => {
    [botUser, modUser] = await Promise.all([register("tyr-late"), register("mod-late")]);
    mod = await startModerator(synapse.url, modUser);
    mgmt = await createEncryptedRoom(mod, [botUser.userId]);
    bot = await runBot(
      testConfig({
        url: synapse.url,
        accessToken: botUser.accessToken,
        managementRoom: mgmt,
        // Keys imported from an export are not authenticated; this test is about their age.
        extra: {
          encryption: { requireVerifiedDevicesForCommands: false, lateDecryptionMaxAgeSeconds: MAX_AGE_S },
        },
      }),
    );
    await waitForJoin(mod, mgmt, botUser.userId);
  });

  afterAll(async () => {
    mod?.stopClient();
    await bot?.stop();
  });

  const engine = () => (bot.bot.feature("crypto") as CryptoFeature).engine;
  const answersTo = (eventId: string): MatrixEvent[] =>
    jsTimeline(mod, mgmt).filter(
      (e) => e.getSender() === botUser.userId && e.getType() === "m.room.message" && inReplyTo(e) === eventId,
    );

  /** Sends a command whose key Tyr does not get (the moderator's client trusts only verified devices). */
  async function sendWithheld(body: string): Promise<string> {
    mod.getCrypto()!.globalBlacklistUnverifiedDevices = true;
    // A new Megolm session: Tyr may hold the current one from an earlier import.
    await mod.getCrypto()!.forceDiscardSession(mgmt);
    const before = engine().pendingDecryptions;
    const { event_id } = await mod.sendTextMessage(mgmt, body);
    await waitFor("Tyr to hold the undecryptable command", () =>
      engine().pendingDecryptions > before ? true : undefined,
    );
    return event_id;
  }

  async function deliverKeys(): Promise<void> {
    const keys = await mod.getCrypto()!.exportRoomKeysAsJson();
    await engine().machine.importExportedRoomKeys(keys, () => undefined);
  }

  it("runs a command whose key arrives within the allowed age", async () => {
    const cmd = await sendWithheld("!tyr status");
    await deliverKeys();
    const reply = await waitFor("the status reply", () =>
      answersTo(cmd).find((e) => /Tyr status/.test(bodyOf(e))),
    );
    expect(bodyOf(reply)).toMatch(/Uptime/);
  });

  it("does not run an older one, and tells the moderator why", async () => {
    const cmd = await sendWithheld("!tyr status");
    await new Promise((r) => setTimeout(r, (MAX_AGE_S + 1) * 1000));
    await deliverKeys();
    const notice = await waitFor("the not-run notice", () =>
      answersTo(cmd).find((e) => /could decrypt this command only now/.test(bodyOf(e))),
    );
    expect(notice.getContent()["msgtype"]).toBe("m.notice");
    expect(bodyOf(notice)).toMatch(/did not run it\. Send it again/);
    // A fresh command afterwards is answered; the stale one still has only its notice.
    mod.getCrypto()!.globalBlacklistUnverifiedDevices = false;
    const { event_id: fresh } = await mod.sendTextMessage(mgmt, "!tyr status");
    await waitFor("the fresh status reply", () => answersTo(fresh).find((e) => /Tyr status/.test(bodyOf(e))));
    expect(answersTo(cmd).map(bodyOf)).toEqual([bodyOf(notice)]);
    expect(bot.logs.some((l) => l["msg"] === "decrypted an old event late: treated as history")).toBe(true);
  });
});
