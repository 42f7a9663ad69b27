// The whole bot (startBot, as `tyr run` builds it) in encrypted rooms against a real Synapse, with
// matrix-js-sdk (Rust crypto, what Element runs) as the moderators' client: encrypted commands and
// replies, a restart, a protection acting on an encrypted spam message, the command trust gate, and
// emoji verification driven from the management room.
import type { MatrixClient as JsClient, MatrixEvent } from "matrix-js-sdk";
import { CryptoEvent } from "matrix-js-sdk/lib/crypto-api/CryptoEvent.js";
import { VerificationPhase, VerifierEvent } from "matrix-js-sdk/lib/crypto-api/verification.js";
import type {
  ShowSasCallbacks,
  VerificationRequest as JsVerificationRequest,
  Verifier,
} from "matrix-js-sdk/lib/crypto-api/verification.js";
import { writeFileSync } from "node:fs";
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
  createEncryptedRoom,
  jsTimeline,
  startModerator,
  waitFor,
  waitForJoin,
  type TestUser,
} from "./crypto-helpers.ts";

const synapse = Synapse.attach(inject("synapse"));
const url = synapse.url;
const enc = encodeURIComponent;

const { register, login } = accounts(synapse);

async function api<T>(user: TestUser, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${user.accessToken}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await res.json()) as T;
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

const repliesTo = (e: MatrixEvent, eventId: string): boolean => inReplyTo(e) === eventId;

/** Collects the SAS of a js-sdk verifier: the emoji it shows, and a way to confirm them. */
function watchSas(verifier: Verifier): {
  emoji: () => string[] | undefined;
  sas: () => ShowSasCallbacks | undefined;
} {
  let shown: ShowSasCallbacks | undefined;
  verifier.on(VerifierEvent.ShowSas, (s) => (shown = s));
  return {
    emoji: () => shown?.sas.emoji?.map(([symbol]) => symbol),
    sas: () => shown,
  };
}

/** The emoji symbols in Tyr's "compare these emoji" notice. */
function emojiInNotice(body: string): string[] | undefined {
  const line = body.split("\n").find((l) => l.split("  ").length === 7);
  return line?.split("  ").map((part) => part.split(" ")[0] ?? "");
}

describe("Tyr in encrypted rooms", () => {
  let botUser: TestUser;
  let modUser: TestUser;
  let spamUser: TestUser;
  let mod: JsClient;
  let spammer: JsClient | undefined;
  let bot: RunningBot;
  let mgmt: string;
  let protectedRoom: string;
  const earlierLogs: Record<string, unknown>[] = [];

  beforeAll(async () => {
    [botUser, modUser, spamUser] = await Promise.all([
      register("tyr-e2ee-bot"),
      register("mod-e2ee-bot"),
      register("spam-e2ee-bot"),
    ]);
    mod = await startModerator(url, modUser);
    mgmt = await createEncryptedRoom(mod, [botUser.userId]);
    const { room_id } = await mod.createRoom({
      preset: "public_chat" as never,
      invite: [botUser.userId],
      // Room version 12: the creator (the moderator) has infinite power and must not be listed.
      power_level_content_override: { users: { [botUser.userId]: 100 } },
      initial_state: [
        { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } },
      ],
    });
    protectedRoom = room_id;
    await api(botUser, "POST", `/_matrix/client/v3/join/${enc(protectedRoom)}`, {});
    const config = testConfig({
      url,
      accessToken: botUser.accessToken,
      managementRoom: mgmt,
      // The password answers user-interactive auth (removing one of Tyr's sessions).
      extra: { protectedRooms: [protectedRoom], password: botUser.password },
    });
    bot = await runBot(config);
    await waitForJoin(mod, mgmt, botUser.userId);
  });

  afterAll(async () => {
    // TYR_E2EE_DUMP=<file>: Tyr's logs (both runs) as JSON lines, for debugging.
    const dump = process.env["TYR_E2EE_DUMP"];
    if (dump && bot)
      writeFileSync(dump, [...earlierLogs, ...bot.logs].map((l) => JSON.stringify(l)).join("\n"));
    spammer?.stopClient();
    mod?.stopClient();
    await bot?.stop();
  });

  /** A message from Tyr in the management room, decrypted by the moderator's client. */
  const botMessage = (what: string, pred: (e: MatrixEvent) => boolean, timeoutMs = 30_000) =>
    waitForJsMessage(mod, mgmt, botUser.userId, what, pred, timeoutMs);

  let lastCommand = "";
  let lastReply: MatrixEvent | undefined;
  /** `!tyr <text>` from `client` (the moderator's cross-signed device by default); Tyr's reply,
   *  checked to be encrypted, with backticks removed. */
  async function command(text: string, match?: RegExp, client: JsClient = mod): Promise<string> {
    const { event_id } = await client.sendMessage(mgmt, { msgtype: "m.text", body: `!tyr ${text}` } as never);
    lastCommand = event_id;
    const reply = await botMessage(`the reply to "${text}"`, (e) => repliesTo(e, event_id));
    lastReply = reply;
    expect(reply.isEncrypted()).toBe(true);
    const body = bodyOf(reply).replaceAll("`", "");
    if (match) expect(body).toMatch(match);
    return body;
  }

  /** Tyr's next "compare these emoji" notice (posted after `before` was taken). */
  function emojiNotice(what: string, before: Set<string | undefined>): Promise<string[] | undefined> {
    return botMessage(what, (e) => !before.has(e.getId()) && bodyOf(e).includes("Compare these emoji")).then(
      (e) => emojiInNotice(bodyOf(e)),
    );
  }
  const timelineIds = () => new Set(jsTimeline(mod, mgmt).map((e) => e.getId()));

  it("answers an encrypted command with an encrypted reply the moderator's client decrypts", async () => {
    expect(bot.bot.state.peek(mgmt)?.encrypted).toBe(true);
    const status = await command("status", /Tyr status/);
    expect(status).toContain(botUser.userId);
    const crypto = await command("crypto status", /Tyr encryption status/);
    expect(crypto).toContain(`Device: ${bot.bot.session.deviceId} of ${botUser.userId}`);
    expect(crypto).toMatch(/Cross-signing: this device is signed/);
    expect(crypto).toMatch(/Key backup: on, version \S+/);
    expect(crypto).toMatch(/Room keys: [1-9]/);
  });

  it("refuses commands from an unsigned device, saying why, and obeys the cross-signed one", async () => {
    const second = await login(modUser);
    const unsigned = await startModerator(url, second, { crossSign: false });
    try {
      const refusal = await command("status", /Sorry, Tyr did not run this command/, unsigned);
      expect(refusal).toContain(`your device ${second.deviceId} is not cross-signed`);
      const refused = lastCommand;
      await command("status", /Tyr status/);
      // The refused command did not run: its refusal is its only answer.
      const answers = jsTimeline(mod, mgmt).filter(
        (e) => e.getSender() === botUser.userId && e.getType() === "m.room.message" && repliesTo(e, refused),
      );
      expect(answers).toHaveLength(1);

      const devices = await command(`devices ${modUser.userId}`, /Devices of @mod-e2ee-bot\S+ \(2\)/);
      expect(devices).toMatch(new RegExp(`${second.deviceId} · name: .* · state: unverified`));
      expect(devices).toMatch(
        new RegExp(`${modUser.deviceId} · name: .* · state: cross-signed by its owner`),
      );
      await command(`device block ${modUser.userId} ${second.deviceId}`, /Blocked .* rotated its room keys/);
      await command(
        `devices ${modUser.userId}`,
        new RegExp(`${second.deviceId} · name: .* · state: blocked`),
      );
      await command(`device unblock ${modUser.userId} ${second.deviceId}`, /Unblocked .* now unverified/);

      // The way out the refusal suggests: verify Tyr by emoji from that session, a moderator
      // confirms from a trusted one; then that session may command Tyr.
      const crypto = unsigned.getCrypto()!;
      const tyrDevice = bot.bot.session.deviceId;
      await waitForKnownDevice(unsigned, botUser.userId, tyrDevice);
      const before = timelineIds();
      const request = await crypto.requestDeviceVerification(botUser.userId, tyrDevice);
      await waitFor("Tyr to accept", () => request.phase === VerificationPhase.Ready || undefined);
      const sas = watchSas(await request.startVerification("m.sas.v1"));
      const done = request.verifier!.verify();
      const theirs = await waitFor("emoji on the new session", () => sas.emoji());
      expect(await emojiNotice("Tyr's emoji for the new session", before)).toEqual(theirs);
      await sas.sas()!.confirm();
      await command("verify confirm", /Confirmed on Tyr's side|is complete/);
      await done;
      await command(
        `devices ${modUser.userId}`,
        new RegExp(`${second.deviceId} · name: .* · state: verified by Tyr`),
      );
      await command("status", /Tyr status/, unsigned);
    } finally {
      unsigned.stopClient();
    }
  });

  it("redacts an encrypted spam message in an encrypted protected room", async () => {
    await command("protections add word-list patterns /cheap\\s+pills/i", /Added .* to word-list\.patterns/);
    await command("protections enable word-list", /word-list is now on/);
    spammer = await startModerator(url, spamUser, { crossSign: false });
    await spammer.joinRoom(protectedRoom);
    await waitFor("Tyr to see the spammer join", () =>
      bot.bot.state.peek(protectedRoom)?.membership(spamUser.userId) === "join" ? true : undefined,
    );
    const { event_id: ham } = await spammer.sendMessage(protectedRoom, {
      msgtype: "m.text",
      body: "hello all",
    } as never);
    const { event_id: spam } = await spammer.sendMessage(protectedRoom, {
      msgtype: "m.text",
      body: "CHEAP   pills, today only",
    } as never);
    const redacted = async (id: string) =>
      (
        await api<{ unsigned?: { redacted_because?: unknown } }>(
          modUser,
          "GET",
          `/_matrix/client/v3/rooms/${enc(protectedRoom)}/event/${enc(id)}`,
        )
      ).unsigned?.redacted_because !== undefined;
    await waitFor("the spam to be redacted", async () => ((await redacted(spam)) ? true : undefined), 30_000);
    expect(await redacted(ham)).toBe(false);
  });

  it("lists its sessions and removes a stale one, never the current one", async () => {
    const stale = await login(botUser);
    const current = bot.bot.session.deviceId;
    const list = await command("sessions", /Tyr's sessions \(2\)/);
    expect(list).toContain(`${current} (this one)`);
    expect(list).toContain(stale.deviceId);
    await command(
      `sessions remove ${current}`,
      /✗ .* is the session Tyr is running on; it cannot remove itself/,
    );
    // Confirmed with ✅ — clients send reactions unencrypted even in encrypted rooms.
    await command(`sessions remove ${stale.deviceId}`, /Log out Tyr's session .*React with ✅/s);
    const [removal, preview] = [lastCommand, lastReply!.getId()!];
    await mod.sendEvent(
      mgmt,
      "m.reaction" as never,
      {
        "m.relates_to": { rel_type: "m.annotation", event_id: preview, key: "✅" },
      } as never,
    );
    await botMessage(
      "the removal",
      (e) => repliesTo(e, removal) && /Logged out Tyr's session/.test(bodyOf(e)),
    );
    const sessions = await api<{ devices: { device_id: string }[] }>(
      botUser,
      "GET",
      "/_matrix/client/v3/devices",
    );
    expect(sessions.devices.map((d) => d.device_id)).not.toContain(stale.deviceId);
    await command("sessions", /Tyr's sessions \(1\)/);
  });

  it("keeps its device across a restart and still decrypts and answers", async () => {
    const before = bot.bot.session.deviceId;
    await bot.stop();
    earlierLogs.push(...bot.logs);
    bot = await runBot(
      testConfig({
        url,
        accessToken: botUser.accessToken,
        managementRoom: mgmt,
        dataPath: bot.dataPath,
        extra: { protectedRooms: [protectedRoom], password: botUser.password },
      }),
    );
    expect(bot.bot.session.deviceId).toBe(before);
    const crypto = await command("crypto status", /Tyr encryption status/);
    expect(crypto).toContain(`Device: ${before} of`);
    await command("status", /Tyr status/);
    // The protected room's keys survived too: new spam there is still read and redacted.
    const { event_id: spam } = await spammer!.sendMessage(protectedRoom, {
      msgtype: "m.text",
      body: "cheap pills again",
    } as never);
    await waitFor(
      "the spam after the restart to be redacted",
      async () =>
        (
          await api<{ unsigned?: { redacted_because?: unknown } }>(
            modUser,
            "GET",
            `/_matrix/client/v3/rooms/${enc(protectedRoom)}/event/${enc(spam)}`,
          )
        ).unsigned?.redacted_because !== undefined || undefined,
      30_000,
    );
  });

  it("verifies with the moderator by emoji: request from their client, emoji shown in the room, confirmed by command", async () => {
    const before = timelineIds();
    const request = await mod.getCrypto()!.requestVerificationDM(botUser.userId, mgmt);
    await waitFor("Tyr to accept the request", () =>
      request.phase === VerificationPhase.Ready ? true : undefined,
    );
    const verifier = await request.startVerification("m.sas.v1");
    const sas = watchSas(verifier);
    const done = verifier.verify();
    const theirs = await waitFor("emoji on the moderator's client", () => sas.emoji());
    expect(theirs).toHaveLength(7);
    expect(await emojiNotice("Tyr's emoji in the management room", before)).toEqual(theirs);
    await sas.sas()!.confirm();
    await command("verify confirm", /Confirmed on Tyr's side|is complete/);
    await done;
    await botMessage(
      "Tyr to report the verification done",
      (e) => !before.has(e.getId()) && /^Verification with .* is complete/.test(bodyOf(e)),
    );
    const s = await mod.getCrypto()!.getDeviceVerificationStatus(botUser.userId, bot.bot.session.deviceId);
    expect(s?.isVerified()).toBe(true);
    await command(
      `devices ${modUser.userId}`,
      new RegExp(`${modUser.deviceId} · name: .* · state: verified by Tyr`),
    );
    // The in-room verification events too were encrypted, like everything Tyr sends there.
    expect((await unencryptedFrom(url, modUser, mgmt, botUser.userId)).plaintext).toEqual([]);
  });

  it('starts a verification itself on "verify <user>", and cancels on "verify cancel"', async () => {
    const received = new Promise<JsVerificationRequest>((resolve) =>
      mod.once(CryptoEvent.VerificationRequestReceived, (r: JsVerificationRequest) => resolve(r)),
    );
    const before = timelineIds();
    await command(`verify ${modUser.userId}`, /Asked .* \(in this room\) to verify with Tyr/);
    const request = await received;
    await request.accept();
    const verifier = await waitFor("Tyr to start SAS", () => request.verifier);
    const sas = watchSas(verifier);
    const done = verifier.verify().catch((e: unknown) => e);
    const theirs = await waitFor("emoji on the moderator's client", () => sas.emoji());
    expect(await emojiNotice("Tyr's emoji for its own request", before)).toEqual(theirs);
    // The emoji "differ": the moderator cancels from the management room.
    await command("verify cancel", /Cancelled the verification with/);
    await waitFor("the moderator's client to see the cancellation", () =>
      request.phase === VerificationPhase.Cancelled ? true : undefined,
    );
    expect(await done).toBeInstanceOf(Error);
    await command("verify confirm", /No verification is waiting for confirmation/);
  });
});
