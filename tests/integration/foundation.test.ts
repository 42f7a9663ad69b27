// The bot answers help/status to moderators in the management room, nowhere else, survives its
// own restart without replaying old commands, and recovers when Synapse restarts.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { DEV_DIR, Synapse } from "../harness/synapse.ts";
import { TestUser } from "../harness/user.ts";
import { runBot, testConfig, type RunningBot } from "../harness/bot.ts";

const info = inject("synapse");
const synapse = Synapse.attach(info);

describe("foundation: management room basics", () => {
  let bot: RunningBot;
  let botUser: TestUser;
  let mod: TestUser;
  let member: TestUser;
  let mgmt: string;
  let other: string;
  let dataPath: string;

  beforeAll(async () => {
    const b = await synapse.register("tyr");
    botUser = new TestUser(synapse.url, b);
    mod = new TestUser(synapse.url, await synapse.register("mod"));
    member = new TestUser(synapse.url, await synapse.register("member"));
    mgmt = await mod.createRoom({ invite: [b.userId, member.userId] });
    await member.join(mgmt);
    other = await mod.createRoom({ invite: [b.userId] });
    await botUser.join(other);
    const loaded = testConfig({ url: synapse.url, accessToken: b.accessToken, managementRoom: mgmt });
    dataPath = loaded.config.dataPath;
    bot = await runBot(loaded);
    await mod.catchUp();
  });
  afterAll(async () => {
    await bot?.stop();
  });

  it("answers help with an HTML notice threaded to the command", async () => {
    const cmd = await mod.sendText(mgmt, "!tyr help");
    const reply = await mod.waitForNotice(mgmt, botUser.userId, /Tyr commands/);
    expect(reply.content.format).toBe("org.matrix.custom.html");
    expect(String(reply.content.formatted_body)).toContain("<code>status</code>");
    expect(reply.content["m.relates_to"]).toMatchObject({
      rel_type: "m.thread",
      "m.in_reply_to": { event_id: cmd },
    });
    // ✅ on the command once done
    await mod.waitFor(
      mgmt,
      (e) =>
        e.type === "m.reaction" && (e.content["m.relates_to"] as { event_id?: string })?.event_id === cmd,
      15_000,
      "✅ reaction",
    );
  });

  it("answers status with what it knows", async () => {
    await mod.sendText(mgmt, "!tyr status");
    const reply = await mod.waitForNotice(mgmt, botUser.userId, /Tyr status/);
    expect(reply.content.body).toContain(botUser.userId);
    expect(reply.content.body).toMatch(/Last sync/);
  });

  it("accepts being addressed by name", async () => {
    await mod.sendText(mgmt, `${botUser.userId}: status`);
    await mod.waitForNotice(mgmt, botUser.userId, /Tyr status/);
  });

  it("explains an unknown command with a suggestion", async () => {
    await mod.sendText(mgmt, "!tyr stauts");
    const reply = await mod.waitForNotice(mgmt, botUser.userId, /Unknown command/);
    expect(reply.content.body).toMatch(/status/);
  });

  it("ignores commands in other rooms", async () => {
    await mod.catchUp();
    const ignored = await mod.sendText(other, "!tyr help");
    // a command in the management room afterwards proves the bot has seen the first one
    await mod.sendText(mgmt, "!tyr status");
    await mod.waitForNotice(mgmt, botUser.userId, /Tyr status/);
    await mod.sync(500);
    const inOther = (mod.seen.get(other) ?? []).filter(
      (e) => e.sender === botUser.userId && e.type === "m.room.message",
    );
    expect(inOther).toEqual([]);
    expect(ignored).toBeTruthy();
  });

  it("refuses a member without enough power, politely and without echoing", async () => {
    await mod.catchUp();
    await member.sendText(mgmt, "!tyr status <b>secret</b>");
    const reply = await mod.waitForNotice(mgmt, botUser.userId, /Sorry, only members with power level 50/);
    expect(reply.content.body).not.toContain("secret");
  });

  it("does not answer old commands again after a restart", async () => {
    await mod.catchUp();
    const old = await mod.sendText(mgmt, "!tyr status");
    await mod.waitForNotice(mgmt, botUser.userId, /Tyr status/);
    await bot.stop();
    bot = await runBot(
      testConfig({ url: synapse.url, accessToken: botUser.accessToken, managementRoom: mgmt, dataPath }),
    );
    const fresh = await mod.sendText(mgmt, "!tyr help");
    await mod.waitForNotice(mgmt, botUser.userId, /Tyr commands/);
    await mod.sync(500);
    const repliesTo = (id: string) =>
      (mod.seen.get(mgmt) ?? []).filter(
        (e) =>
          e.sender === botUser.userId &&
          e.type === "m.room.message" &&
          JSON.stringify(e.content["m.relates_to"] ?? {}).includes(id),
      );
    expect(repliesTo(old)).toHaveLength(1);
    expect(repliesTo(fresh)).toHaveLength(1);
  });
});

describe("foundation: busy management room", () => {
  it("answers a command that more than one sync's worth of messages pushed out of view", async () => {
    const b = await synapse.register("tyr");
    const mod = new TestUser(synapse.url, await synapse.register("mod"));
    const mgmt = await mod.createRoom({ invite: [b.userId] });
    const loaded = testConfig({ url: synapse.url, accessToken: b.accessToken, managementRoom: mgmt });
    let bot = await runBot(loaded);
    await bot.stop();
    // While Tyr is away: a command, then more chatter than one sync returns (100 events).
    const cmd = await mod.sendText(mgmt, "!tyr status");
    for (let i = 0; i < 120; i += 20) {
      await Promise.all(Array.from({ length: 20 }, (_, j) => mod.sendText(mgmt, `chatter ${i + j}`)));
    }
    await mod.catchUp();
    bot = await runBot(
      testConfig({
        url: synapse.url,
        accessToken: b.accessToken,
        managementRoom: mgmt,
        dataPath: loaded.config.dataPath,
      }),
    );
    try {
      const reply = await mod.waitForNotice(mgmt, b.userId, /Tyr status/, 30_000);
      expect(JSON.stringify(reply.content["m.relates_to"])).toContain(cmd);
    } finally {
      await bot.stop();
    }
  });
});

describe("foundation: homeserver restart", () => {
  let own: Synapse;
  let bot: RunningBot | undefined;

  beforeAll(async () => {
    own = await Synapse.create({ dir: join(DEV_DIR, `test-synapse-restart-${process.pid}`) });
  });
  afterAll(async () => {
    await bot?.stop();
    await own.stop();
    rmSync(own.dir, { recursive: true, force: true });
  });

  it("answers again within 30 s after Synapse restarts", async () => {
    const b = await own.register("tyr");
    const mod = new TestUser(own.url, await own.register("mod"));
    const mgmt = await mod.createRoom({ invite: [b.userId] });
    bot = await runBot(testConfig({ url: own.url, accessToken: b.accessToken, managementRoom: mgmt }));
    await own.restart();
    const restartedAt = Date.now();
    await mod.catchUp();
    await mod.sendText(mgmt, "!tyr status");
    await mod.waitForNotice(mgmt, b.userId, /Tyr status/, 30_000);
    expect(Date.now() - restartedAt).toBeLessThan(30_000);
    expect(bot.logs.some((l) => l.msg === "sync recovered")).toBe(true);
  });
});
