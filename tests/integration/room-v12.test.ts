// Room version 12 against a real Synapse: the room's creators (the create event's sender and
// `additional_creators`) have unlimited power. A rule matching a creator bans nobody there (Tyr does
// not try, says so once) while the other matching member is banned; a kick command names the reason;
// `audit` says who holds creator power; a protected v12 room's upgrade is followed.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Synapse } from "../harness/synapse.ts";
import { TestUser, eventually } from "../harness/user.ts";
import { runBot, testConfig, watchAndProtect, type RunningBot } from "../harness/bot.ts";

const synapse = Synapse.attach(inject("synapse"));
const enc = encodeURIComponent;

const user = (name: string) => TestUser.register(synapse, name);

describe("room version 12: creators", () => {
  let tyr: TestUser;
  let mod: TestUser;
  let maintainer: TestUser;
  let owner: TestUser;
  let coCreator: TestUser;
  let mgmt: string;
  let list: string;
  let room: string;
  let bot: RunningBot | undefined;

  beforeAll(async () => {
    [tyr, mod, maintainer, owner, coCreator] = await Promise.all([
      user("tyr-v12"),
      user("mod-v12"),
      user("maint-v12"),
      user("owner-v12"),
      user("co-v12"),
    ]);
    mgmt = await mod.createRoom({ invite: [tyr.userId] });
    list = await maintainer.createRoom({ preset: "public_chat", creation_content: { type: "m.policy" } });
    room = await owner.createRoom({
      preset: "public_chat",
      room_version: "12",
      creation_content: { additional_creators: [coCreator.userId] },
      invite: [tyr.userId],
      power_level_content_override: { users: { [tyr.userId]: 100, [mod.userId]: 100 } },
    });
    await coCreator.join(room);
    await tyr.join(room);
    await tyr.join(list);
    await watchAndProtect(tyr, { watchedLists: [list], protectedRooms: [room] });
    bot = await runBot(testConfig({ url: synapse.url, accessToken: tyr.accessToken, managementRoom: mgmt }));
  });
  afterAll(async () => {
    await bot?.stop();
  });

  it("the installed Synapse creates a v12 room whose create event lists the extra creator", async () => {
    const create = await owner.getState<Record<string, unknown>>(room, "m.room.create");
    expect(create).toMatchObject({ room_version: "12", additional_creators: [coCreator.userId] });
  });

  it("a rule matching a creator: the creator is not banned (said once), another member is", async () => {
    const spammer = await user("spam-v12");
    await spammer.join(room);
    await mod.catchUp();
    const rule = (entity: string) => ({ entity, recommendation: "m.ban", reason: "spam" });
    await maintainer.setState(list, "m.policy.rule.user", "co", rule(coCreator.userId));
    await maintainer.setState(list, "m.policy.rule.user", "spam", rule(spammer.userId));
    await mod.waitForNotice(
      mgmt,
      tyr.userId,
      /matches @co-v12.*a creator of .*cannot be banned, so Tyr does not try/,
    );
    await eventually(
      async () => (await owner.membership(room, spammer.userId)) === "ban",
      30_000,
      "spammer banned",
    );
    expect(await owner.membership(room, coCreator.userId)).toBe("join");
    const tried = bot!.bot.actionLog.query({ about: coCreator.userId }).filter((r) => r.kind === "ban");
    expect(tried).toEqual([]); // never attempted, so nothing failed either
    // The command path: the guard answers why.
    await mod.sendText(mgmt, `!tyr kick ${owner.userId} --room ${room} --yes`);
    await mod.waitForNotice(mgmt, tyr.userId, /not trying to kick @owner-v12.*creators have unlimited power/);
    expect(await owner.membership(room, owner.userId)).toBe("join");
    await maintainer.setState(list, "m.policy.rule.user", "co", {});
  });

  it("audit names who holds creator power", async () => {
    await mod.catchUp();
    await mod.sendText(mgmt, `!tyr audit ${room}`);
    const report = await mod.waitForNotice(mgmt, tyr.userId, /Creator power/);
    expect(String(report.content.body)).toContain(owner.userId);
    expect(String(report.content.body)).toContain(coCreator.userId);
    expect(String(report.content.body)).toMatch(/unlimited power \(room version 12\)/);
  });

  it("a protected v12 room upgraded to v12 again: Tyr protects the replacement", async () => {
    await mod.catchUp();
    const { replacement_room: next } = await owner.api<{ replacement_room: string }>(
      "POST",
      `/_matrix/client/v3/rooms/${enc(room)}/upgrade`,
      { new_version: "12" },
    );
    await mod.waitForNotice(
      mgmt,
      tyr.userId,
      /protected room .* was upgraded; Tyr now protects its replacement/,
    );
    expect(await owner.membership(next, tyr.userId)).toBe("join");
    const create = await owner.getState<Record<string, unknown>>(next, "m.room.create");
    expect(create).toMatchObject({ room_version: "12" });
    // Still moderating there: a listed user who joins the new room is banned.
    const late = await user("late-v12");
    await maintainer.setState(list, "m.policy.rule.user", "late", {
      entity: late.userId,
      recommendation: "m.ban",
      reason: "spam",
    });
    await late.join(next);
    await eventually(
      async () => (await owner.membership(next, late.userId)) === "ban",
      30_000,
      "banned in the new room",
    );
  });
});
