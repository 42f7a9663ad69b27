// A room rule removed from a watched list lifts the takedown it caused, over real federation: the
// spam room lives on a second homeserver, so after the unblock a local account can join it again
// through that server (a room with no local member left is only joinable through another server).
// A room a moderator took down by hand stays blocked when a rule naming it goes.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { DEV_DIR, type Synapse } from "../harness/synapse.ts";
import { federatedHomeserver } from "../harness/federation.ts";
import { TestUser, eventually } from "../harness/user.ts";
import { runBot, testConfig, watchAndProtect, type RunningBot } from "../harness/bot.ts";

const enc = encodeURIComponent;
const root = join(DEV_DIR, `room-unblock-${process.pid}`);

describe("room unblock when the rule goes", () => {
  let hs1: Synapse;
  let hs2: Synapse;
  let bot: RunningBot;
  let tyr: TestUser;
  let mod: TestUser;
  let maintainer: TestUser;
  let owner: TestUser;
  let mgmt: string;
  let list: string;

  const user = (hs: Synapse, name: string, admin = false) => TestUser.register(hs, name, { admin });
  const joinedRooms = async (u: TestUser) =>
    (await u.api<{ joined_rooms: string[] }>("GET", "/_matrix/client/v3/joined_rooms")).joined_rooms;
  /** `u` joins `room` through hs2 (where the room lives): "ok" or the status and error. */
  const joinViaHs2 = async (u: TestUser, room: string): Promise<string> => {
    try {
      await u.api("POST", `/_matrix/client/v3/join/${enc(room)}?server_name=${enc(hs2.serverName)}`, {});
      return "ok";
    } catch (e) {
      const err = e as { status?: number; body?: { error?: string } };
      return `${err.status} ${err.body?.error ?? String(e)}`;
    }
  };
  const rule = (entity: string) => ({ entity, recommendation: "m.ban", reason: "spam room" });
  /** A public room on hs2 with a member of hs1 in it. */
  const remoteRoomWithLocalMember = async (member: TestUser): Promise<string> => {
    const room = await owner.createRoom({ preset: "public_chat" });
    await eventually(async () => (await joinViaHs2(member, room)) === "ok", 60_000, "joins over federation");
    return room;
  };

  beforeAll(async () => {
    rmSync(root, { recursive: true, force: true });
    [hs1, hs2] = await Promise.all([
      federatedHomeserver(root, "hs1.localhost"),
      federatedHomeserver(root, "hs2.localhost"),
    ]);
    [tyr, mod, maintainer, owner] = await Promise.all([
      user(hs1, "tyr", true),
      user(hs1, "mod"),
      user(hs1, "maint"),
      user(hs2, "owner"),
    ]);
    mgmt = await mod.createRoom({ invite: [tyr.userId] });
    list = await maintainer.createRoom({ preset: "public_chat", creation_content: { type: "m.policy" } });
    await tyr.join(list);
    await watchAndProtect(tyr, { watchedLists: [list], protectedRooms: [] });
    bot = await runBot(testConfig({ url: hs1.url, accessToken: tyr.accessToken, managementRoom: mgmt }));
  }, 240_000);

  afterAll(async () => {
    await bot?.stop();
    await Promise.all([hs1?.stop(), hs2?.stop()]);
    rmSync(root, { recursive: true, force: true });
  });

  it("unblocks a room its rule took down once the rule is removed; a hand takedown stays", async () => {
    const [member, handMember] = await Promise.all([user(hs1, "member"), user(hs1, "hand-member")]);
    const ruled = await remoteRoomWithLocalMember(member);
    const byHand = await remoteRoomWithLocalMember(handMember);
    await mod.sendText(mgmt, `!tyr autotakedown ${list} on`);
    await mod.waitForNotice(mgmt, tyr.userId, /autoTakedownRooms is on/);

    // A moderator takes one room down by hand; a rule then names it too.
    await mod.sendText(mgmt, `!tyr room takedown ${byHand} --yes`);
    await eventually(async () => !(await joinedRooms(handMember)).includes(byHand), 60_000, "hand takedown");
    await maintainer.setState(list, "m.policy.rule.room", "hand", rule(byHand));

    // The rule takes the other room down: its local member is removed and cannot come back.
    await maintainer.setState(list, "m.policy.rule.room", "ruled", rule(ruled));
    await mod.waitForNotice(mgmt, tyr.userId, /took down 1 room.*a list bans/, 60_000);
    await eventually(async () => !(await joinedRooms(member)).includes(ruled), 60_000, "member removed");
    expect(await joinViaHs2(member, ruled)).toBe("403 This room has been blocked on this server");

    // Both rules go: only the room the rule took down is unblocked.
    await maintainer.setState(list, "m.policy.rule.room", "hand", {});
    await maintainer.setState(list, "m.policy.rule.room", "ruled", {});
    const notice = await mod.waitForNotice(mgmt, tyr.userId, /unblocked 1 room/, 60_000);
    expect(String(notice.content.body)).toContain(ruled);
    expect(String(notice.content.body)).not.toContain(byHand);
    await eventually(async () => (await joinViaHs2(member, ruled)) === "ok", 60_000, "member joins again");
    expect(await joinViaHs2(handMember, byHand)).toBe("403 This room has been blocked on this server");
    const logged = bot.bot.actionLog.query({ about: ruled }).find((r) => r.kind === "unblockRoom");
    expect(logged).toMatchObject({ outcome: "done", room: ruled });
  });
});
