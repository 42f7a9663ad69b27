// A moderator's first day with Tyr in an encrypted management room (issue #11, #18): the whole bot
// (startBot) against a real Synapse, the moderators on matrix-js-sdk (Rust crypto). One moderator
// is cross-signed; the other is alone on one new device without cross-signing, and must still be
// able to read why Tyr refuses them, verify Tyr by emoji from that device, and then read Tyr.
import type { MatrixClient as JsClient, MatrixEvent } from "matrix-js-sdk";
import { VerificationPhase, VerifierEvent } from "matrix-js-sdk/lib/crypto-api/verification.js";
import type {
  ShowSasCallbacks,
  VerificationRequest as JsVerificationRequest,
} from "matrix-js-sdk/lib/crypto-api/verification.js";
import { copyFileSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { Synapse } from "../harness/synapse.ts";
import { runBot, testConfig, type RunningBot } from "../harness/bot.ts";
import {
  accounts,
  bodyOf,
  inReplyTo,
  unencryptedFrom,
  waitForJsMessage,
  waitForKnownDevice,
  jsTimeline,
  startModerator,
  waitFor,
  waitForJoin,
  type TestUser,
} from "./crypto-helpers.ts";

const synapse = Synapse.attach(inject("synapse"));
const url = synapse.url;
const { register, login } = accounts(synapse);

const text = (e: MatrixEvent): string => bodyOf(e).replaceAll("`", "");

describe("a moderator's first day in an encrypted management room", () => {
  let botUser: TestUser;
  let modUser: TestUser;
  let loneUser: TestUser;
  let mod: JsClient;
  let lone: JsClient;
  let bot: RunningBot;
  let mgmt: string;

  beforeAll(async () => {
    [botUser, modUser, loneUser] = await Promise.all([
      register("tyr-firstday"),
      register("mod-firstday"),
      register("lone-firstday"),
    ]);
    mod = await startModerator(url, modUser);
    // The lone moderator's only device, without cross-signing (a new login, or a client without it).
    lone = await startModerator(url, loneUser, { crossSign: false });
    const { room_id } = await mod.createRoom({
      invite: [botUser.userId, loneUser.userId],
      // Room version 12: the creator (mod) has infinite power and must not be listed.
      power_level_content_override: { users: { [loneUser.userId]: 50 } },
      initial_state: [
        { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } },
      ],
    });
    mgmt = room_id;
    await lone.joinRoom(mgmt);
    bot = await runBot(testConfig({ url, accessToken: botUser.accessToken, managementRoom: mgmt }));
    await waitForJoin(mod, mgmt, botUser.userId);
  });

  afterAll(async () => {
    lone?.stopClient();
    mod?.stopClient();
    await bot?.stop();
  });

  /** A message from Tyr that `client` decrypted. */
  const botMessage = (client: JsClient, what: string, pred: (e: MatrixEvent) => boolean) =>
    waitForJsMessage(client, mgmt, botUser.userId, what, pred);

  /** `!tyr <cmd>` from `client`; Tyr's reply as `reader` decrypts it (backticks removed). */
  async function command(client: JsClient, cmd: string, reader: JsClient = client): Promise<string> {
    const { event_id } = await client.sendMessage(mgmt, { msgtype: "m.text", body: `!tyr ${cmd}` } as never);
    const reply = await botMessage(reader, `the reply to "${cmd}"`, (e) => inReplyTo(e) === event_id);
    expect(reply.isEncrypted()).toBe(true);
    return text(reply);
  }

  it("sends nothing in plaintext into the encrypted room, not even the first notice at a fresh start", async () => {
    await botMessage(mod, "the recovery-key notice", (e) => /recovery key was written/.test(text(e)));
    const { sent, plaintext } = await unencryptedFrom(url, modUser, mgmt, botUser.userId);
    expect(sent).toBeGreaterThan(0);
    expect(plaintext).toEqual([]);
  });

  it("obeys the first command of a cross-signed device right after the start", async () => {
    expect(await command(mod, "status")).toMatch(/Tyr status/);
  });

  it("obeys the first command of a moderator device that has just logged in and been cross-signed", async () => {
    const session = await login(modUser);
    const fresh = await startModerator(url, session, { crossSign: false });
    try {
      const crypto = mod.getCrypto()!;
      await waitFor(
        "the moderator's first device to see the new one",
        async () =>
          (await crypto.getUserDeviceInfo([modUser.userId], true))
            .get(modUser.userId)
            ?.has(session.deviceId) || undefined,
      );
      await crypto.crossSignDevice(session.deviceId);
      await waitFor("the new device to be cross-signed", async () =>
        (await fresh.getCrypto()!.getDeviceVerificationStatus(modUser.userId, session.deviceId))
          ?.signedByOwner
          ? true
          : undefined,
      );
      expect(await command(fresh, "status", mod)).toMatch(/Tyr status/);
    } finally {
      fresh.stopClient();
    }
  });

  it("obeys the first command after a restart on a new machine (a new device, restored from the recovery key)", async () => {
    const oldData = bot.dataPath;
    await bot.stop();
    const moved = await login(botUser);
    const dataPath = mkdtempSync(join(tmpdir(), "tyr-data-"));
    mkdirSync(join(dataPath, "crypto"), { recursive: true });
    copyFileSync(join(oldData, "crypto", "recovery-key.txt"), join(dataPath, "crypto", "recovery-key.txt"));
    bot = await runBot(testConfig({ url, accessToken: moved.accessToken, managementRoom: mgmt, dataPath }));
    expect(bot.bot.session.deviceId).toBe(moved.deviceId);
    const crypto = mod.getCrypto()!;
    await waitFor("the moderator's client to trust Tyr's new device", async () => {
      const s = await crypto.getDeviceVerificationStatus(botUser.userId, moved.deviceId);
      return s?.signedByOwner ? true : undefined;
    });
    expect(await command(mod, "status")).toMatch(/Tyr status/);
  });

  it("refuses an unsigned device in words that device can read", async () => {
    const refusal = await command(lone, "status");
    expect(refusal).toMatch(/Sorry, Tyr did not run this command: your device \S+ is not cross-signed/);
    // The other moderator reads it too.
    await botMessage(mod, "the refusal for the other moderator", (e) => text(e) === refusal);
  });

  let sas: ShowSasCallbacks | undefined;
  function watchSas(request: JsVerificationRequest): void {
    request.verifier!.on(VerifierEvent.ShowSas, (s) => (sas = s));
  }

  it("lets the lone moderator verify Tyr by emoji from that device alone, and then read Tyr's replies", async () => {
    const crypto = lone.getCrypto()!;
    const tyrDevice = bot.bot.session.deviceId;
    await waitForKnownDevice(lone, botUser.userId, tyrDevice);
    const seen = new Set(jsTimeline(lone, mgmt).map((e) => e.getId()));
    const request = await crypto.requestDeviceVerification(botUser.userId, tyrDevice);
    await waitFor("Tyr to accept", () => request.phase === VerificationPhase.Ready || undefined);
    await request.startVerification("m.sas.v1");
    watchSas(request);
    const done = request.verifier!.verify();
    const theirs = await waitFor("emoji on the lone moderator's device", () =>
      sas?.sas.emoji?.map(([symbol]) => symbol),
    );
    // Tyr shows its emoji where that device can read them.
    const notice = await botMessage(
      lone,
      "Tyr's emoji, readable by the device being verified",
      (e) => !seen.has(e.getId()) && text(e).includes("Compare these emoji"),
    );
    for (const symbol of theirs) expect(text(notice)).toContain(symbol);
    await sas!.confirm();
    // The confirmation comes from the device being verified: the SAS match is the proof.
    expect(await command(lone, "verify confirm")).toMatch(/Confirmed on Tyr's side|is complete/);
    await done;
    await waitFor(
      "Tyr to mark the device verified",
      async () => (await command(mod, `devices ${loneUser.userId}`)).includes("verified by Tyr") || undefined,
    );
    // Now that device commands Tyr, and reads the answer.
    expect(await command(lone, "status")).toMatch(/Tyr status/);
  });

  it("shows master keys as fingerprints", async () => {
    const status = await command(mod, "crypto status");
    const master = /Master key: (.*)/.exec(status)?.[1] ?? "";
    expect(master).toMatch(/^([A-Za-z0-9+/]{1,4} ){10}/);
    expect(master).not.toContain("{");
  });

  it("does not let a blocked device confirm its own verification", async () => {
    const session = await login(loneUser);
    const blocked = await startModerator(url, session, { crossSign: false });
    try {
      expect(await command(mod, `device block ${loneUser.userId} ${session.deviceId}`)).toMatch(/Blocked/);
      const crypto = blocked.getCrypto()!;
      const tyrDevice = bot.bot.session.deviceId;
      await waitForKnownDevice(blocked, botUser.userId, tyrDevice);
      const request = await crypto.requestDeviceVerification(botUser.userId, tyrDevice);
      await waitFor("Tyr to accept", () => request.phase === VerificationPhase.Ready || undefined);
      await request.startVerification("m.sas.v1");
      sas = undefined;
      watchSas(request);
      void request.verifier!.verify().catch(() => undefined);
      await waitFor("emoji on the blocked session", () => sas?.sas.emoji);
      await sas!.confirm();
      expect(await command(blocked, "verify confirm", mod)).toMatch(
        new RegExp(`Sorry, Tyr did not run this command: your device ${session.deviceId} is blocked`),
      );
      expect(await command(mod, "verify cancel")).toMatch(/Cancelled the verification/);
      expect(await command(mod, `devices ${loneUser.userId}`)).toMatch(
        new RegExp(`${session.deviceId} · name: .* · state: blocked`),
      );
    } finally {
      blocked.stopClient();
    }
  });

  it("starts the SAS itself when the requesting client waits, and reports a cancellation once", async () => {
    const crypto = lone.getCrypto()!;
    const seen = new Set(jsTimeline(mod, mgmt).map((e) => e.getId()));
    const request = await crypto.requestDeviceVerification(botUser.userId, bot.bot.session.deviceId);
    await waitFor("Tyr to accept", () => request.phase === VerificationPhase.Ready || undefined);
    // The client does not start: Tyr does, after a few seconds.
    await waitFor("Tyr to start SAS", () => (request.phase === VerificationPhase.Started ? true : undefined));
    expect(request.verifier).toBeDefined();
    const { event_id: cancel } = await mod.sendMessage(mgmt, {
      msgtype: "m.text",
      body: "!tyr verify cancel",
    } as never);
    await botMessage(mod, "the cancel reply", (e) => inReplyTo(e) === cancel);
    await waitFor("the client to see the cancellation", () =>
      request.phase === VerificationPhase.Cancelled ? true : undefined,
    );
    await new Promise((r) => setTimeout(r, 3000));
    const cancelNotices = jsTimeline(mod, mgmt).filter(
      (e) => !seen.has(e.getId()) && e.getSender() === botUser.userId && /was cancelled/.test(text(e)),
    );
    expect(cancelNotices.map(bodyOf)).toHaveLength(1);
  });

  it("after all of it, has sent nothing in plaintext into the room", async () => {
    const { sent, plaintext } = await unencryptedFrom(url, modUser, mgmt, botUser.userId);
    expect(sent).toBeGreaterThan(10);
    expect(plaintext).toEqual([]);
  });
});
