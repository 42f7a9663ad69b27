// Room takedown against a real Synapse: a moderator takes a local spam room down through Tyr
// (preview with the room's name and members, nothing before ✅), after which the room is blocked
// (a local account's join is refused with 403) and its local members are gone; `room
// status` reports the block and the deletion. Tyr refuses a protected room and its management
// room, and a Tyr that is not a server admin says so.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Synapse } from "../harness/synapse.ts";
import { TestUser, eventually } from "../harness/user.ts";
import { runBot, testConfig, watchAndProtect, type RunningBot } from "../harness/bot.ts";

const synapse = Synapse.attach(inject("synapse"));

const user = (name: string, admin = false) => TestUser.register(synapse, name, { admin });

const joinedRooms = async (u: TestUser) =>
  (await u.api<{ joined_rooms: string[] }>("GET", "/_matrix/client/v3/joined_rooms")).joined_rooms;

/** How the server answers `u`'s join: "ok", or the HTTP status and error. Synapse refuses a
 *  blocked room with 403 and errcode M_UNKNOWN (not M_FORBIDDEN), so the message tells them apart. */
async function joinOutcome(u: TestUser, room: string): Promise<string> {
  try {
    await u.join(room);
    return "ok";
  } catch (e) {
    const err = e as { status?: number; body?: { error?: string } };
    return `${err.status} ${err.body?.error ?? String(e)}`;
  }
}

describe("room takedown", () => {
  let tyr: TestUser;
  let mod: TestUser;
  let mgmt: string;
  let maintainer: TestUser;
  let list: string;
  let protectedRoom: string;
  let bot: RunningBot | undefined;

  const command = async (text: string, answer: RegExp) => {
    await mod.sendText(mgmt, text);
    return mod.waitForNotice(mgmt, tyr.userId, answer);
  };

  beforeAll(async () => {
    [tyr, mod, maintainer] = await Promise.all([
      user("tyr-takedown", true),
      user("mod-takedown"),
      user("maint-takedown"),
    ]);
    list = await maintainer.createRoom({
      preset: "public_chat",
      creation_content: { type: "m.policy" },
      initial_state: [{ type: "org.matrix.mjolnir.shortcode", state_key: "", content: { shortcode: "td" } }],
    });
    await tyr.join(list);
    mgmt = await mod.createRoom({ invite: [tyr.userId] });
    protectedRoom = await mod.createRoom({
      preset: "public_chat",
      invite: [tyr.userId],
      power_level_content_override: { users: { [tyr.userId]: 100 } },
    });
    await tyr.join(protectedRoom);
    await watchAndProtect(tyr, { watchedLists: [list], protectedRooms: [protectedRoom] });
    bot = await runBot(testConfig({ url: synapse.url, accessToken: tyr.accessToken, managementRoom: mgmt }));
  });
  afterAll(async () => {
    await bot?.stop();
  });

  it("previews, then after ✅ blocks the room and removes its local members", async () => {
    const [spammer, member, latecomer] = await Promise.all([
      user("td-spammer"),
      user("td-member"),
      user("td-late"),
    ]);
    const room = await spammer.createRoom({ preset: "public_chat", name: "Free crypto" });
    await member.join(room);
    await mod.catchUp();

    const preview = await command(`!tyr room takedown ${room} spam room`, /Take down /);
    const body = String(preview.content.body);
    expect(body).toMatch(/“Free crypto”.*2 members, 2 of them on /);
    expect(body).toContain(spammer.userId);
    expect(body).toContain(member.userId);
    expect(await joinedRooms(member)).toContain(room); // nothing before the ✅

    await mod.send(
      mgmt,
      { "m.relates_to": { rel_type: "m.annotation", event_id: preview.event_id, key: "✅" } },
      "m.reaction",
    );
    await mod.waitForNotice(mgmt, tyr.userId, /^Taking down .*2 local members/);
    await eventually(
      async () => !(await joinedRooms(member)).includes(room) && !(await joinedRooms(spammer)).includes(room),
      60_000,
      "the local members removed",
    );
    expect(await joinOutcome(latecomer, room)).toBe("403 This room has been blocked on this server");
    expect(await joinOutcome(member, room)).toBe("403 This room has been blocked on this server");

    await eventually(
      async () => {
        await mod.catchUp();
        await mod.sendText(mgmt, `!tyr room status ${room}`);
        const s = await mod.waitForNotice(mgmt, tyr.userId, /blocked/);
        return /complete, 2 local members removed/.test(String(s.content.body)) ? s : undefined;
      },
      60_000,
      "room status: complete",
    ).then((s) => expect(String(s.content.body)).toMatch(/is blocked on this server \(by .*tyr-takedown/));

    const logged = bot!.bot.actionLog.query({ about: room }).find((r) => r.kind === "takedownRoom");
    expect(logged).toMatchObject({ actor: mod.userId, outcome: "done", reason: "spam room" });
  });

  it("--purge deletes the room from the server's database too", async () => {
    const owner = await user("td-purged");
    const room = await owner.createRoom({ preset: "public_chat", name: "Purge me" });
    await mod.catchUp();
    await command(`!tyr room takedown ${room} --purge --yes abuse`, /^Taking down .*and purging it/);
    await eventually(
      async () => {
        await mod.catchUp();
        await mod.sendText(mgmt, `!tyr room status ${room}`);
        const s = await mod.waitForNotice(mgmt, tyr.userId, /blocked/);
        return /is blocked on this server.*complete, 1 local member removed/s.test(String(s.content.body));
      },
      60_000,
      "room status: purged",
    );
    const details = await fetch(`${synapse.url}/_synapse/admin/v1/rooms/${encodeURIComponent(room)}`, {
      headers: { authorization: `Bearer ${tyr.accessToken}` },
    });
    expect(details.status).toBe(404); // purged: the server no longer knows the room
    expect(await joinOutcome(owner, room)).toBe("403 This room has been blocked on this server");
  });

  it("refuses a protected room and the management room; status of an untouched room", async () => {
    await mod.catchUp();
    await command(`!tyr room takedown ${protectedRoom} --yes`, /Not taking down .*protects .*--force/);
    await command(`!tyr room takedown ${mgmt} --yes --force`, /Not taking down .*management room/);
    expect(await joinedRooms(mod)).toContain(protectedRoom);
    await command(`!tyr room status ${protectedRoom}`, /is not blocked on this server.*No deletion/s);
  });

  it("autotakedown: a room rule of the list takes the room down; never a protected room", async () => {
    const [owner, member, latecomer] = await Promise.all([
      user("td-ruled"),
      user("td-ruled-member"),
      user("td-ruled-late"),
    ]);
    const room = await owner.createRoom({ preset: "public_chat", name: "Listed room" });
    await member.join(room);
    await mod.catchUp();
    await command("!tyr autotakedown td on", /autoTakedownRooms is on/);
    await command("!tyr lists", /autoTakedownRooms on/);
    await command("!tyr status", /Room takedown by rules.*on for/);

    const rule = (entity: string) => ({ entity, recommendation: "m.ban", reason: "spam room" });
    await maintainer.setState(list, "m.policy.rule.room", "spam", rule(room));
    await mod.waitForNotice(mgmt, tyr.userId, /took down 1 room.*a list bans/, 60_000);
    await eventually(
      async () => !(await joinedRooms(member)).includes(room) && !(await joinedRooms(owner)).includes(room),
      60_000,
      "the listed room's local members removed",
    );
    expect(await joinOutcome(latecomer, room)).toBe("403 This room has been blocked on this server");
    const logged = bot!.bot.actionLog.query({ about: room }).find((r) => r.kind === "takedownRoom");
    expect(logged).toMatchObject({ outcome: "done", reason: "spam room", list });

    await maintainer.setState(list, "m.policy.rule.room", "protected", rule(protectedRoom));
    await mod.waitForNotice(mgmt, tyr.userId, /does not take it down on its own: it is a room Tyr protects/);
    expect(await joinedRooms(mod)).toContain(protectedRoom);

    await command("!tyr autotakedown td off", /autoTakedownRooms is off/);
    await command("!tyr autotakedown td", /autoTakedownRooms is off for/);
  });

  it("says clearly when Tyr is not a server admin", async () => {
    const plain = await user("tyr-plain-takedown");
    const mgmt2 = await mod.createRoom({ invite: [plain.userId] });
    const other = await runBot(
      testConfig({ url: synapse.url, accessToken: plain.accessToken, managementRoom: mgmt2 }),
    );
    try {
      const owner = await user("td-owner");
      const room = await owner.createRoom({ preset: "public_chat" });
      await mod.sendText(mgmt2, `!tyr room takedown ${room} --yes`);
      await mod.waitForNotice(mgmt2, plain.userId, /is not a server admin/);
      await mod.sendText(mgmt2, `!tyr room status ${room}`);
      await mod.waitForNotice(mgmt2, plain.userId, /status failed: .*is not a server admin/);
      expect(await joinedRooms(owner)).toContain(room);
    } finally {
      await other.stop();
    }
  });
});
