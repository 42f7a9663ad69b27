// Policy lists end to end: a list maintainer edits a ban list, Tyr bans and unbans members of the
// protected rooms; moderators manage lists from the management room.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createHash } from "node:crypto";
import { Synapse } from "../harness/synapse.ts";
import { TestUser, eventually } from "../harness/user.ts";
import { policyListCast, runBot, testConfig, watchAndProtect, type RunningBot } from "../harness/bot.ts";

const synapse = Synapse.attach(inject("synapse"));
const enc = encodeURIComponent;

const user = (name: string) => TestUser.register(synapse, name);

describe("policy lists", () => {
  let bot: RunningBot;
  let tyr: TestUser;
  let mod: TestUser;
  let maintainer: TestUser;
  let mgmt: string;
  let list: string;
  let rooms: string[];

  const membership = (room: string, u: string) => mod.membership(room, u);
  const bannedEverywhere = (u: string) =>
    eventually(
      async () => (await Promise.all(rooms.map((r) => membership(r, u)))).every((m) => m === "ban"),
      30_000,
      `${u} banned in all rooms`,
    );
  const notBannedAnywhere = (u: string) =>
    eventually(
      async () => (await Promise.all(rooms.map((r) => membership(r, u)))).every((m) => m !== "ban"),
      30_000,
      `${u} unbanned everywhere`,
    );

  async function joinAll(u: TestUser): Promise<void> {
    for (const r of rooms) await u.join(r);
  }

  beforeAll(async () => {
    ({ tyr, mod, maintainer, mgmt, list } = await policyListCast(synapse, { listName: "bans" }));
    rooms = [];
    for (let i = 0; i < 3; i++) {
      rooms.push(
        await mod.createRoom({
          preset: "public_chat",
          invite: [tyr.userId],
          power_level_content_override: { users: { [tyr.userId]: 100 } },
        }),
      );
    }
    for (const r of rooms) await tyr.join(r);
    await tyr.join(list);
    await watchAndProtect(tyr, { watchedLists: [list], protectedRooms: rooms });
    bot = await runBot(testConfig({ url: synapse.url, accessToken: tyr.accessToken, managementRoom: mgmt }));
  });
  afterAll(async () => {
    await bot?.stop();
  });

  it("bans a listed user in every protected room, and lifts the bans when the rule is removed", async () => {
    const spammer = await user("spammer");
    await joinAll(spammer);
    await maintainer.setState(list, "m.policy.rule.user", "rule1", {
      entity: spammer.userId,
      recommendation: "m.ban",
      reason: "spam",
    });
    await bannedEverywhere(spammer.userId);
    const ban = await mod.getState<{ reason?: string }>(rooms[0]!, "m.room.member", spammer.userId);
    expect(ban?.reason).toBe("spam");
    await maintainer.setState(list, "m.policy.rule.user", "rule1", {});
    await notBannedAnywhere(spammer.userId);
  });

  it("reads legacy rule types and mjolnir recommendations", async () => {
    const spammer = await user("legacy");
    await joinAll(spammer);
    await maintainer.setState(list, "m.room.rule.user", "legacy1", {
      entity: spammer.userId,
      recommendation: "org.matrix.mjolnir.ban",
      reason: "old",
    });
    await bannedEverywhere(spammer.userId);
  });

  it("matches hashed rules by hashing the members it knows", async () => {
    const spammer = await user("hashed");
    await joinAll(spammer);
    const sha256 = createHash("sha256").update(spammer.userId).digest("base64");
    await maintainer.setState(list, "m.policy.rule.user", "hash1", {
      recommendation: "m.ban",
      "org.matrix.msc4205.hashes": { sha256 },
    });
    await bannedEverywhere(spammer.userId);
  });

  it("bans every member matching a glob, whatever the letter case", async () => {
    const a = await user("globspam");
    const b = await user("GlobSpam");
    const innocent = await user("globfriend");
    for (const u of [a, b, innocent]) await joinAll(u);
    await maintainer.setState(list, "m.policy.rule.user", "glob1", {
      entity: "@globspam-*:localhost",
      recommendation: "m.ban",
      reason: "glob",
    });
    await bannedEverywhere(a.userId);
    await bannedEverywhere(b.userId);
    expect(await membership(rooms[0]!, innocent.userId)).toBe("join");
  });

  it("bans a member who joins after the rule arrived, at the moment they join", async () => {
    const late = await user("latecomer");
    await maintainer.setState(list, "m.policy.rule.user", "late1", {
      entity: late.userId,
      recommendation: "m.ban",
      reason: "late",
    });
    await new Promise((r) => setTimeout(r, 1000));
    await late.join(rooms[1]!);
    await eventually(
      async () => (await membership(rooms[1]!, late.userId)) === "ban",
      20_000,
      "late joiner banned",
    );
  });

  it("never bans a management-room member, and tells the moderators instead", async () => {
    await mod.catchUp();
    await maintainer.setState(list, "m.policy.rule.user", "mod1", {
      entity: mod.userId,
      recommendation: "m.ban",
      reason: "oops",
    });
    await mod.waitForNotice(mgmt, tyr.userId, (b) => b.includes(mod.userId) && b.includes("not banning"));
    expect(await membership(rooms[0]!, mod.userId)).toBe("join");
    await maintainer.setState(list, "m.policy.rule.user", "mod1", {});
  });

  it("ignores garbage policy events without losing the good ones", async () => {
    const spammer = await user("aftergarbage");
    await joinAll(spammer);
    const garbage: Record<string, unknown>[] = [
      { entity: 42, recommendation: "m.ban" },
      { entity: "@x:y", recommendation: "m.teleport" },
      { entity: "*?".repeat(3000), recommendation: "m.ban" },
      { entity: ["@a:b"], recommendation: "m.ban" },
      { recommendation: "m.ban" },
    ];
    for (const [i, g] of garbage.entries())
      await maintainer.setState(list, "m.policy.rule.user", `garbage${i}`, g);
    await maintainer.setState(list, "m.policy.rule.user", "good-after-garbage", {
      entity: spammer.userId,
      recommendation: "m.ban",
    });
    await bannedEverywhere(spammer.userId);
    // the absurd glob did not ban everyone
    expect(await membership(rooms[0]!, mod.userId)).toBe("join");
  });

  it("ban / unban commands write and remove rules and lift the bans", async () => {
    const shortcode = `t${Date.now().toString(36)}`;
    await mod.catchUp();
    await mod.sendText(mgmt, `!tyr list create ${shortcode} ${shortcode}-list`);
    await mod.waitForNotice(mgmt, tyr.userId, /Created .* started watching/);
    const spammer = await user("cmdspam");
    await joinAll(spammer);
    await mod.sendText(mgmt, `!tyr ban ${shortcode} ${spammer.userId} spamming links`);
    await mod.waitForNotice(mgmt, tyr.userId, /Added ban rule/);
    await bannedEverywhere(spammer.userId);
    // the rule's state key is never the raw user ID
    const ownList = await mod.api<{ room_id: string }>(
      "GET",
      `/_matrix/client/v3/directory/room/${enc(`#${shortcode}-list:localhost`)}`,
    );
    await mod.join(ownList.room_id); // list create invited the moderator
    const state = await mod.api<{ type: string; state_key: string; content: { entity?: string } }[]>(
      "GET",
      `/_matrix/client/v3/rooms/${enc(ownList.room_id)}/state`,
    );
    const rule = state.find((e) => e.type === "m.policy.rule.user" && e.content.entity === spammer.userId);
    expect(rule?.state_key.startsWith("@")).toBe(false);

    await mod.sendText(mgmt, `!tyr rules matching ${spammer.userId}`);
    await mod.waitForNotice(mgmt, tyr.userId, /Decision: ban/);

    await mod.sendText(mgmt, `!tyr unban ${shortcode} ${spammer.userId}`);
    await mod.waitForNotice(mgmt, tyr.userId, /Removed 1 rule event/);
    await notBannedAnywhere(spammer.userId);
  });

  it("ban --for expires: the rule is removed when the time is up, and the bans are lifted", async () => {
    const shortcode = `x${Date.now().toString(36)}`;
    await mod.catchUp();
    await mod.sendText(mgmt, `!tyr list create ${shortcode} ${shortcode}-list`);
    await mod.waitForNotice(mgmt, tyr.userId, /Created .* started watching/);
    const troll = await user("timedban");
    await joinAll(troll);
    await mod.sendText(mgmt, `!tyr ban ${shortcode} ${troll.userId} --for 15s cooling off`);
    await mod.waitForNotice(mgmt, tyr.userId, /Added ban rule .* It expires in 15s \(20\d\d-/);
    await bannedEverywhere(troll.userId);
    await mod.sendText(mgmt, `!tyr rules matching ${troll.userId}`);
    await mod.waitForNotice(mgmt, tyr.userId, /ban: cooling off \(expires in \d+s\)/);
    expect([...bot.bot.actionLog.policyBannedUsers()]).toContain(troll.userId);
    await notBannedAnywhere(troll.userId);
    const ownList = await mod.api<{ room_id: string }>(
      "GET",
      `/_matrix/client/v3/directory/room/${enc(`#${shortcode}-list:localhost`)}`,
    );
    await mod.join(ownList.room_id);
    const state = await mod.api<{ type: string; content: { entity?: string } }[]>(
      "GET",
      `/_matrix/client/v3/rooms/${enc(ownList.room_id)}/state`,
    );
    expect(state.some((e) => e.type === "m.policy.rule.user" && e.content.entity === troll.userId)).toBe(
      false,
    );
  });

  it("a wide glob asks for confirmation and runs only after ✅ from the same moderator", async () => {
    const shortcode = `w${Date.now().toString(36)}`;
    await mod.catchUp();
    await mod.sendText(mgmt, `!tyr list create ${shortcode} ${shortcode}-list`);
    await mod.waitForNotice(mgmt, tyr.userId, /started watching/);
    const victim = await user("widevictim");
    await joinAll(victim);
    await mod.sendText(mgmt, `!tyr ban ${shortcode} @wid*:localhost`);
    const preview = await mod.waitForNotice(mgmt, tyr.userId, /wide pattern/);
    expect(await membership(rooms[0]!, victim.userId)).toBe("join");
    await mod.send(
      mgmt,
      { "m.relates_to": { rel_type: "m.annotation", event_id: preview.event_id, key: "✅" } },
      "m.reaction",
    );
    await bannedEverywhere(victim.userId);
  });

  it("watch shows a preview of what a list would do before following it", async () => {
    const other = await maintainer.createRoom({
      preset: "public_chat",
      creation_content: { type: "m.policy" },
    });
    const target = await user("watchtarget");
    await joinAll(target);
    await maintainer.setState(other, "m.policy.rule.user", "w1", {
      entity: target.userId,
      recommendation: "m.ban",
    });
    await maintainer.setState(other, "m.policy.rule.server", "s1", {
      entity: "evil.example",
      recommendation: "m.ban",
    });
    await mod.catchUp();
    await mod.sendText(mgmt, `!tyr watch ${other}`);
    const preview = await mod.waitForNotice(mgmt, tyr.userId, /would ban 1 member/);
    expect(preview.content.body).toContain("1 server rule");
    expect(await membership(rooms[0]!, target.userId)).toBe("join");
    await mod.send(
      mgmt,
      { "m.relates_to": { rel_type: "m.annotation", event_id: preview.event_id, key: "✅" } },
      "m.reaction",
    );
    await mod.waitForNotice(mgmt, tyr.userId, /Now watching/);
    await bannedEverywhere(target.userId);
    await mod.sendText(mgmt, "!tyr lists");
    await mod.waitForNotice(mgmt, tyr.userId, /1 user, 0 room, 1 server rules/);
  });

  it("takedown bans and redacts the user's recent messages", async () => {
    const shortcode = `k${Date.now().toString(36)}`;
    await mod.catchUp();
    await mod.sendText(mgmt, `!tyr list create ${shortcode} ${shortcode}-list`);
    await mod.waitForNotice(mgmt, tyr.userId, /started watching/);
    const spammer = await user("takedown");
    await joinAll(spammer);
    const msg = await spammer.sendText(rooms[2]!, "horrible content");
    await new Promise((r) => setTimeout(r, 1000)); // let Tyr see the message in sync
    await mod.sendText(mgmt, `!tyr takedown ${shortcode} ${spammer.userId} abuse --yes`);
    await bannedEverywhere(spammer.userId);
    await eventually(
      async () => {
        const ev = await mod.api<{ content: Record<string, unknown> }>(
          "GET",
          `/_matrix/client/v3/rooms/${enc(rooms[2]!)}/event/${enc(msg)}`,
        );
        return Object.keys(ev.content).length === 0;
      },
      20_000,
      "message redacted",
    );
  });
  it("follows a protected room and a watched list to their replacements when they are upgraded", async () => {
    const room2 = await mod.createRoom({
      preset: "public_chat",
      invite: [tyr.userId],
      power_level_content_override: { users: { [tyr.userId]: 100 } },
    });
    const list2 = await mod.createRoom({
      preset: "public_chat",
      invite: [tyr.userId],
      creation_content: { type: "m.policy" },
    });
    await mod.catchUp();
    await mod.sendText(mgmt, `!tyr rooms add ${room2}`);
    await mod.waitForNotice(mgmt, tyr.userId, /Protecting .*power it needs/);
    await mod.sendText(mgmt, `!tyr watch ${list2} --yes`);
    await mod.waitForNotice(mgmt, tyr.userId, /Now watching/);

    const upgrade = (room: string) =>
      mod.api<{ replacement_room: string }>("POST", `/_matrix/client/v3/rooms/${enc(room)}/upgrade`, {
        new_version: "12",
      });
    const newRoom = (await upgrade(room2)).replacement_room;
    await mod.waitForNotice(
      mgmt,
      tyr.userId,
      /protected room .* was upgraded; Tyr now protects its replacement/,
    );
    const newList = (await upgrade(list2)).replacement_room;
    await mod.waitForNotice(
      mgmt,
      tyr.userId,
      /watched list .* was upgraded; Tyr now follows its replacement .* too/,
    );

    const accountData = <T>(type: string) =>
      tyr.api<T>("GET", `/_matrix/client/v3/user/${enc(tyr.userId)}/account_data/${type}`);
    const protectedNow = await accountData<{ rooms: string[] }>("org.matrix.mjolnir.protected_rooms");
    expect(protectedNow.rooms).toContain(newRoom);
    expect(protectedNow.rooms).not.toContain(room2);
    const watchedNow = await accountData<{ references: string[] }>("org.matrix.mjolnir.watched_lists");
    // Both lists: the old one's rules stay in force until its maintainers moved them.
    const at = (room: string) => watchedNow.references.findIndex((r) => r.includes(room));
    expect(at(list2)).toBeGreaterThanOrEqual(0);
    expect(at(newList)).toBe(at(list2) + 1);

    // The old list's rules still ban; the new list's rules ban too, in the new room.
    const old = await user("old-rule");
    await old.join(newRoom);
    await mod.setState(list2, "m.policy.rule.user", "rule-old", {
      entity: old.userId,
      recommendation: "m.ban",
      reason: "spam",
    });
    const spammer = await user("upgraded");
    await spammer.join(newRoom);
    await mod.setState(newList, "m.policy.rule.user", "rule-upgraded", {
      entity: spammer.userId,
      recommendation: "m.ban",
      reason: "spam",
    });
    await eventually(
      async () =>
        (await membership(newRoom, spammer.userId)) === "ban" &&
        (await membership(newRoom, old.userId)) === "ban",
      30_000,
      "bans from both lists in the new room",
    );
  });
});
