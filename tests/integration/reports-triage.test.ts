// Report triage against a real Synapse: members report a message and a user with the client API;
// Tyr (a server admin) relays each with the reporter's history, and moderators triage by reacting
// to the notice — 🚫 bans through a list (asking which when Tyr can write to two, offering the last
// choice first), 🗑️ redacts, 🔇 mutes, 👢 kicks, ✅ and ⛔ close the report. A non-moderator's
// reaction changes nothing. `reports open|all` list the states, which survive a restart, and the
// action log links each action to its report.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Synapse } from "../harness/synapse.ts";
import { TestUser, eventually, type SeenEvent } from "../harness/user.ts";
import { runBot, testConfig, watchAndProtect, type RunningBot } from "../harness/bot.ts";
import { ActionLog } from "../../src/store/actionLog.ts";

const synapse = Synapse.attach(inject("synapse"));
const enc = encodeURIComponent;

const user = (name: string, admin = false) => TestUser.register(synapse, name, { admin });

describe("report triage by reaction", () => {
  let tyr: TestUser;
  let mod: TestUser;
  let helper: TestUser;
  let reporter: TestUser;
  let mgmt: string;
  let rooms: string[];
  let lists: string[];
  let bot: RunningBot | undefined;
  let dataPath = "";

  const start = async () => {
    const loaded = testConfig({
      url: synapse.url,
      accessToken: tyr.accessToken,
      managementRoom: mgmt,
      ...(dataPath ? { dataPath } : {}),
      extra: { reports: { enabled: true, pollSeconds: 1 } },
    });
    dataPath = loaded.config.dataPath;
    bot = await runBot(loaded);
    // Relaying starts with the first poll: what was filed before it is backlog.
    await eventually(async () => readCursor() !== undefined, 15_000, "the first poll");
  };
  const readCursor = () => {
    try {
      return JSON.parse(readFileSync(join(dataPath, "reports-cursor.json"), "utf8")) as unknown;
    } catch {
      return undefined;
    }
  };
  const react = (u: TestUser, eventId: string, key: string) =>
    u.send(mgmt, { "m.relates_to": { rel_type: "m.annotation", event_id: eventId, key } }, "m.reaction");
  const isEdit = (e: SeenEvent) =>
    (e.content["m.relates_to"] as { rel_type?: string })?.rel_type === "m.replace";
  /** Tyr's first notice (not an edit) matching `re`. */
  const noticeOf = (re: RegExp) =>
    mod.waitFor(
      mgmt,
      (e) =>
        e.sender === tyr.userId &&
        e.type === "m.room.message" &&
        !isEdit(e) &&
        re.test(String(e.content.body)),
      30_000,
      `a notice matching ${String(re)}`,
    );
  /** The text of Tyr's latest edit of `eventId` once it matches `re`. */
  const editOf = async (eventId: string, re: RegExp) => {
    const edit = await mod.waitFor(
      mgmt,
      (e) =>
        isEdit(e) &&
        (e.content["m.relates_to"] as { event_id?: string }).event_id === eventId &&
        re.test(String((e.content["m.new_content"] as { body?: string }).body)),
      30_000,
      `an edit of ${eventId} matching ${String(re)}`,
    );
    return String((edit.content["m.new_content"] as { body?: string }).body);
  };
  const reportEvent = (room: string, eventId: string, reason: string) =>
    reporter.api("POST", `/_matrix/client/v3/rooms/${enc(room)}/report/${enc(eventId)}`, { reason });
  const reportUser = (target: string, reason: string) =>
    reporter.api("POST", `/_matrix/client/v3/users/${enc(target)}/report`, { reason });
  const rulesFor = async (list: string, target: string) => {
    const state = await mod.api<{ type: string; content: Record<string, unknown> }[]>(
      "GET",
      `/_matrix/client/v3/rooms/${enc(list)}/state`,
    );
    return state.filter((e) => e.type === "m.policy.rule.user" && e.content.entity === target);
  };
  const keyOf = (notice: SeenEvent) =>
    /Report ((?:event|user|room)-\d+) by/.exec(String(notice.content.body))![1]!;
  const command = async (text: string, re: RegExp) => {
    const id = await mod.sendText(mgmt, text);
    const reply = await mod.waitForReply(mgmt, tyr.userId, id, `the answer to ${text}`);
    const body = String(reply.content.body);
    expect(body).toMatch(re);
    expect(Buffer.byteLength(JSON.stringify(reply.content))).toBeLessThan(65_536);
    expect(String(reply.content.formatted_body ?? "")).not.toBe("");
    return body;
  };
  const spammerIn = async (name: string) => {
    const u = await user(name);
    for (const r of rooms) await u.join(r);
    return u;
  };

  beforeAll(async () => {
    [tyr, mod, helper, reporter] = await Promise.all([
      user("tyr-triage", true),
      user("mod-triage"),
      user("helper-triage"),
      user("reporter-triage"),
    ]);
    mgmt = await mod.createRoom({ invite: [tyr.userId, helper.userId] });
    await helper.join(mgmt); // a member, but below the command power level
    const protectedRoom = () =>
      mod.createRoom({
        preset: "public_chat",
        invite: [tyr.userId],
        power_level_content_override: { users: { [tyr.userId]: 100 } },
      });
    rooms = [await protectedRoom(), await protectedRoom()];
    const list = (shortcode: string) =>
      mod.createRoom({
        preset: "public_chat",
        creation_content: { type: "m.policy" },
        invite: [tyr.userId],
        power_level_content_override: { users: { [tyr.userId]: 50 } },
        initial_state: [{ type: "org.matrix.mjolnir.shortcode", state_key: "", content: { shortcode } }],
      });
    lists = [await list("alpha"), await list("beta")];
    for (const r of [...rooms, ...lists]) await tyr.join(r);
    for (const r of rooms) await reporter.join(r);
    await watchAndProtect(tyr, { watchedLists: lists, protectedRooms: rooms });
    await start();
  });
  afterAll(async () => {
    await bot?.stop();
  });

  it("relays an event report; 🚫 asks which list, ignores a non-moderator, and bans through the chosen list", async () => {
    const spammer = await spammerIn("spammer-triage");
    await mod.catchUp();
    const spam = await spammer.sendText(rooms[0]!, "buy followers at evil.example");
    await reportEvent(rooms[0]!, spam, "spam links");
    const notice = await noticeOf(/Report event-\d+ by/);
    const body = String(notice.content.body);
    expect(body).toContain(
      `by \`${reporter.userId}\` (their first report) about \`${spammer.userId}\`'s message`,
    );
    expect(body).toContain("buy followers at evil.example");
    expect(body).toContain("React: 🚫 ban");
    const key = keyOf(notice);

    await react(helper, notice.event_id, "🚫"); // not a moderator: ignored
    await react(mod, notice.event_id, "🚫");
    const ask = await noticeOf(/Through which list\?/);
    expect(String(ask.content.body)).toContain("1️⃣ `alpha` · 2️⃣ `beta`");
    expect(String(ask.content.body)).toContain(mod.userId);
    expect(String(ask.content.body)).not.toContain(helper.userId);
    await react(helper, ask.event_id, "2️⃣"); // still not a moderator
    await react(mod, ask.event_id, "2️⃣");
    const edited = await editOf(notice.event_id, /🚫/);
    expect(edited).toContain(
      `🚫 \`${mod.userId}\`: ban through a list. Added ban rule for \`${spammer.userId}\``,
    );
    expect(edited).toContain("Closed: handled.");
    expect(edited).not.toContain(helper.userId);

    const [rule] = await rulesFor(lists[1]!, spammer.userId);
    expect(rule?.content).toMatchObject({
      recommendation: "m.ban",
      reason: `reported abuse (report ${key})`,
    });
    expect(await rulesFor(lists[0]!, spammer.userId)).toEqual([]);
    for (const r of rooms)
      await eventually(
        async () => (await mod.membership(r, spammer.userId)) === "ban",
        30_000,
        "banned everywhere",
      );
    // The action log links the rule write to the report.
    // (read from the store on disk, beside the running bot: SQLite in WAL mode allows it)
    const store = new ActionLog(dataPath);
    const log = store.search({ limit: 500 });
    store.close();
    expect(log).toContainEqual(expect.objectContaining({ kind: "setState", report: key, actor: mod.userId }));
    const shown = await command(
      `!tyr log ${key}`,
      new RegExp(`setState .* by ${mod.userId} \\(for report \`${key}\`\\): done`),
    );
    expect(shown).not.toContain("policy"); // the policy's bans are the rule's doing, not the report's
  });

  it("🗑️ redacts the reported event and 🔇 mutes its sender; a second 🗑️ does not redact again", async () => {
    const spammer = await spammerIn("redacted-triage");
    await mod.catchUp();
    const spam = await spammer.sendText(rooms[1]!, "flood flood flood");
    await reportEvent(rooms[1]!, spam, "flooding");
    const notice = await noticeOf(/Report event-\d+ by/);
    expect(String(notice.content.body)).toContain("(2 reports from them)");
    await react(mod, notice.event_id, "🗑️");
    const edited = await editOf(notice.event_id, /🗑️/);
    expect(edited).toContain(`🗑️ \`${mod.userId}\`: redact. Redacted`);
    const ev = await mod.api<{ content: Record<string, unknown>; unsigned?: { redacted_because?: unknown } }>(
      "GET",
      `/_matrix/client/v3/rooms/${enc(rooms[1]!)}/event/${enc(spam)}`,
    );
    expect(ev.content).toEqual({});
    expect(ev.unsigned?.redacted_because).toBeDefined();

    await react(mod, notice.event_id, "🔇");
    await editOf(notice.event_id, /🔇 .*mute 1h\. Muted/s);
    const pl = await mod.api<{ users?: Record<string, number>; events_default?: number }>(
      "GET",
      `/_matrix/client/v3/rooms/${enc(rooms[1]!)}/state/m.room.power_levels/`,
    );
    expect(pl.users?.[spammer.userId] ?? 0).toBeLessThan(pl.events_default ?? 0);

    await react(mod, notice.event_id, "🗑");
    await mod.waitForNotice(mgmt, tyr.userId, /🗑️ on report .*not done, 🗑️ was already done/);
  });

  it("relays a user report; 👢 kicks, and 🚫 offers the list chosen last time first", async () => {
    const target = await spammerIn("reported-user");
    await mod.catchUp();
    await reportUser(target.userId, "harassing people in DMs");
    const notice = await noticeOf(/Report user-\d+ by/);
    const body = String(notice.content.body);
    expect(body).toContain(`about the user \`${target.userId}\``);
    expect(body).toContain("Reason: harassing people in DMs");
    expect(body).toContain("(3 reports from them)");
    expect(body).not.toContain("🗑️");

    await react(mod, notice.event_id, "👢");
    await editOf(notice.event_id, /👢 .*Kicked/);
    for (const r of rooms) expect(await mod.membership(r, target.userId)).toBe("leave");

    await react(mod, notice.event_id, "🚫");
    const ask = await noticeOf(/Through which list\?/);
    expect(String(ask.content.body)).toContain("1️⃣ `beta` (chosen last time) · 2️⃣ `alpha`");
    await react(mod, ask.event_id, "1️⃣");
    await editOf(notice.event_id, /🚫 .*Added ban rule/);
    expect(await rulesFor(lists[1]!, target.userId)).toHaveLength(1);
  });

  it("✅ and ⛔ close reports; reports open|all list the states, across a restart", async () => {
    const someone = await spammerIn("dismissed-triage");
    await mod.catchUp();
    const a = await someone.sendText(rooms[0]!, "an ordinary message");
    const b = await someone.sendText(rooms[0]!, "another ordinary message");
    await reportEvent(rooms[0]!, a, "i just don't like it");
    const first = await noticeOf(/Report event-\d+ by .*i just don't like it/s);
    await reportEvent(rooms[0]!, b, "still open");
    const second = await noticeOf(/Report event-\d+ by .*still open/s);
    await react(mod, first.event_id, "⛔");
    await editOf(first.event_id, /Closed: a bad report/);

    const open = await command("!tyr reports", /Open reports, newest first/);
    expect(open).toContain(`${keyOf(second)}\` [open]`);
    expect(open).not.toContain(keyOf(first));
    await react(mod, second.event_id, "✅");
    await editOf(second.event_id, /Closed: handled/);
    await command("!tyr reports open", /No open reports \(0 open, \d+ handled, 1 bad\)/);

    await bot!.stop();
    await start();
    const all = await command("!tyr reports all --limit 2", /Reports, newest first/);
    expect(all).toContain(`${keyOf(second)}\` [handled]`);
    expect(all).toContain(`${keyOf(first)}\` [bad report]`);
    expect(all).toContain(`⛔ by \`${mod.userId}\``);
    expect(all).toMatch(/Showing the newest 2; use --limit/);

    // The reporter's history now counts the bad report; a room report is not relayed by this
    // Synapse (it has no admin API for them), and status says so.
    await reporter.api("POST", `/_matrix/client/v3/rooms/${enc(rooms[0]!)}/report`, { reason: "whole room" });
    const c = await someone.sendText(rooms[0]!, "third");
    await reportEvent(rooms[0]!, c, "again");
    const third = await noticeOf(/Report event-\d+ by .*again/s);
    expect(String(third.content.body)).toContain("(6 reports from them, 1 dismissed as bad)");
    await command("!tyr status", /room reports not offered by the homeserver/);
  });

  it("shows an encrypted message as encrypted, and takes no one-click action against a moderator", async () => {
    const sender = await spammerIn("encrypted-sender");
    await mod.catchUp();
    const secret = await sender.send(
      rooms[0]!,
      {
        algorithm: "m.megolm.v1.aes-sha2",
        ciphertext: "AwgAEnAC",
        sender_key: "k",
        session_id: "s",
        device_id: "D",
      },
      "m.room.encrypted",
    );
    await reportEvent(rooms[0]!, secret, "they sent something awful");
    const notice = await noticeOf(/Report event-\d+ by .*something awful/s);
    expect(String(notice.content.body)).toContain("The message is encrypted: the homeserver cannot show it.");

    const modMessage = await mod.sendText(rooms[0]!, "please stay on topic");
    await reportEvent(rooms[0]!, modMessage, "the moderator is mean");
    const against = await noticeOf(/Report event-\d+ by .*the moderator is mean/s);
    await react(mod, against.event_id, "🚫");
    await mod.waitForNotice(mgmt, tyr.userId, /🚫 on report .*not done, .* is Tyr or a moderator/);
    for (const l of lists) expect(await rulesFor(l, mod.userId)).toEqual([]);
  });
});
