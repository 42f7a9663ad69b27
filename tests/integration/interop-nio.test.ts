// Tyr's end-to-end encryption against a client that shares none of its crypto code: matrix-nio
// 0.25 on libolm (Debian's python3-olm), driven by tests/interop/nio_client.py. Tyr runs the Rust
// crypto core (crypto-wasm); matrix-js-sdk, the other test client, runs the same core, so only a
// test like this one shows that Tyr speaks Olm/Megolm as the spec says rather than as its core does.
//
// nio 0.25 has no cross-signing and only the old to-device emoji verification (no
// m.key.verification.request), so its device can never be cross-signed nor verified by Tyr: with
// the default config Tyr refuses its commands; Tyr configured to accept unverified devices (and to
// share room keys with them) works with it end to end. README "Encrypted rooms" says so.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { DeviceId, UserId } from "@matrix-org/matrix-sdk-crypto-wasm";

import { CryptoFeature } from "../../src/matrix/crypto/feature.ts";
import { runBot, testConfig, type RunningBot } from "../harness/bot.ts";
import { NioClient, type NioLine } from "../harness/nio.ts";
import { Synapse, type RegisteredUser } from "../harness/synapse.ts";
import { TestUser, eventually } from "../harness/user.ts";

const synapse = Synapse.attach(inject("synapse"));
const MEGOLM = { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } };

describe("Tyr with matrix-nio on libolm (an independent crypto stack)", () => {
  let mod: RegisteredUser;
  let nio: NioClient;
  /** Tyr as configured for moderators whose clients cannot cross-sign. */
  let open: { user: RegisteredUser; room: string; bot: RunningBot };
  /** Tyr with the default trust settings. */
  let strict: { user: RegisteredUser; room: string; bot: RunningBot };

  beforeAll(async () => {
    const [modUser, openUser, strictUser] = await Promise.all(
      ["mod-nio", "tyr-nio-open", "tyr-nio-strict"].map((n) => synapse.register(n)),
    );
    mod = modUser!;
    const modHttp = new TestUser(synapse.url, mod);
    const room = (bot: RegisteredUser) =>
      modHttp.createRoom({ invite: [bot.userId], initial_state: [MEGOLM] });
    const [openRoom, strictRoom] = await Promise.all([room(openUser!), room(strictUser!)]);
    const start = (user: RegisteredUser, room: string, encryption: Record<string, unknown>) =>
      runBot(
        testConfig({
          url: synapse.url,
          accessToken: user.accessToken,
          managementRoom: room,
          extra: { encryption },
        }),
      ).then((bot) => ({ user, room, bot }));
    // nio logs in (a new device, keys uploaded) while both Tyrs start.
    [nio, open, strict] = await Promise.all([
      NioClient.start(synapse.url, mod),
      start(openUser!, openRoom, {
        requireVerifiedDevicesForCommands: false,
        shareKeysWithUnverifiedDevices: true,
      }),
      start(strictUser!, strictRoom, {}),
    ]);
    // nio's own trust: it cannot check cross-signatures, so it trusts Tyr's devices on first use.
    expect(await nio.trust(open.user.userId)).toEqual([open.bot.bot.session.deviceId]);
    expect(await nio.trust(strict.user.userId)).toEqual([strict.bot.bot.session.deviceId]);
  }, 300_000); // a first run installs python3-olm and matrix-nio

  afterAll(async () => {
    await nio?.stop();
    await Promise.all([open?.bot.stop(), strict?.bot.stop()]);
  });

  /** Tyr's next message in `room` after `since` lines of nio's output, decrypted or not. */
  const fromTyr = (tyr: RegisteredUser, room: string, since: number) => (l: NioLine) =>
    nio.lines.indexOf(l) >= since &&
    (l.type === "message" || l.type === "undecryptable") &&
    l["room_id"] === room &&
    l["sender"] === tyr.userId;

  it("an encrypted command from the nio device gets an encrypted reply that nio decrypts", async () => {
    const cmd = await nio.send(open.room, "!tyr status");
    const reply = await nio.waitFor(
      "Tyr's reply",
      (l) => l.type === "message" && l["sender"] === open.user.userId && l["in_reply_to"] === cmd,
    );
    expect(reply["encrypted"]).toBe(true);
    // libolm's view: the Megolm session's keys belong to Tyr's device, which nio trusts.
    expect(reply["verified"]).toBe(true);
    expect(reply["msgtype"]).toBe("m.notice");
    expect(String(reply["body"])).toMatch(/Tyr status/);
    expect(String(reply["body"])).toContain(open.user.userId);
  });

  it("Tyr sees the nio device as what it is: not cross-signed", async () => {
    const cmd = await nio.send(open.room, `!tyr devices ${mod.userId}`);
    const reply = await nio.waitFor(
      "Tyr's device list",
      (l) => l.type === "message" && l["sender"] === open.user.userId && l["in_reply_to"] === cmd,
    );
    expect(String(reply["body"]).replaceAll("`", "")).toMatch(
      new RegExp(`${nio.deviceId} · name: .* · state: unverified`),
    );
  });

  // What the default settings make of the nio device, read by the tests below.
  let firstRefusal: string | undefined;
  let secondCommand: string | undefined;

  it("with the default settings, commands from the nio device are refused with the reason", async () => {
    const refusals = () =>
      strict.bot.logs.filter((l) => l["msg"] === "command refused" && l["sender"] === mod.userId);
    const since = nio.lines.length;
    await nio.send(strict.room, "!tyr status");
    // Tyr decrypted the command, refused it, and answered (encrypted) in the room.
    await nio.waitFor("Tyr's answer", fromTyr(strict.user, strict.room, since));
    firstRefusal = String(refusals()[0]?.["why"]);
    expect(firstRefusal).toMatch(/^Tyr did not run this command: /);

    const next = nio.lines.length;
    secondCommand = await nio.send(strict.room, "!tyr status");
    await nio.waitFor("Tyr's second answer", fromTyr(strict.user, strict.room, next));
    expect(String(refusals()[1]?.["why"])).toContain(
      `Tyr did not run this command: your device ${nio.deviceId} is not cross-signed`,
    );
    // Neither ran: no status reply, in any form nio can read.
    const statusReplies = nio.lines.filter(
      (l) =>
        fromTyr(strict.user, strict.room, since)(l) &&
        l.type === "message" &&
        /Tyr status/.test(String(l["body"])),
    );
    expect(statusReplies).toEqual([]);
  });

  // Issue #11 fault 2: the first command after a start on a new device was refused as "the
  // sending device is unknown to Tyr".
  it("the first refusal already names the real reason (issue #11 fault 2)", () => {
    expect(firstRefusal).toContain(`your device ${nio.deviceId} is not cross-signed`);
  });

  // Issue #11 fault 3: Tyr shared the key of its refusal only with trusted devices, so nio saw
  // "unable to decrypt".
  it("the refused nio device can read why (issue #11 fault 3)", async () => {
    const refusal = await nio.waitFor(
      "the refusal, decrypted",
      (l) => l.type === "message" && l["sender"] === strict.user.userId && l["in_reply_to"] === secondCommand,
      5_000,
    );
    expect(String(refusal["body"])).toContain(`your device ${nio.deviceId} is not cross-signed`);
  });

  // Last, as it cuts the nio device off from the permissive Tyr.
  let afterBlock: number | undefined;

  it("a device blocked in Tyr gets no more room keys: nio cannot read what Tyr sends next", async () => {
    const since = nio.lines.length;
    await nio.send(open.room, `!tyr device block ${mod.userId} ${nio.deviceId}`);
    const engine = open.bot.bot.syncHooks.find((h) => h instanceof CryptoFeature)!.engine;
    await eventually(
      async () =>
        (await engine.machine.getDevice(new UserId(mod.userId), new DeviceId(nio.deviceId)))?.isBlacklisted(),
      10_000,
      "the nio device blocked",
    );
    // Tyr's answer went out in a new Megolm session nio never received.
    const answer = await nio.waitFor("Tyr's answer to the block", fromTyr(open.user, open.room, since));
    expect(answer.type).toBe("undecryptable");
    afterBlock = nio.lines.length;
    await nio.send(open.room, "!tyr status");
    const next = await nio.waitFor("Tyr's next message", fromTyr(open.user, open.room, afterBlock));
    expect(next.type).toBe("undecryptable");
  });

  // Found by this test: with requireVerifiedDevicesForCommands: false (trust policy "any") a
  // blocked device could still command Tyr, although `device block` promises it cannot.
  it("a blocked device cannot command Tyr, whatever the trust settings", async () => {
    const room = await new TestUser(synapse.url, mod).createRoom({ invite: [open.user.userId] });
    await nio.send(open.room, `!tyr rooms add ${room}`);
    await eventually(
      async () =>
        open.bot.logs.some((l) => l["msg"] === "command refused" && /blocked/.test(String(l["why"]))),
      8_000,
      "Tyr refusing the blocked device",
    );
    // Never written at all (404) is the expected answer; written without the room is fine too.
    const protectedRooms = await new TestUser(synapse.url, open.user)
      .api<{ rooms: string[] }>(
        "GET",
        `/_matrix/client/v3/user/${encodeURIComponent(open.user.userId)}/account_data/org.matrix.mjolnir.protected_rooms`,
      )
      .catch((e: { status?: number }) => {
        if (e.status === 404) return { rooms: [] as string[] };
        throw e;
      });
    expect(protectedRooms.rooms).not.toContain(room);
  });
});
