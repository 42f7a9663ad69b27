// End-to-end encryption against real Synapse, with matrix-js-sdk (Rust crypto, the stack Element
// runs) as the moderator's client. Tyr's side is the crypto engine driven by the lead's TyrClient +
// SyncLoop in the documented call order (tests/integration/crypto-helpers.ts).
import { copyFileSync, existsSync, statSync } from "node:fs";
import path from "node:path";

import type { MatrixClient as JsClient } from "matrix-js-sdk";
import type { GeneratedSecretStorageKey } from "matrix-js-sdk/lib/crypto-api/index.js";
import { CryptoEvent } from "matrix-js-sdk/lib/crypto-api/CryptoEvent.js";
import { VerificationPhase, VerifierEvent } from "matrix-js-sdk/lib/crypto-api/verification.js";
import type { VerificationRequest as JsVerificationRequest } from "matrix-js-sdk/lib/crypto-api/verification.js";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import {
  checkSender,
  getCryptoStatus,
  listDevices,
  setDeviceBlocked,
} from "../../src/matrix/crypto/trust.ts";
import { VerificationManager } from "../../src/matrix/crypto/verification.ts";
import type { VerificationView } from "../../src/matrix/crypto/verification.ts";
import { Synapse } from "../harness/synapse.ts";
import {
  accounts,
  createEncryptedRoom,
  jsTimeline,
  recordingLogger,
  removeTempDirs,
  startModerator,
  TestBot,
  tempDir,
  waitFor,
  waitForJoin,
  waitForJsText,
} from "./crypto-helpers.ts";
import type { TestUser } from "./crypto-helpers.ts";
import { UserFacingError } from "../../src/util/userFacingError.ts";

const synapse = Synapse.attach(inject("synapse"));
afterAll(() => removeTempDirs());
const url = synapse.url;

const { register, login } = accounts(synapse);

/** Run SAS from the js-sdk side; resolves with the emoji the moderator's client showed. */
async function modSas(request: JsVerificationRequest): Promise<{ emoji: string[]; done: Promise<void> }> {
  await waitFor("verification ready", () => (request.phase === VerificationPhase.Ready ? true : undefined));
  const verifier = await request.startVerification("m.sas.v1");
  let emoji: string[] | undefined;
  verifier.on(VerifierEvent.ShowSas, (sas) => {
    emoji = (sas.sas.emoji ?? []).map(([symbol]) => symbol);
    void sas.confirm();
  });
  const done = verifier.verify();
  await waitFor("emoji on the moderator's client", () => emoji);
  return { emoji: emoji ?? [], done };
}

describe("end-to-end encryption with a js-sdk moderator", () => {
  let botUser: TestUser;
  let modUser: TestUser;
  let bot: TestBot;
  let mod: JsClient;
  let room: string;
  const log = recordingLogger();
  const views: VerificationView[] = [];
  let verification: VerificationManager;

  beforeAll(async () => {
    botUser = await register("tyr-e2ee");
    modUser = await register("mod-e2ee");
    bot = await TestBot.start(url, botUser, { logger: log });
    verification = new VerificationManager(bot.engine, {
      isAllowed: (u) => u === modUser.userId,
      onUpdate: (v) => void views.push(v),
    });
    mod = await startModerator(url, modUser);
    room = await createEncryptedRoom(mod, [botUser.userId]);
    await bot.join(room);
    await waitForJoin(mod, room, botUser.userId);
  });

  afterAll(async () => {
    mod?.stopClient();
    await bot?.stop();
  });

  /** A fresh encrypted room with Tyr, like the DM a client opens for in-room verification. */
  async function dmWithBot(): Promise<string> {
    const dm = await createEncryptedRoom(mod, [botUser.userId]);
    await bot.join(dm);
    await waitForJoin(mod, dm, botUser.userId);
    return dm;
  }

  it("bootstraps cross-signing, secret storage and key backup on first start", async () => {
    expect((bot as TestBot & { security?: { crossSigning: string } }).security).toMatchObject({
      crossSigning: "created",
      deviceSigned: true,
    });
    const recovery = path.join(bot.storeDir, "recovery-key.txt");
    expect(statSync(recovery).mode & 0o777).toBe(0o600);
    expect(log.lines.filter((l) => l.msg?.includes("RECOVERY KEY"))).toHaveLength(1);
    const status = await getCryptoStatus(bot.engine);
    expect(status.crossSigning).toMatchObject({ published: true, hasMaster: true, deviceSigned: true });
    expect(status.backup.enabled).toBe(true);
    // The moderator's client sees Tyr's device as signed by its owner: spec v1.18 clients share keys with it.
    await waitFor("moderator sees Tyr's device cross-signed", async () => {
      const s = await mod.getCrypto()!.getDeviceVerificationStatus(botUser.userId, botUser.deviceId);
      return s?.signedByOwner ? true : undefined;
    });
  });

  it("decrypts the moderator's messages and replies encrypted", async () => {
    await mod.sendMessage(room, { msgtype: "m.text", body: "!tyr status" } as never);
    const got = await bot.waitForText(room, "!tyr status");
    expect(got.info).toMatchObject({ senderDevice: modUser.deviceId, authentic: true });
    expect(got.event.sender).toBe(modUser.userId);

    await bot.send(room, { msgtype: "m.notice", body: "Tyr is running" });
    const reply = await waitForJsText(mod, room, "Tyr is running");
    expect(reply.isEncrypted()).toBe(true);
    expect(reply.getSender()).toBe(botUser.userId);
  });

  it("refuses a replayed encrypted message", async () => {
    await mod.sendMessage(room, { msgtype: "m.text", body: "!tyr ban @spammer:example.org" } as never);
    const original = await bot.waitForText(room, "!tyr ban @spammer:example.org");
    // A hostile server (simulated by re-sending the same ciphertext) replays it as a new event.
    const raw = (await bot.client.doRequest(
      "GET",
      `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/event/${encodeURIComponent(String(original.event.event_id))}`,
    )) as { content: Record<string, unknown> };
    const txn = `replay${Date.now()}`;
    const replayed = (await fetch(
      `${url}/_matrix/client/v3/rooms/${encodeURIComponent(room)}/send/m.room.encrypted/${txn}`,
      {
        method: "PUT",
        headers: { authorization: `Bearer ${modUser.accessToken}`, "content-type": "application/json" },
        body: JSON.stringify(raw.content),
      },
    ).then((r) => r.json())) as { event_id: string };
    const failure = await waitFor("the replay to be refused", () =>
      bot.failures.find((f) => f.eventId === replayed.event_id),
    );
    expect(failure.result).toMatchObject({ ok: false, code: "Replayed" });
  });

  it("shares the room key with members who join later", async () => {
    const lateUser = await register("late-e2ee");
    const late = await startModerator(url, lateUser);
    try {
      await mod.invite(room, lateUser.userId);
      await late.joinRoom(room);
      await waitForJoin(mod, room, lateUser.userId);
      await bot.waitSyncs(1);
      await bot.send(room, { msgtype: "m.notice", body: "welcome, late moderator" });
      await waitForJsText(late, room, "welcome, late moderator");
    } finally {
      late.stopClient();
    }
  });

  it("verifies with the moderator by SAS emoji over to-device messages", async () => {
    await waitFor("moderator knows Tyr's device", async () =>
      (await mod.getCrypto()!.getUserDeviceInfo([botUser.userId], true))
        .get(botUser.userId)
        ?.has(botUser.deviceId)
        ? true
        : undefined,
    );
    const request = await mod.getCrypto()!.requestDeviceVerification(botUser.userId, botUser.deviceId);
    const { emoji, done } = await modSas(request);
    const shown = await waitFor("Tyr shows emoji", () =>
      views.find((v) => v.flowId === request.transactionId && v.emoji),
    );
    expect(shown.emoji!.map((e) => e.symbol)).toEqual(emoji);
    expect(emoji).toHaveLength(7);
    await verification.confirm(request.transactionId);
    await done;
    await waitFor("Tyr done", () =>
      views.find((v) => v.flowId === request.transactionId && v.state === "done"),
    );
    const s = await mod.getCrypto()!.getDeviceVerificationStatus(botUser.userId, botUser.deviceId);
    expect(s?.isVerified()).toBe(true);
    const devices = await listDevices(bot.engine, modUser.userId);
    expect(devices.find((d) => d.deviceId === modUser.deviceId)).toMatchObject({
      verified: true,
      crossSignedByOwner: true,
    });
  });

  it("verifies by SAS emoji in the room", async () => {
    const request = await mod.getCrypto()!.requestVerificationDM(botUser.userId, room);
    const { emoji, done } = await modSas(request);
    const flowId = request.transactionId!;
    const shown = await waitFor("Tyr shows emoji", () => views.find((v) => v.flowId === flowId && v.emoji));
    expect(shown.roomId).toBe(room);
    expect(shown.emoji!.map((e) => e.symbol)).toEqual(emoji);
    await verification.confirm(flowId);
    await done;
    await waitFor("Tyr done", () => views.find((v) => v.flowId === flowId && v.state === "done"));
  });

  it("verifies by QR code: the moderator's device scans the code Tyr shows", async () => {
    const request = await mod.getCrypto()!.requestVerificationDM(botUser.userId, await dmWithBot());
    await waitFor("verification ready", () => (request.phase === VerificationPhase.Ready ? true : undefined));
    const flowId = request.transactionId!;
    await waitFor("Tyr shows a QR code", () =>
      views.find((v) => v.flowId === flowId && v.state === "qr-shown"),
    );
    const png = verification.qrCodePng(flowId);
    expect(Buffer.from(png!.subarray(1, 4)).toString("ascii")).toBe("PNG");
    const verifier = await request.scanQRCode(verification.qrCodeBytes(flowId)!);
    const done = verifier.verify();
    await waitFor("Tyr sees the scan", () =>
      views.find((v) => v.flowId === flowId && v.state === "qr-scanned"),
    );
    await verification.confirm(flowId); // "verify confirm": the moderator's device did scan it
    await done;
    await waitFor("Tyr done", () => views.find((v) => v.flowId === flowId && v.state === "done"));
  });

  it("verifies a moderator on request (Tyr starts, Tyr picks SAS)", async () => {
    const received = new Promise<JsVerificationRequest>((resolve) =>
      mod.once(CryptoEvent.VerificationRequestReceived, (r: JsVerificationRequest) => resolve(r)),
    );
    const started = await verification.requestVerification(modUser.userId, { deviceId: modUser.deviceId });
    const request = await received;
    await request.accept();
    const verifier = await waitFor("Tyr to start SAS", () => request.verifier);
    let emoji: string[] | undefined;
    verifier.on(VerifierEvent.ShowSas, (sas) => {
      emoji = (sas.sas.emoji ?? []).map(([symbol]) => symbol);
      void sas.confirm();
    });
    const done = verifier.verify();
    const shown = await waitFor("Tyr shows emoji", () =>
      views.find((v) => v.flowId === started.flowId && v.emoji),
    );
    await waitFor("emoji on the moderator's client", () => emoji);
    expect(shown.emoji!.map((e) => e.symbol)).toEqual(emoji);
    await verification.confirm(started.flowId);
    await done;
    await waitFor("Tyr done", () => views.find((v) => v.flowId === started.flowId && v.state === "done"));
  });

  it("cancels on request, and confirms by itself in trust-on-first-use mode", async () => {
    const request = await mod.getCrypto()!.requestVerificationDM(botUser.userId, await dmWithBot());
    await waitFor("verification ready", () => (request.phase === VerificationPhase.Ready ? true : undefined));
    const flowId = request.transactionId!;
    await verification.cancel(flowId);
    await waitFor("the moderator sees the cancellation", () =>
      request.phase === VerificationPhase.Cancelled ? true : undefined,
    );

    verification.dispose();
    const tofuViews: VerificationView[] = [];
    const tofu = new VerificationManager(bot.engine, {
      isAllowed: (u) => u === modUser.userId,
      autoConfirm: true,
      onUpdate: (v) => void tofuViews.push(v),
    });
    try {
      const second = await mod.getCrypto()!.requestVerificationDM(botUser.userId, await dmWithBot());
      const { done } = await modSas(second);
      await done; // completes without anyone calling confirm() on Tyr's side
      await waitFor("Tyr done", () =>
        tofuViews.find((v) => v.flowId === second.transactionId && v.state === "done"),
      );
    } finally {
      tofu.dispose();
      verification = new VerificationManager(bot.engine, {
        isAllowed: (u) => u === modUser.userId,
        onUpdate: (v) => void views.push(v),
      });
    }
  });

  it("answers verification requests it cannot act on as the moderator's problem, not Tyr's fault", async () => {
    // The command handler logs these at info without a stack (UserFacingError), not as errors.
    await expect(verification.confirm()).rejects.toBeInstanceOf(UserFacingError);
    await expect(verification.confirm()).rejects.toThrow(/no verification is waiting/);
    await expect(
      verification.requestVerification(modUser.userId, { deviceId: "NOSUCHDEVICE" }),
    ).rejects.toBeInstanceOf(UserFacingError);
  });

  it("ignores verification requests from users who are not allowed", async () => {
    const strangerUser = await register("stranger-e2ee");
    const stranger = await startModerator(url, strangerUser);
    try {
      await mod.invite(room, strangerUser.userId);
      await stranger.joinRoom(room);
      await waitForJoin(mod, room, strangerUser.userId);
      // The stranger's client needs Tyr's identity first (it just joined).
      const request = await waitFor("the stranger to be able to request", () =>
        stranger
          .getCrypto()!
          .requestVerificationDM(botUser.userId, room)
          .catch(() => undefined),
      );
      await waitFor("Tyr logs the refusal", () =>
        log.lines.find((l) => l.msg?.includes("not allowed to verify")) ? true : undefined,
      );
      await bot.waitSyncs(2);
      expect(request.phase).toBe(VerificationPhase.Requested);
      expect(views.find((v) => v.userId === strangerUser.userId)).toBeUndefined();
    } finally {
      stranger.stopClient();
    }
  });
});

describe("trust policy", () => {
  let botUser: TestUser;
  let signedUser: TestUser;
  let unsignedUser: TestUser;
  let bot: TestBot;
  let signed: JsClient;
  let unsigned: JsClient;
  let room: string;

  beforeAll(async () => {
    botUser = await register("tyr-trust");
    signedUser = await register("mod-signed");
    unsignedUser = await register("mod-unsigned");
    bot = await TestBot.start(url, botUser);
    signed = await startModerator(url, signedUser);
    unsigned = await startModerator(url, unsignedUser, { crossSign: false });
    room = await createEncryptedRoom(signed, [botUser.userId, unsignedUser.userId]);
    await bot.join(room);
    await unsigned.joinRoom(room);
    await waitForJoin(signed, room, botUser.userId);
    await waitForJoin(signed, room, unsignedUser.userId);
  });

  afterAll(async () => {
    signed?.stopClient();
    unsigned?.stopClient();
    await bot?.stop();
  });

  it("accepts commands from cross-signed devices and refuses unsigned ones, saying why", async () => {
    await signed.sendMessage(room, { msgtype: "m.text", body: "!tyr from signed" } as never);
    await unsigned.sendMessage(room, { msgtype: "m.text", body: "!tyr from unsigned" } as never);
    const a = await bot.waitForText(room, "!tyr from signed");
    const b = await bot.waitForText(room, "!tyr from unsigned");
    const ok = await checkSender(bot.engine, signedUser.userId, a.info, "cross-signed");
    expect(ok.ok).toBe(true);
    const refused = await checkSender(bot.engine, unsignedUser.userId, b.info, "cross-signed");
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.reason).toMatch(/not cross-signed/);
    // "verified" is stricter: the signed moderator never verified Tyr.
    expect((await checkSender(bot.engine, signedUser.userId, a.info, "verified")).ok).toBe(false);
    // Unencrypted commands in an encrypted room are refused.
    expect((await checkSender(bot.engine, signedUser.userId, undefined, "cross-signed")).ok).toBe(false);
  });

  it("fetches an unknown sender device's keys and decides again instead of refusing", async () => {
    // Clients without MSC4147 (libolm-based, e.g. matrix-nio) do not put their device keys in the
    // Olm message that brings the room key: Tyr then decrypts the command without knowing the
    // sending device. The gate must fetch the device list and decide on a fresh decryption.
    const { event_id } = await signed.sendMessage(room, { msgtype: "m.text", body: "!tyr first" } as never);
    const m = await bot.waitForText(room, "!tyr first");
    const unknown = { ...m.info!, senderDevice: undefined };
    const decision = await checkSender(bot.engine, signedUser.userId, unknown, "cross-signed", {
      roomId: room,
      eventId: event_id,
    });
    expect(decision).toMatchObject({
      ok: true,
      trust: { deviceId: signedUser.deviceId, crossSignedByOwner: true },
    });
    // Without a way to look again, it stays refused.
    expect((await checkSender(bot.engine, signedUser.userId, unknown, "cross-signed")).ok).toBe(false);
  });

  it("never shares room keys with a blocked device", async () => {
    const blocked = await setDeviceBlocked(bot.engine, signedUser.userId, signedUser.deviceId, true);
    expect(blocked.blocked).toBe(true);
    await bot.send(room, { msgtype: "m.notice", body: "while blocked" });
    const ev = await waitFor("the blocked client to receive the event", () =>
      jsTimeline(signed, room).find(
        (e) =>
          e.getSender() === botUser.userId && e.getWireContent()["session_id"] && e.isDecryptionFailure(),
      ),
    );
    await new Promise((r) => setTimeout(r, 1500));
    expect(ev.getContent()["body"]).not.toBe("while blocked");
    expect(jsTimeline(signed, room).some((e) => e.getContent()["body"] === "while blocked")).toBe(false);
    await setDeviceBlocked(bot.engine, signedUser.userId, signedUser.deviceId, false);
    await bot.send(room, { msgtype: "m.notice", body: "after unblocking" });
    await waitForJsText(signed, room, "after unblocking");
  });

  it("shares room keys only with cross-signed devices", async () => {
    await bot.send(room, { msgtype: "m.notice", body: "for signed devices only" });
    await waitForJsText(signed, room, "for signed devices only");
    const ev = await waitFor("the unsigned client to receive the event", () =>
      jsTimeline(unsigned, room).find((e) => e.getSender() === botUser.userId && e.isEncrypted()),
    );
    await new Promise((r) => setTimeout(r, 1500));
    expect(ev.isDecryptionFailure()).toBe(true);
    expect(ev.getContent()["body"]).not.toBe("for signed devices only");
  });
});

describe("persistence and recovery", () => {
  it("keeps its device across restarts and restores on a new machine with the recovery key", async () => {
    const botUser = await register("tyr-restore");
    const modUser = await register("mod-restore");
    const dir = tempDir("restore");
    let bot = await TestBot.start(url, botUser, { storeDir: dir });
    const mod = await startModerator(url, modUser);
    try {
      const room = await createEncryptedRoom(mod, [botUser.userId]);
      await bot.join(room);
      await waitForJoin(mod, room, botUser.userId);
      await mod.sendMessage(room, { msgtype: "m.text", body: "before the restart" } as never);
      const first = await bot.waitForText(room, "before the restart");
      const ed25519 = bot.engine.machine.identityKeys.ed25519.toBase64();
      await waitFor("the room key to be backed up", async () => {
        const c = await bot.engine.machine.roomKeyCounts();
        return c.total > 0 && c.backedUp === c.total ? true : undefined;
      });
      await bot.stop();

      // Restart: same device, same identity, old and new messages decrypt, sending works.
      bot = await TestBot.start(url, botUser, { storeDir: dir });
      expect(bot.engine.deviceId).toBe(botUser.deviceId);
      expect(bot.engine.machine.identityKeys.ed25519.toBase64()).toBe(ed25519);
      await mod.sendMessage(room, { msgtype: "m.text", body: "after the restart" } as never);
      await bot.waitForText(room, "after the restart");
      const old = (await bot.client.doRequest(
        "GET",
        `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/event/${encodeURIComponent(String(first.event.event_id))}`,
      )) as Record<string, unknown>;
      const again = await bot.engine.decrypt(room, old);
      expect(again.ok && again.event.content["body"]).toBe("before the restart");
      await bot.send(room, { msgtype: "m.notice", body: "Tyr after a restart" });
      await waitForJsText(mod, room, "Tyr after a restart");
      await bot.stop();

      // New machine: new device, empty store, the recovery key file copied over.
      const moved = await login(botUser);
      const dir2 = tempDir("restore-new");
      copyFileSync(path.join(dir, "recovery-key.txt"), path.join(dir2, "recovery-key.txt"));
      bot = await TestBot.start(url, moved, { storeDir: dir2 });
      expect(bot.engine.deviceId).toBe(moved.deviceId);
      expect((bot as TestBot & { security?: unknown }).security).toMatchObject({
        crossSigning: "restored",
        deviceSigned: true,
      });
      const restored = await bot.engine.decrypt(room, old);
      expect(restored.ok && restored.event.content["body"]).toBe("before the restart");
      await waitFor("moderator sees the new device cross-signed", async () => {
        const s = await mod.getCrypto()!.getDeviceVerificationStatus(botUser.userId, moved.deviceId);
        return s?.signedByOwner ? true : undefined;
      });
      await mod.sendMessage(room, { msgtype: "m.text", body: "to the new machine" } as never);
      await bot.waitForText(room, "to the new machine");
      expect(existsSync(path.join(dir2, "store.bin"))).toBe(true);
    } finally {
      mod.stopClient();
      await bot.stop();
    }
  });

  it("restores an identity an Element-style client made, from the account's security phrase", async () => {
    // The account was first used from a client (matrix-js-sdk, as Element) that set up
    // cross-signing, and secret storage and key backup from a passphrase.
    const botUser = await register("tyr-phrase");
    const phrase = "correct horse battery staple for tyr";
    let ssssKey: GeneratedSecretStorageKey | undefined;
    const element = await startModerator(url, botUser, {
      cryptoCallbacks: {
        getSecretStorageKey: async ({ keys }) => {
          const id = Object.keys(keys)[0];
          return id !== undefined && ssssKey ? [id, ssssKey.privateKey] : null;
        },
      },
    });
    let bot: TestBot | undefined;
    try {
      const crypto = element.getCrypto()!;
      ssssKey = await crypto.createRecoveryKeyFromPassphrase(phrase);
      await crypto.bootstrapSecretStorage({
        createSecretStorageKey: async () => ssssKey!,
        setupNewSecretStorage: true,
        setupNewKeyBackup: true,
      });

      const wrong = await login(botUser);
      await expect(
        TestBot.start(url, wrong, {
          storeDir: tempDir("phrase-wrong"),
          security: { recoveryKey: "not the phrase" },
        }),
      ).rejects.toThrow(/neither a valid recovery key nor the passphrase/);

      const moved = await login(botUser);
      bot = await TestBot.start(url, moved, {
        storeDir: tempDir("phrase"),
        security: { recoveryKey: phrase },
      });
      expect((bot as TestBot & { security?: unknown }).security).toMatchObject({
        crossSigning: "restored",
        deviceSigned: true,
      });
      // The client that made the identity sees Tyr's new device signed by it.
      await waitFor("the new device cross-signed by the account's identity", async () => {
        const s = await crypto.getDeviceVerificationStatus(botUser.userId, moved.deviceId);
        return s?.signedByOwner ? true : undefined;
      });
    } finally {
      element.stopClient();
      await bot?.stop();
    }
  });

  it("refuses to start over an identity it cannot restore, unless told to reset it (with the password)", async () => {
    const botUser = await register("tyr-norecovery");
    const first = await TestBot.start(url, botUser);
    const oldMaster = (await getCryptoStatus(first.engine)).crossSigning.masterKey;
    await first.stop();
    const moved = await login(botUser);
    const failed = TestBot.start(url, moved, { storeDir: tempDir("norecovery") });
    // The error names the fix that exists: the recovery key, or the documented reset option.
    await expect(failed).rejects.toThrow(/recovery key/);
    await expect(failed).rejects.toThrow(/encryption\.resetIdentity: true/);
    await expect(failed).rejects.not.toThrow(/allow resetting the identity/);
    // The failed start uploaded nothing: no device is left with keys that are never cross-signed.
    const res = await fetch(`${url}/_matrix/client/v3/keys/query`, {
      method: "POST",
      headers: { authorization: `Bearer ${moved.accessToken}`, "content-type": "application/json" },
      body: JSON.stringify({ device_keys: { [botUser.userId]: [moved.deviceId] } }),
    });
    const keys = (await res.json()) as { device_keys?: Record<string, Record<string, unknown>> };
    expect(keys.device_keys?.[botUser.userId]?.[moved.deviceId]).toBeUndefined();
    // So that device can be used again, here to replace the identity. Replacing published
    // cross-signing keys needs user-interactive auth: Synapse asks for the password.
    const reset = await TestBot.start(url, moved, {
      storeDir: tempDir("reset"),
      security: { resetIdentity: true },
    });
    try {
      expect((reset as TestBot & { security?: unknown }).security).toMatchObject({
        crossSigning: "created",
        deviceSigned: true,
      });
      const status = await getCryptoStatus(reset.engine);
      expect(status.crossSigning.masterKey).not.toBe(oldMaster);
    } finally {
      await reset.stop();
    }
    const again = await login(botUser);
    await expect(
      TestBot.start(
        url,
        { ...again, password: "not the password" },
        { storeDir: tempDir("reset-bad"), security: { resetIdentity: true } },
      ),
    ).rejects.toThrow(/password/);
  });
});
