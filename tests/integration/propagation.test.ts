// Bans made by hand, against a real Synapse: a moderator bans a spammer in one protected room from
// their own client; Tyr asks in the management room whether to add the ban to a list; a
// non-moderator's reaction changes nothing, a moderator's writes the rule (same reason), and the
// policy sync then bans the spammer in the other protected room too. Bans Tyr made itself, or that
// a rule already covers, get no prompt.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Synapse } from "../harness/synapse.ts";
import { TestUser, eventually, type SeenEvent } from "../harness/user.ts";
import { runBot, testConfig, watchAndProtect, type RunningBot } from "../harness/bot.ts";

const synapse = Synapse.attach(inject("synapse"));
const enc = encodeURIComponent;

const user = (name: string) => TestUser.register(synapse, name);

describe("ban propagation", () => {
  let tyr: TestUser;
  let mod: TestUser;
  let helper: TestUser;
  let mgmt: string;
  let list: string;
  let rooms: string[];
  let bot: RunningBot | undefined;

  const react = (u: TestUser, eventId: string, key: string) =>
    u.send(mgmt, { "m.relates_to": { rel_type: "m.annotation", event_id: eventId, key } }, "m.reaction");
  const ban = (room: string, target: string, reason: string) =>
    mod.api("POST", `/_matrix/client/v3/rooms/${enc(room)}/ban`, { user_id: target, reason });
  const prompts = (): SeenEvent[] =>
    (mod.seen.get(mgmt) ?? []).filter(
      (e) =>
        e.sender === tyr.userId &&
        e.type === "m.room.message" &&
        e.content["m.new_content"] === undefined &&
        /Add to/.test(String(e.content.body)),
    );
  /** The new text of Tyr's edit of a prompt. */
  const promptEdit = async (promptId: string) => {
    const edit = await mod.waitFor(
      mgmt,
      (e) =>
        e.type === "m.room.message" &&
        (e.content["m.relates_to"] as { rel_type?: string; event_id?: string })?.event_id === promptId,
      30_000,
      "the prompt edited",
    );
    return String((edit.content["m.new_content"] as { body?: string }).body);
  };
  const rulesFor = async (target: string) => {
    const state = await mod.api<{ type: string; content: Record<string, unknown> }[]>(
      "GET",
      `/_matrix/client/v3/rooms/${enc(list)}/state`,
    );
    return state.filter((e) => e.type === "m.policy.rule.user" && e.content.entity === target);
  };

  beforeAll(async () => {
    [tyr, mod, helper] = await Promise.all([user("tyr-prop"), user("mod-prop"), user("helper-prop")]);
    mgmt = await mod.createRoom({ invite: [tyr.userId, helper.userId] });
    await helper.join(mgmt); // a member, but below the command power level
    const protectedRoom = () =>
      mod.createRoom({
        preset: "public_chat",
        invite: [tyr.userId],
        power_level_content_override: { users: { [tyr.userId]: 100 } },
      });
    rooms = [await protectedRoom(), await protectedRoom()];
    list = await mod.createRoom({
      preset: "public_chat",
      creation_content: { type: "m.policy" },
      invite: [tyr.userId],
      power_level_content_override: { users: { [tyr.userId]: 50 } },
      initial_state: [
        { type: "org.matrix.mjolnir.shortcode", state_key: "", content: { shortcode: "hand" } },
      ],
    });
    for (const r of [...rooms, list]) await tyr.join(r);
    await watchAndProtect(tyr, { watchedLists: [list], protectedRooms: rooms });
    bot = await runBot(testConfig({ url: synapse.url, accessToken: tyr.accessToken, managementRoom: mgmt }));
  });
  afterAll(async () => {
    await bot?.stop();
  });

  it("turns a hand ban into a list rule on a moderator's reaction, not on anyone else's", async () => {
    const spammer = await user("hand-banned");
    for (const r of rooms) await spammer.join(r);
    await mod.catchUp();
    await ban(rooms[0]!, spammer.userId, "spam links");
    const prompt = await mod.waitForNotice(mgmt, tyr.userId, /banned .* Add to/);
    const body = String(prompt.content.body);
    expect(body).toContain(`${mod.userId}\` banned \`${spammer.userId}`);
    expect(body).toContain("(spam links)");
    expect(body).toContain("1️⃣ `hand`");
    // Tyr offers the reactions itself.
    await mod.waitFor(
      mgmt,
      (e) =>
        e.type === "m.reaction" &&
        e.sender === tyr.userId &&
        (e.content["m.relates_to"] as { key?: string })?.key === "❌",
    );

    await react(helper, prompt.event_id, "1️⃣"); // not a moderator: ignored
    await react(mod, prompt.event_id, "1️⃣");
    const outcome = await promptEdit(prompt.event_id);
    expect(outcome).toContain(`${mod.userId}\` added the ban to \`hand\``);
    expect(outcome).not.toContain(helper.userId);

    const [rule] = await rulesFor(spammer.userId);
    expect(rule?.content).toMatchObject({ recommendation: "m.ban", reason: "spam links" });
    await eventually(
      async () => (await mod.membership(rooms[1]!, spammer.userId)) === "ban",
      30_000,
      "banned in the second room",
    );
  });

  it("asks nothing about bans Tyr made or that a rule covers, and ❌ keeps a ban local", async () => {
    const covered = await user("rule-covered");
    const local = await user("kept-local");
    for (const u of [covered, local]) for (const r of rooms) await u.join(r);
    await mod.catchUp();
    await mod.sendText(mgmt, `!tyr ban hand ${covered.userId} known spammer`);
    for (const r of rooms)
      await eventually(async () => (await mod.membership(r, covered.userId)) === "ban", 30_000, "Tyr's bans");

    await ban(rooms[1]!, local.userId, "off-topic");
    const prompt = await mod.waitForNotice(mgmt, tyr.userId, /banned .* Add to/);
    expect(String(prompt.content.body)).toContain(local.userId);
    expect(prompts().filter((p) => String(p.content.body).includes(covered.userId))).toEqual([]);
    await react(mod, prompt.event_id, "❌");
    await promptEdit(prompt.event_id);
    expect(await rulesFor(local.userId)).toEqual([]);
    expect(await mod.membership(rooms[0]!, local.userId)).toBe("join");
  });

  it("asks nothing about the bans a room already had when it became protected", async () => {
    const old = await user("banned-long-ago");
    const fresh = await user("banned-just-now");
    const room = await mod.createRoom({
      preset: "public_chat",
      invite: [tyr.userId],
      power_level_content_override: { users: { [tyr.userId]: 100 } },
    });
    for (const u of [old, fresh]) await u.join(room);
    await ban(room, old.userId, "history");
    await mod.catchUp();
    await mod.sendText(mgmt, `!tyr rooms add ${room}`);
    await mod.waitForNotice(mgmt, tyr.userId, /^Protecting /);
    await eventually(
      async () => bot!.bot.state.peek(room)?.membership(tyr.userId) === "join",
      30_000,
      "Tyr in the room",
    );
    await ban(room, fresh.userId, "news");
    const prompt = await mod.waitForNotice(mgmt, tyr.userId, /banned .* Add to/);
    expect(String(prompt.content.body)).toContain(fresh.userId);
    expect(prompts().filter((p) => String(p.content.body).includes(old.userId))).toEqual([]);
  });

  it("adds nothing when the ban was lifted before the reaction", async () => {
    const forgiven = await user("forgiven");
    await forgiven.join(rooms[0]!);
    await mod.catchUp();
    await ban(rooms[0]!, forgiven.userId, "mistake");
    const prompt = await mod.waitForNotice(mgmt, tyr.userId, /banned .* Add to/);
    await mod.api("POST", `/_matrix/client/v3/rooms/${enc(rooms[0]!)}/unban`, { user_id: forgiven.userId });
    await eventually(
      async () => bot!.bot.state.peek(rooms[0]!)?.membership(forgiven.userId) === "leave",
      30_000,
      "Tyr seeing the unban",
    );
    await react(mod, prompt.event_id, "1️⃣");
    expect(await promptEdit(prompt.event_id)).toMatch(/no longer banned/);
    expect(await rulesFor(forgiven.userId)).toEqual([]);
  });
});
