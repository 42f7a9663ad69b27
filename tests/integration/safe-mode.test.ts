// Safe mode against a real Synapse: Tyr's own settings are broken before it starts (protection
// settings it cannot use, a watched list it cannot join); Tyr starts anyway, says what failed,
// applies nothing (a user a watched list bans stays in the protected room), answers only the repair
// commands, and is back to normal once the setting is fixed and `restart` was sent.
import { describe, expect, it } from "vitest";
import { inject } from "vitest";
import { Synapse } from "../harness/synapse.ts";
import { TestUser, eventually } from "../harness/user.ts";
import { runBot, testConfig, watchAndProtect, type RunningBot } from "../harness/bot.ts";
import { TYR_PROTECTIONS_KEY } from "../../src/protections/config.ts";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PROJECT_ROOT } from "../harness/synapse.ts";

const synapse = Synapse.attach(inject("synapse"));
const enc = encodeURIComponent;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const user = (name: string) => TestUser.register(synapse, name);

/** Tyr with a management room, a protected room a listed spammer sits in, and a list banning them. */
async function setup(tag: string) {
  const [tyr, mod, maint, spammer] = (await Promise.all(
    ["tyr", "mod", "maint", "spammer"].map((n) => user(`${n}-${tag}`)),
  )) as [TestUser, TestUser, TestUser, TestUser];
  const mgmt = await mod.createRoom({ invite: [tyr.userId] });
  await tyr.join(mgmt);
  const room = await mod.createRoom({
    preset: "public_chat",
    invite: [tyr.userId],
    power_level_content_override: { users: { [tyr.userId]: 100 } },
  });
  await tyr.join(room);
  await spammer.join(room);
  const list = await maint.createRoom({ preset: "public_chat", creation_content: { type: "m.policy" } });
  await maint.setState(list, "m.policy.rule.user", "rule-1", {
    entity: spammer.userId,
    recommendation: "m.ban",
    reason: "spam",
  });
  const config = testConfig({ url: synapse.url, accessToken: tyr.accessToken, managementRoom: mgmt });
  const command = async (text: string, answer: RegExp) => {
    await mod.sendText(mgmt, text);
    return mod.waitForNotice(mgmt, tyr.userId, answer);
  };
  /** `restart` in chat, then Tyr started again as `tyr run` does: out of safe mode. */
  const restart = async (bot: RunningBot, loaded = config): Promise<RunningBot> => {
    await command("!tyr restart", /Restarting/);
    await bot.done;
    const again = await runBot(loaded);
    expect(again.bot.safeMode.active).toBe(false);
    return again;
  };
  const spammerBanned = () =>
    eventually(async () => (await mod.membership(room, spammer.userId)) === "ban", 30_000, "the ban");
  return { tyr, mod, maint, spammer, mgmt, room, list, config, command, restart, spammerBanned };
}

describe("safe mode", () => {
  it("broken protection settings: safe mode, only repair commands, protections reset + restart → normal", async () => {
    const s = await setup("prot");
    await watchAndProtect(s.tyr, { watchedLists: [s.list], protectedRooms: [s.room] });
    await s.tyr.api(
      "PUT",
      `/_matrix/client/v3/user/${enc(s.tyr.userId)}/account_data/${TYR_PROTECTIONS_KEY}`,
      {
        protections: { "media-filter": { settings: { blocked: ["bogus"] } } },
      },
    );
    await s.mod.catchUp();
    let bot = await runBot(s.config);
    try {
      await s.mod.waitForNotice(
        s.mgmt,
        s.tyr.userId,
        /Tyr is in safe mode: the protection settings .* are broken/,
      );
      await s.command("!tyr protections enable flooding", /not available: Tyr is in safe mode because/);
      const status = await s.command("!tyr status", /Tyr status/);
      expect(status.content.body).toMatch(/Safe mode\W+ON: .*fix it with: protections reset/);
      // Nothing applied: the list bans the spammer, but in safe mode Tyr does not act on it.
      await sleep(2_000);
      expect(await s.mod.membership(s.room, s.spammer.userId)).toBe("join");

      const preview = await s.command(
        "!tyr protections reset",
        /About to clear all of Tyr's protection settings/,
      );
      await s.mod.send(
        s.mgmt,
        { "m.relates_to": { rel_type: "m.annotation", event_id: preview.event_id, key: "✅" } },
        "m.reaction",
      );
      await s.mod.waitForNotice(s.mgmt, s.tyr.userId, /protection settings are cleared/);
      const stored = await s.tyr.api(
        "GET",
        `/_matrix/client/v3/user/${enc(s.tyr.userId)}/account_data/${TYR_PROTECTIONS_KEY}`,
      );
      expect(stored).toEqual({});

      const before = bot;
      bot = await s.restart(bot);
      expect(before.bot.restartRequested).toBe(true);
      await s.spammerBanned();
      await s.mod.catchUp();
      const after = await s.command("!tyr status", /Tyr status/);
      expect(after.content.body).not.toMatch(/Safe mode/);
    } finally {
      await bot.stop();
    }
  }, 60_000);

  it("an unjoinable watched list: safe mode, unwatch fixes it", async () => {
    const s = await setup("list");
    const closed = await s.maint.createRoom({
      preset: "private_chat",
      creation_content: { type: "m.policy" },
    });
    await watchAndProtect(s.tyr, { watchedLists: [s.list, closed], protectedRooms: [s.room] });
    await s.mod.catchUp();
    let bot = await runBot(s.config);
    try {
      await s.mod.waitForNotice(
        s.mgmt,
        s.tyr.userId,
        new RegExp(`safe mode: Tyr cannot join the watched list ${closed.replace(/[.$]/g, "\\$&")}`),
      );
      await s.command("!tyr ban spam @x:example.org", /not available: Tyr is in safe mode because/);
      await s.command("!tyr lists", /./);
      expect(await s.mod.membership(s.room, s.spammer.userId)).toBe("join");
      await s.command(`!tyr unwatch ${closed}`, /Stopped watching/);
      bot = await s.restart(bot);
      await s.spammerBanned();
    } finally {
      await bot.stop();
    }
  }, 60_000);

  it("a list too large to load: safe mode, nothing from it applied, unwatch + restart → normal", async () => {
    const s = await setup("size");
    await s.maint.setState(s.list, "m.policy.rule.user", "rule-2", {
      entity: "@other:example.org",
      recommendation: "m.ban",
      reason: "spam",
    });
    // Already joined (a restart): the list's state arrives whole in the first sync.
    await s.tyr.join(s.list);
    await watchAndProtect(s.tyr, { watchedLists: [s.list], protectedRooms: [s.room] });
    await s.mod.catchUp();
    const config = { ...s.config, config: { ...s.config.config, safeMode: { maxRulesPerList: 1 } } };
    let bot = await runBot(config);
    try {
      await s.mod.waitForNotice(
        s.mgmt,
        s.tyr.userId,
        /safe mode: the watched list .* has 2 policy events, more than safeMode\.maxRulesPerList \(1\)/,
      );
      await sleep(1_000);
      expect(await s.mod.membership(s.room, s.spammer.userId)).toBe("join");
      await s.command(`!tyr unwatch ${s.list}`, /Stopped watching/);
      bot = await s.restart(bot, config);
    } finally {
      await bot.stop();
    }
  }, 60_000);

  it("an unjoinable protected room: safe mode, rooms remove fixes it", async () => {
    const s = await setup("room");
    const closed = await s.mod.createRoom({ preset: "private_chat" });
    await watchAndProtect(s.tyr, { watchedLists: [s.list], protectedRooms: [s.room, closed] });
    await s.mod.catchUp();
    let bot = await runBot(s.config);
    try {
      await s.mod.waitForNotice(s.mgmt, s.tyr.userId, /safe mode: Tyr cannot join the protected room/);
      await s.command("!tyr rooms", /not available: Tyr is in safe mode because/);
      expect(await s.mod.membership(s.room, s.spammer.userId)).toBe("join");
      await s.command(`!tyr rooms remove ${closed}`, /No longer protecting/);
      bot = await s.restart(bot);
      await s.spammerBanned();
    } finally {
      await bot.stop();
    }
  }, 60_000);

  it("tyr run: restart starts Tyr again in the same process", async () => {
    const s = await setup("cli");
    const dir = mkdtempSync(join(tmpdir(), "tyr-safe-cli-"));
    const f = join(dir, "config.yaml");
    const body = {
      homeserverUrl: synapse.url,
      accessToken: s.tyr.accessToken,
      managementRoom: s.mgmt,
      dataPath: join(dir, "data"),
      logFormat: "json",
    };
    writeFileSync(
      f,
      Object.entries(body)
        .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
        .join("\n"),
    );
    const p = spawn(process.execPath, [join(PROJECT_ROOT, "src/cli.ts"), "run", "--config", f], {
      cwd: PROJECT_ROOT,
    });
    let out = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (out += d));
    const exited = new Promise<number | null>((r) => p.on("exit", (code) => r(code)));
    const ups = () => out.split('"msg":"syncing: Tyr is up"').length - 1;
    try {
      await eventually(async () => ups() === 1, 30_000, "the first start");
      await s.mod.catchUp();
      await s.command("!tyr restart", /Restarting/);
      await eventually(async () => ups() === 2, 30_000, "the second start");
      expect(out).toContain('"msg":"restarting on request"');
      await s.mod.catchUp();
      await s.command("!tyr status", /Tyr status/);
    } finally {
      p.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
  }, 60_000);
});
