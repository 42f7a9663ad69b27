// Rooms Tyr is invited to, against a real Synapse: a moderator's invite gets a prompt in the
// management room; a moderator's ✅ joins and protects the room (a non-moderator's reaction does
// nothing), ❌ declines the invite; an invite from someone who is not a moderator gets no prompt
// and Tyr stays out. With protectAllJoinedRooms Tyr protects every room it is in, and joins
// moderators' invites without asking.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Synapse } from "../harness/synapse.ts";
import { TestUser, eventually } from "../harness/user.ts";
import { runBot, testConfig, type RunningBot } from "../harness/bot.ts";

const synapse = Synapse.attach(inject("synapse"));

const user = (name: string) => TestUser.register(synapse, name);

/** The rooms in Tyr's protected-rooms account data. */
async function protectedRooms(tyr: TestUser): Promise<string[]> {
  const path = `/_matrix/client/v3/user/${encodeURIComponent(tyr.userId)}/account_data/org.matrix.mjolnir.protected_rooms`;
  return (await tyr.api<{ rooms?: string[] }>("GET", path).catch(() => ({ rooms: [] }))).rooms ?? [];
}

describe("rooms Tyr is invited to", () => {
  let tyr: TestUser;
  let mod: TestUser;
  let outsider: TestUser;
  let mgmt: string;
  let bot: RunningBot | undefined;

  beforeAll(async () => {
    [tyr, mod, outsider] = await Promise.all([user("tyr-invites"), user("mod-invites"), user("outsider")]);
    mgmt = await mod.createRoom({ invite: [tyr.userId, outsider.userId] });
    await outsider.join(mgmt); // a member of the management room, but below command power
    bot = await runBot(testConfig({ url: synapse.url, accessToken: tyr.accessToken, managementRoom: mgmt }));
  });
  afterAll(async () => {
    await bot?.stop();
  });

  it("a moderator's invite: prompt, a non-moderator's ✅ ignored, the moderator's ✅ protects", async () => {
    const room = await mod.createRoom({ preset: "public_chat", name: "Community" });
    await mod.catchUp();
    await mod.invite(room, tyr.userId);
    const prompt = await mod.waitForNotice(mgmt, tyr.userId, /invited Tyr to .*Protect it\?/);
    // The room's name comes from the invite (Tyr cannot read the room before joining it).
    expect(String(prompt.content.body)).toContain(`invited Tyr to \`Community\` (\`${room}\`)`);
    expect(await mod.membership(room, tyr.userId)).toBe("invite"); // nothing before the answer
    await outsider.react(mgmt, prompt.event_id, "✅"); // not a moderator: ignored
    await mod.react(mgmt, prompt.event_id, "✅");
    const outcome = await mod.waitForNotice(mgmt, tyr.userId, /chose ✅: Tyr joined it and protects it now/);
    expect(String(outcome.content.body)).toContain(mod.userId);
    expect(String(outcome.content.body)).not.toContain(outsider.userId);
    expect(await mod.membership(room, tyr.userId)).toBe("join");
    expect(await protectedRooms(tyr)).toContain(room);
  });

  it("❌ declines the invite", async () => {
    const room = await mod.createRoom({ preset: "public_chat" });
    await mod.catchUp();
    await mod.invite(room, tyr.userId);
    const prompt = await mod.waitForNotice(mgmt, tyr.userId, /invited Tyr to .*Protect it\?/);
    await mod.react(mgmt, prompt.event_id, "❌");
    await mod.waitForNotice(mgmt, tyr.userId, /chose ❌: invite declined/);
    expect(await mod.membership(room, tyr.userId)).toBe("leave");
    expect(await protectedRooms(tyr)).not.toContain(room);
  });

  it("an invite from someone who is not a moderator: no prompt, Tyr stays out (logged)", async () => {
    const stranger = await user("stranger");
    const theirs = await stranger.createRoom({ preset: "public_chat" });
    const byOutsider = await outsider.createRoom({ preset: "public_chat" });
    await mod.catchUp();
    await stranger.invite(theirs, tyr.userId);
    await outsider.invite(byOutsider, tyr.userId);
    // A moderator's invite after them: its prompt is the first one Tyr posts.
    const modRoom = await mod.createRoom({ preset: "public_chat" });
    await mod.invite(modRoom, tyr.userId);
    const prompt = await mod.waitForNotice(mgmt, tyr.userId, /invited Tyr to/);
    expect(String(prompt.content.body)).toContain(modRoom);
    const notices = (mod.seen.get(mgmt) ?? [])
      .filter((e) => e.sender === tyr.userId)
      .map((e) => JSON.stringify(e.content));
    expect(notices.join("\n")).not.toContain(theirs);
    expect(notices.join("\n")).not.toContain(byOutsider);
    expect(await stranger.membership(theirs, tyr.userId)).toBe("invite");
    const ignored = bot!.logs.filter((l) => l.msg === "not acting on an invite").map((l) => l.roomId);
    expect(ignored).toEqual(expect.arrayContaining([theirs, byOutsider]));
    const why = bot!.logs.find((l) => l.roomId === byOutsider && l.msg === "not acting on an invite");
    expect(String(why?.why)).toMatch(/not a moderator .*below the command power level/);
  });

  it("protectAllJoinedRooms: every joined room is protected, and moderators' invites are joined at once", async () => {
    const tyr2 = await user("tyr-protect-all");
    const mgmt2 = await mod.createRoom({ invite: [tyr2.userId] });
    const joinedBefore = await mod.createRoom({ preset: "public_chat", invite: [tyr2.userId] });
    await tyr2.join(joinedBefore);
    await mod.catchUp();
    const other = await runBot(
      testConfig({
        url: synapse.url,
        accessToken: tyr2.accessToken,
        managementRoom: mgmt2,
        extra: { protectAllJoinedRooms: true },
      }),
    );
    try {
      await mod.waitForNotice(
        mgmt2,
        tyr2.userId,
        (b) => b.includes("protectAllJoinedRooms") && b.includes(joinedBefore),
      );
      expect(await protectedRooms(tyr2)).toContain(joinedBefore);
      expect(await protectedRooms(tyr2)).not.toContain(mgmt2);

      const invitedTo = await mod.createRoom({ preset: "public_chat" });
      await mod.invite(invitedTo, tyr2.userId);
      await mod.waitForNotice(
        mgmt2,
        tyr2.userId,
        (b) => b.includes(`invited Tyr to`) && b.includes(invitedTo),
      );
      await eventually(async () => (await protectedRooms(tyr2)).includes(invitedTo), 30_000, "protected");
      expect(await mod.membership(invitedTo, tyr2.userId)).toBe("join");
    } finally {
      await other.stop();
    }
  });
});
