// Server-admin account actions against a real Synapse: a moderator suspends and locks local
// accounts through Tyr (the account's own token is refused, then accepted again after the lift),
// Tyr refuses remote accounts, moderators and itself, and a watched list with autoSuspend
// suspends the local accounts it bans and lifts that when the rule goes — except a suspension a
// moderator made by hand. A Tyr that is not a server admin says so.
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Synapse } from "../harness/synapse.ts";
import { TestUser, eventually } from "../harness/user.ts";
import { runBot, testConfig, watchAndProtect, type RunningBot } from "../harness/bot.ts";

const synapse = Synapse.attach(inject("synapse"));

const user = (name: string, admin = false) => TestUser.register(synapse, name, { admin });

/** Whether the server refuses `u` a profile change as suspended (works outside any room). */
async function suspended(u: TestUser): Promise<boolean> {
  try {
    await u.api("PUT", `/_matrix/client/v3/profile/${encodeURIComponent(u.userId)}/displayname`, {
      displayname: "still here",
    });
    return false;
  } catch (e) {
    if ((e as { body?: { errcode?: string } }).body?.errcode === "M_USER_SUSPENDED") return true;
    throw e;
  }
}

/** The errcode the server answers `u`'s attempt to send a message with, or "ok". */
async function sendOutcome(u: TestUser, room: string): Promise<string> {
  try {
    await u.sendText(room, "can I still talk?");
    return "ok";
  } catch (e) {
    return String((e as { body?: { errcode?: string } }).body?.errcode ?? e);
  }
}

describe("server admin: suspend, lock, autoSuspend", () => {
  let tyr: TestUser;
  let mod: TestUser;
  let maintainer: TestUser;
  let mgmt: string;
  let room: string;
  let list: string;
  let bot: RunningBot | undefined;

  const command = async (text: string, answer: RegExp) => {
    await mod.sendText(mgmt, text);
    return mod.waitForNotice(mgmt, tyr.userId, answer);
  };
  const confirm = async (preview: { event_id: string }) =>
    mod.send(
      mgmt,
      { "m.relates_to": { rel_type: "m.annotation", event_id: preview.event_id, key: "✅" } },
      "m.reaction",
    );
  const becomes = (u: TestUser, want: boolean) =>
    eventually(async () => (await suspended(u)) === want, 30_000, `${u.userId} suspended: ${want}`);

  beforeAll(async () => {
    [tyr, mod, maintainer] = await Promise.all([
      user("tyr-admin", true),
      user("mod-admin"),
      user("maint-admin"),
    ]);
    mgmt = await mod.createRoom({ invite: [tyr.userId] });
    room = await mod.createRoom({
      preset: "public_chat",
      invite: [tyr.userId],
      power_level_content_override: { users: { [tyr.userId]: 100 } },
    });
    list = await maintainer.createRoom({
      preset: "public_chat",
      creation_content: { type: "m.policy" },
      initial_state: [{ type: "org.matrix.mjolnir.shortcode", state_key: "", content: { shortcode: "adm" } }],
    });
    await tyr.join(room);
    await tyr.join(list);
    await watchAndProtect(tyr, { watchedLists: [list], protectedRooms: [room] });
    bot = await runBot(testConfig({ url: synapse.url, accessToken: tyr.accessToken, managementRoom: mgmt }));
  });
  afterAll(async () => {
    if (process.env.TYR_DEBUG_LOGS)
      for (const l of bot?.logs ?? []) if (/suspend/i.test(JSON.stringify(l))) console.log(JSON.stringify(l));
    await bot?.stop();
  });

  it("suspends after ✅ (sending refused with M_USER_SUSPENDED), and unsuspends", async () => {
    const victim = await user("suspend-me");
    await victim.join(room);
    expect(await sendOutcome(victim, room)).toBe("ok");
    await mod.catchUp();
    const preview = await command(`!tyr suspend ${victim.userId} spam wave`, /Suspend .*M_USER_SUSPENDED/s);
    expect(await sendOutcome(victim, room)).toBe("ok"); // nothing before the ✅
    await confirm(preview);
    await mod.waitForNotice(mgmt, tyr.userId, /^Suspended /);
    expect(await sendOutcome(victim, room)).toBe("M_USER_SUSPENDED");
    const log = bot!.bot.actionLog.suspensionOf(victim.userId);
    expect(log).toMatchObject({ actor: mod.userId, reason: "spam wave" });

    await command(`!tyr unsuspend ${victim.userId}`, /Unsuspended .*suspended by .*spam wave/);
    expect(await sendOutcome(victim, room)).toBe("ok");
    expect(bot!.bot.actionLog.suspensionOf(victim.userId)).toBeUndefined();
  });

  it("locks (every request refused with M_USER_LOCKED), and unlocks", async () => {
    const victim = await user("lock-me");
    await victim.join(room);
    await mod.catchUp();
    await command(`!tyr lock ${victim.userId} compromised --yes`, /^Locked /);
    expect(await sendOutcome(victim, room)).toBe("M_USER_LOCKED");
    await command(`!tyr unlock ${victim.userId}`, /^Unlocked /);
    expect(await sendOutcome(victim, room)).toBe("ok");
    // No account is created by locking a name nobody has.
    await command("!tyr lock @nobody-here:localhost --yes", /lock failed: .*has no account/);
    const nobody = await fetch(
      `${synapse.url}/_synapse/admin/v2/users/${encodeURIComponent("@nobody-here:localhost")}`,
      {
        headers: { authorization: `Bearer ${tyr.accessToken}` },
      },
    );
    expect(nobody.status).toBe(404);
  });

  it("refuses remote accounts, moderators and Tyr itself", async () => {
    await mod.catchUp();
    await command("!tyr suspend @someone:other.example --yes", /not an account of .*ban <list>/);
    await command(`!tyr suspend ${mod.userId} --yes`, /Not suspending: .*management room/);
    await command(`!tyr lock ${tyr.userId} --yes`, /Not locking: .*Tyr itself/);
    expect(await sendOutcome(mod, room)).toBe("ok");
    expect(await sendOutcome(tyr, room)).toBe("ok");
  });

  it("autoSuspend follows rules; a suspension made by hand stays when its rule goes", async () => {
    const auto = await user("auto-susp");
    const hand = await user("hand-susp");
    const outsider = await user("not-in-rooms"); // in no protected room: named by a literal rule
    for (const u of [auto, hand]) await u.join(room);
    await mod.catchUp();
    await command("!tyr autosuspend adm on", /autoSuspend is on/);
    await command(`!tyr suspend ${hand.userId} by hand --yes`, /^Suspended /);

    const rule = (u: TestUser) => ({ entity: u.userId, recommendation: "m.ban", reason: "spam bot" });
    await maintainer.setState(list, "m.policy.rule.user", "auto", rule(auto));
    await maintainer.setState(list, "m.policy.rule.user", "hand", rule(hand));
    await maintainer.setState(list, "m.policy.rule.user", "outsider", rule(outsider));
    await eventually(async () => (await mod.membership(room, auto.userId)) === "ban", 30_000, "the ban");
    await becomes(auto, true);
    await becomes(outsider, true);
    await command(`!tyr rules matching ${auto.userId}`, /Account: suspended by a rule of .*spam bot/);
    await command(`!tyr status`, /Auto-suspend.*on for/);
    await command("!tyr lists", /autoSuspend on/);
    // Lifting by hand while the list still bans it would not last: Tyr says so.
    await command(`!tyr unsuspend ${auto.userId}`, /Not unsuspending .*autoSuspend/);

    for (const k of ["auto", "hand", "outsider"])
      await maintainer.setState(list, "m.policy.rule.user", k, {});
    await becomes(auto, false);
    await becomes(outsider, false);
    expect(await suspended(hand)).toBe(true);
    expect(bot!.bot.actionLog.suspensionOf(hand.userId)?.actor).toBe(mod.userId);
    await command(`!tyr unsuspend ${hand.userId}`, /^Unsuspended /);
    await command("!tyr autosuspend adm off", /autoSuspend is off/);
  });

  it("hashed and takedown rules suspend members too", async () => {
    const hashed = await user("auto-hashed");
    const taken = await user("auto-takedown");
    for (const u of [hashed, taken]) await u.join(room);
    await mod.catchUp();
    await command("!tyr autosuspend adm on", /autoSuspend is on/);
    const sha256 = createHash("sha256").update(hashed.userId).digest("base64");
    await maintainer.setState(list, "m.policy.rule.user", "hashed", {
      recommendation: "m.ban",
      "org.matrix.msc4205.hashes": { sha256 },
    });
    await maintainer.setState(list, "m.policy.rule.user", "takedown", {
      entity: taken.userId,
      recommendation: "m.takedown",
      reason: "csam",
    });
    await becomes(hashed, true);
    await becomes(taken, true);
    for (const k of ["hashed", "takedown"]) await maintainer.setState(list, "m.policy.rule.user", k, {});
    await becomes(hashed, false);
    await becomes(taken, false);
    await command("!tyr autosuspend adm off", /autoSuspend is off/);
  });

  it("turning autoSuspend off lifts the suspensions its rules made", async () => {
    const z = await user("auto-off");
    await mod.catchUp();
    await command("!tyr autosuspend adm on", /autoSuspend is on/);
    await maintainer.setState(list, "m.policy.rule.user", "off", {
      entity: z.userId,
      recommendation: "m.ban",
      reason: "spam",
    });
    await becomes(z, true);
    await command("!tyr autosuspend adm off", /autoSuspend is off/);
    await becomes(z, false);
    await command("!tyr autosuspend adm", /autoSuspend is off for/);
  });

  it("says clearly when Tyr is not a server admin", async () => {
    const plain = await user("tyr-plain-admin");
    const mgmt2 = await mod.createRoom({ invite: [plain.userId] });
    const other = await runBot(
      testConfig({ url: synapse.url, accessToken: plain.accessToken, managementRoom: mgmt2 }),
    );
    try {
      const victim = await user("not-suspended");
      await mod.sendText(mgmt2, `!tyr suspend ${victim.userId} --yes`);
      await mod.waitForNotice(mgmt2, plain.userId, /suspend failed: .*is not a server admin/);
      expect(await suspended(victim)).toBe(false);
    } finally {
      await other.stop();
    }
  });
});
