// The core moderation commands end to end: a moderator types a command in the management room,
// and the test checks the room state on the real homeserver afterwards.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Synapse } from "../harness/synapse.ts";
import { TestUser, eventually, type SeenEvent } from "../harness/user.ts";
import { runBot, testConfig, type RunningBot } from "../harness/bot.ts";

const info = inject("synapse");
const synapse = Synapse.attach(info);
const enc = encodeURIComponent;
const tag = Date.now().toString(36);

const user = (name: string) => TestUser.register(synapse, name);

type PowerLevels = { users?: Record<string, number>; events_default?: number };

describe("moderation commands", () => {
  let bot: RunningBot;
  let tyr: TestUser;
  let mod: TestUser;
  let mod2: TestUser;
  let mgmt: string;
  let roomA: string;
  let roomB: string;
  let dataPath: string;
  const aliasA = `cmd-a-${tag}`;

  const start = async () => {
    bot = await runBot(
      testConfig({ url: synapse.url, accessToken: tyr.accessToken, managementRoom: mgmt, dataPath }),
    );
  };
  const relatesTo = (ev: SeenEvent) =>
    (ev.content["m.relates_to"] ?? {}) as {
      rel_type?: string;
      event_id?: string;
      "m.in_reply_to"?: { event_id?: string };
    };
  /** Sends a command as `who` and returns its event ID. */
  const send = async (text: string, who: TestUser = mod) => {
    await who.catchUp();
    return who.sendText(mgmt, text);
  };
  /** The bot's notice answering `cmd`, with a body matching `match`. */
  const reply = (cmd: string, match: RegExp, timeoutMs = 30_000) =>
    mod.waitFor(
      mgmt,
      (ev) =>
        ev.sender === tyr.userId &&
        ev.type === "m.room.message" &&
        relatesTo(ev)["m.in_reply_to"]?.event_id === cmd &&
        match.test(String(ev.content.body ?? "")),
      timeoutMs,
      `a reply to ${cmd} matching ${String(match)}`,
    );
  const run = async (text: string, match: RegExp, timeoutMs?: number) =>
    reply(await send(text), match, timeoutMs);
  const react = (eventId: string, who: TestUser) =>
    who.send(
      mgmt,
      { "m.relates_to": { rel_type: "m.annotation", event_id: eventId, key: "✅" } },
      "m.reaction",
    );
  const botSees = (room: string, u: string, membership = "join") =>
    eventually(
      async () => bot.bot.state.peek(room)?.membership(u) === membership,
      15_000,
      `Tyr to see ${u} ${membership} in ${room}`,
    );
  /** A public room of the moderator's that Tyr joined with power 100 (not protected). */
  const roomWithTyr = async () => {
    const room = await mod.createRoom({
      preset: "public_chat",
      invite: [tyr.userId],
      power_level_content_override: { users: { [tyr.userId]: 100 } },
    });
    await tyr.join(room);
    return room;
  };
  const levels = async (room: string) => (await mod.getState<PowerLevels>(room, "m.room.power_levels")) ?? {};

  beforeAll(async () => {
    tyr = await user("tyr");
    mod = await user("mod");
    mod2 = await user("mod2");
    mgmt = await mod.createRoom({
      invite: [tyr.userId, mod2.userId],
      power_level_content_override: { users: { [mod2.userId]: 50 } },
    });
    await mod2.join(mgmt);
    // Room version 12: the creator (mod) has unlimited power and is not listed; Tyr gets 100.
    const protectedRoom = (extra: Record<string, unknown> = {}) =>
      mod.createRoom({
        preset: "public_chat",
        invite: [tyr.userId],
        power_level_content_override: { users: { [tyr.userId]: 100 } },
        ...extra,
      });
    roomA = await protectedRoom({ room_alias_name: aliasA });
    roomB = await protectedRoom();
    for (const r of [roomA, roomB]) await tyr.join(r);
    await mod2.join(roomA);
    await tyr.api(
      "PUT",
      `/_matrix/client/v3/user/${enc(tyr.userId)}/account_data/org.matrix.mjolnir.protected_rooms`,
      { rooms: [roomA, roomB] },
    );
    const loaded = testConfig({ url: synapse.url, accessToken: tyr.accessToken, managementRoom: mgmt });
    dataPath = loaded.config.dataPath;
    bot = await runBot(loaded);
    await botSees(mgmt, mod2.userId);
  });
  afterAll(async () => {
    await bot?.stop();
  });

  it("kick removes a user from every protected room they are in, with the reason", async () => {
    const spammer = await user("kickme");
    for (const r of [roomA, roomB]) await spammer.join(r);
    await botSees(roomB, spammer.userId);
    await run(`!tyr kick ${spammer.userId} posting <b>spam</b>`, /Kicked .*2 kicks in 2 rooms/);
    for (const r of [roomA, roomB]) {
      const m = await mod.getState<{ membership?: string; reason?: string }>(
        r,
        "m.room.member",
        spammer.userId,
      );
      expect(m).toMatchObject({ membership: "leave", reason: "posting <b>spam</b>" });
    }
    // the action log has it, attributed to the moderator
    const log = await run(`!tyr log ${spammer.userId}`, /actions? about/);
    expect(log.content.body).toMatch(new RegExp(`kick .*${spammer.userId}.* by ${mod.userId}: done`));
    expect(String(log.content.formatted_body)).not.toContain("<b>spam</b>");
  });

  it("never kicks a moderator or Tyr itself", async () => {
    const cmd = await send(`!tyr kick ${mod2.userId} --room ${roomA}`);
    await reply(cmd, /a moderator/);
    expect(await mod.membership(roomA, mod2.userId)).toBe("join");
    await run(`!tyr kick ${tyr.userId}`, /Tyr itself/);
    expect(await mod.membership(roomA, tyr.userId)).toBe("join");
  });

  it("a glob kick asks first and runs only after ✅ from the same moderator", async () => {
    const name = `gk${tag}`;
    const victims = await Promise.all([1, 2, 3, 4, 5].map(() => user(name)));
    const bystander = await user(`other${tag}`);
    for (const v of [...victims, bystander]) await v.join(roomA);
    for (const v of victims) await botSees(roomA, v.userId);
    const preview = await run(`!tyr kick @${name}-*:${info.serverName} raid`, /Kick 5 users matching/);
    expect(preview.content.body).toContain("1 room");
    for (const v of victims) expect(preview.content.body).toContain(v.userId);

    // another moderator's ✅ does not run it
    await react(preview.event_id, mod2);
    await mod.sendText(mgmt, "!tyr status"); // a later command proves the reaction was processed
    await mod.waitForNotice(mgmt, tyr.userId, /Tyr status/);
    await new Promise((r) => setTimeout(r, 1_000));
    for (const v of victims) expect(await mod.membership(roomA, v.userId)).toBe("join");

    await react(preview.event_id, mod);
    await eventually(
      async () =>
        (await Promise.all(victims.map((v) => mod.membership(roomA, v.userId)))).every((m) => m === "leave"),
      30_000,
      "every matching user kicked",
    );
    expect(await mod.membership(roomA, bystander.userId)).toBe("join");
    expect(await mod.membership(roomA, mod2.userId)).toBe("join");
  });

  it("since lists and bans who joined in the window, not a veteran who just renamed", async () => {
    const roomC = await roomWithTyr();
    const veteran = await user(`vet${tag}`);
    const raiders = await Promise.all([1, 2, 3].map(() => user(`raid${tag}`)));
    await veteran.join(roomC);
    await botSees(roomC, veteran.userId);
    await new Promise((r) => setTimeout(r, 10_000));
    // A new display name is a join → join member event: not a new stay.
    await veteran.api(
      "PUT",
      `/_matrix/client/v3/rooms/${enc(roomC)}/state/m.room.member/${enc(veteran.userId)}`,
      { membership: "join", displayname: "Renamed Veteran" },
    );
    for (const r of raiders) await r.join(roomC);
    const spam = await Promise.all(raiders.map((r) => r.sendText(roomC, "raid spam")));
    const ham = await veteran.sendText(roomC, "hello, I have been here for ages");
    for (const r of raiders) await botSees(roomC, r.userId);
    await eventually(
      async () => bot.bot.state.peek(roomC)?.displayName(veteran.userId) === "Renamed Veteran",
      15_000,
      "Tyr to see the new display name",
    );

    // After a restart Tyr's first sync has only the current member event: Synapse's
    // unsigned.prev_content is what tells this rename from a join (RoomState.trackJoin).
    const filter = JSON.stringify({ room: { rooms: [roomC], timeline: { limit: 0 } } });
    const sync = await tyr.api<{
      rooms: { join: Record<string, { state: { events: { state_key?: string; unsigned?: unknown }[] } }> };
    }>("GET", `/_matrix/client/v3/sync?full_state=true&filter=${enc(filter)}`);
    const current = sync.rooms.join[roomC]?.state.events.find((e) => e.state_key === veteran.userId);
    expect(current?.unsigned).toMatchObject({ prev_content: { membership: "join" } });

    const shown = await run(`!tyr since 10s show --room ${roomC}`, /3 users joined/);
    for (const r of raiders) expect(shown.content.body).toContain(r.userId);
    expect(shown.content.body).not.toContain(veteran.userId);

    const preview = await run(`!tyr since 10s ban --redact --room ${roomC} raid`, /Ban 3 users who joined/);
    expect(preview.content.body).toContain("recent messages in those rooms are removed too");
    expect(preview.content.body).not.toContain(veteran.userId);
    await react(preview.event_id, mod);
    await eventually(
      async () =>
        (await Promise.all(raiders.map((r) => mod.membership(roomC, r.userId)))).every((m) => m === "ban"),
      30_000,
      "every raider banned",
    );
    const ban = await mod.getState<{ reason?: string }>(roomC, "m.room.member", raiders[0]!.userId);
    expect(ban?.reason).toBe("raid");
    const redacted = async (eventId: string) =>
      (
        await mod.api<{ unsigned?: { redacted_because?: unknown } }>(
          "GET",
          `/_matrix/client/v3/rooms/${enc(roomC)}/event/${enc(eventId)}`,
        )
      ).unsigned?.redacted_because !== undefined;
    await eventually(
      async () => (await Promise.all(spam.map(redacted))).every(Boolean),
      30_000,
      "the raiders' messages redacted",
    );
    expect(await redacted(ham)).toBe(false);
    expect(await mod.membership(roomC, veteran.userId)).toBe("join");
    expect(await mod.membership(roomC, mod.userId)).toBe("join");
    // The raiders are banned now; the veteran joined long before the last 5 seconds.
    await run(`!tyr since 5s kick --room ${roomC}`, /Nobody joined/);
  });

  it("since … mute silences the recent joiners for a while, with --yes", async () => {
    const roomD = await roomWithTyr();
    const newcomers = await Promise.all([1, 2].map(() => user(`newcomer${tag}`)));
    for (const n of newcomers) await n.join(roomD);
    for (const n of newcomers) await botSees(roomD, n.userId);
    await run(`!tyr since 1m mute --for 1h --room ${roomD} --yes watching`, /Muted 2 users .*for 1h/);
    const pl = await levels(roomD);
    for (const n of newcomers) expect(pl.users?.[n.userId]).toBeLessThan(pl.events_default ?? 0);
    expect(pl.users?.[tyr.userId]).toBe(100);
    // Their unmutes are scheduled (kept in the data directory across restarts).
    const schedule = readFileSync(join(dataPath, "scheduled-consequences.json"), "utf8");
    for (const n of newcomers) expect(schedule).toContain(n.userId);
    await run(`!tyr since 1m kick --for 1h --room ${roomD}`, /--for goes with mute/);
  });

  it("redact removes a user's messages with a progress message, and never redacts an event twice", async () => {
    const spammer = await user("redactme");
    for (const r of [roomA, roomB]) await spammer.join(r);
    const inA: string[] = [];
    for (let i = 0; i < 12; i++) inA.push(await spammer.sendText(roomA, `spam ${i}`));
    const inB = [await spammer.sendText(roomB, "spam b1"), await spammer.sendText(roomB, "spam b2")];
    const keep = await mod.sendText(roomA, "a moderator's message stays");
    await botSees(roomB, spammer.userId);

    const cmd = await send(`!tyr redact ${spammer.userId} spam`);
    const progress = await reply(cmd, /Redacting 14 messages/);
    const edit = await mod.waitFor(
      mgmt,
      (ev) =>
        ev.sender === tyr.userId &&
        relatesTo(ev).rel_type === "m.replace" &&
        relatesTo(ev).event_id === progress.event_id &&
        /Redacted 14 messages/.test(String((ev.content["m.new_content"] as { body?: string })?.body)),
      30_000,
      "the progress message edited to the result",
    );
    expect(edit.content["m.new_content"]).toMatchObject({ msgtype: "m.notice" });

    const redacted = async (room: string, id: string) => {
      const ev = await mod.api<{ content: Record<string, unknown> }>(
        "GET",
        `/_matrix/client/v3/rooms/${enc(room)}/event/${enc(id)}`,
      );
      return Object.keys(ev.content).length === 0;
    };
    for (const id of inA) expect(await redacted(roomA, id)).toBe(true);
    for (const id of inB) expect(await redacted(roomB, id)).toBe(true);
    expect(await redacted(roomA, keep)).toBe(false);

    // again: nothing left to do
    await run(`!tyr redact ${spammer.userId}`, /Found no messages/);
    // one message by its link: already redacted by Tyr, so left alone
    await run(`!tyr redact https://matrix.to/#/${roomA}/${inA[0]}`, /already redacted/);
    // a fresh message by its link
    const fresh = await spammer.sendText(roomA, "one more");
    await run(`!tyr redact https://matrix.to/#/${roomA}/${fresh}`, /Redacted/);
    expect(await redacted(roomA, fresh)).toBe(true);

    // exactly one redaction event per message
    const res = await mod.api<{ chunk: { content: { redacts?: string }; redacts?: string }[] }>(
      "GET",
      `/_matrix/client/v3/rooms/${enc(roomA)}/messages?dir=b&limit=200&filter=${enc(JSON.stringify({ types: ["m.room.redaction"] }))}`,
    );
    const counts = new Map<string, number>();
    for (const ev of res.chunk) {
      const target = ev.content.redacts ?? ev.redacts;
      if (target) counts.set(target, (counts.get(target) ?? 0) + 1);
    }
    for (const id of [...inA, fresh]) expect(counts.get(id)).toBe(1);
  });

  it("powerlevel sets levels, confirms a raise to Tyr's own level, and refuses above it", async () => {
    const helper = await user("helper");
    await helper.join(roomA);
    await botSees(roomA, helper.userId);
    await run(
      `!tyr powerlevel ${helper.userId} 25 --room ${roomA}`,
      /Set the power level .* to 25 in 1 room/,
    );
    expect((await levels(roomA)).users?.[helper.userId]).toBe(25);

    await run(`!tyr powerlevel ${helper.userId} 150 --room ${roomA}`, /above Tyr's own level/);
    const preview = await run(`!tyr powerlevel ${helper.userId} 100 --room ${roomA}`, /power level 100\?/);
    expect((await levels(roomA)).users?.[helper.userId]).toBe(25);
    await react(preview.event_id, mod);
    await eventually(async () => (await levels(roomA)).users?.[helper.userId] === 100, 20_000, "level 100");

    const log = await run(`!tyr log ${helper.userId}`, /about/);
    expect(log.content.body).toMatch(/setPowerLevel/);
  });

  it("mute and unmute set the level below events_default and back", async () => {
    const loud = await user("loud");
    await loud.join(roomB);
    await botSees(roomB, loud.userId);
    await run(`!tyr mute ${loud.userId}`, /Muted .* in 1 room until unmuted/);
    const muted = (await levels(roomB)).users?.[loud.userId];
    expect(muted).toBeLessThan((await levels(roomB)).events_default ?? 0);
    await expect(loud.sendText(roomB, "can I talk?")).rejects.toThrow(/403/);
    await eventually(
      async () =>
        ((bot.bot.state.peek(roomB)?.powerLevels.users as Record<string, number>)?.[loud.userId] ?? 0) < 0,
      15_000,
      "Tyr to see the mute",
    );
    await run(`!tyr unmute ${loud.userId}`, /Unmuted .* in 1 room/);
    expect((await levels(roomB)).users?.[loud.userId]).toBeUndefined();
    await loud.sendText(roomB, "I can talk again");
  });

  it("a timed mute expires even across a restart, restoring the earlier level", async () => {
    const loud = await user("timed");
    await loud.join(roomA);
    await mod.setPowerLevel(roomA, loud.userId, 10);
    await eventually(
      async () =>
        (bot.bot.state.peek(roomA)?.powerLevels.users as Record<string, number>)?.[loud.userId] === 10,
      15_000,
      "Tyr to see level 10",
    );
    const mutedAt = Date.now();
    await run(`!tyr mute ${loud.userId} 12s flooding`, /Muted .* for 12/);
    expect((await levels(roomA)).users?.[loud.userId]).toBe(-1);
    await bot.stop();
    // still muted while Tyr is down, past the end of the mute
    await new Promise((r) => setTimeout(r, Math.max(0, mutedAt + 14_000 - Date.now())));
    expect((await levels(roomA)).users?.[loud.userId]).toBe(-1);
    await start();
    await eventually(
      async () => (await levels(roomA)).users?.[loud.userId] === 10,
      20_000,
      "level 10 restored",
    );
  });

  it("resolve answers which room an alias points to", async () => {
    const r = await run(`!tyr resolve #${aliasA}:${info.serverName}`, /→/);
    expect(r.content.body).toContain(roomA);
    expect(r.content.body).toContain("protected room");
    await run(`!tyr resolve #nothing-${tag}:${info.serverName}`, /No room has the alias/);
  });

  it("log lists recent actions newest first, limited", async () => {
    const r = await run("!tyr log --limit 3", /The last 3 actions/);
    expect(String(r.content.body).match(/^• /gm)?.length).toBe(3);
    await run(`!tyr log @nobody-${tag}:${info.serverName}`, /No action mentions/);
  });

  it("audit reports each weakness of a deliberately insecure room", async () => {
    const insecure = await mod.createRoom({
      preset: "public_chat",
      visibility: "public",
      invite: [tyr.userId],
      power_level_content_override: { users: { [tyr.userId]: 100 } },
      initial_state: [
        {
          type: "m.room.history_visibility",
          state_key: "",
          content: { history_visibility: "world_readable" },
        },
        { type: "m.room.guest_access", state_key: "", content: { guest_access: "can_join" } },
      ],
    });
    await tyr.join(insecure);
    // the test homeserver lets members publish rooms, as most public ones do
    const listed = await mod.api<{ visibility: string }>(
      "GET",
      `/_matrix/client/v3/directory/list/room/${enc(insecure)}`,
    );
    expect(listed.visibility).toBe("public");
    const r = await run(`!tyr audit ${insecure}`, /Security audit of/);
    const body = String(r.content.body);
    expect(body).toMatch(/⚠️ Join rule: `public` — Anyone can join/);
    expect(body).toMatch(/⚠️ Public room directory: `listed`/);
    expect(body).toMatch(/⚠️ Guest access: `can_join`/);
    expect(body).toMatch(/❌ History visibility: `world_readable` — Anyone, even non-members/);
    expect(body).toMatch(/⚠️ Encryption: `off` — Not end-to-end encrypted/);
    expect(body).toMatch(/⚠️ Server ACL: `none` — No server ACL/);
    // the room's creator moderates; the second moderator is not in the room
    expect(body).toMatch(/✅ Ban: `needs 50; Tyr has 100; 1 of 2 moderators can`/);
    expect(body).toMatch(/weaknesses found/);
    expect(String(r.content.formatted_body)).toContain("<strong>History visibility</strong>");
  });

  describe("what a new user notices", () => {
    it("status on an idle bot counts the sync that delivered the command", async () => {
      // Idle: the sync loop's own record of its last sync ages while it long-polls.
      await eventually(
        async () => Date.now() - (bot.bot.lastSyncAt() ?? Date.now()) > 4_000,
        60_000,
        "Tyr idle for 4 s",
      );
      const r = await run("!tyr status", /Tyr status/);
      expect(r.content.body).toMatch(/Last sync\W+just now/);
    });

    it("a command under a near-miss name gets a hint; chat does not", async () => {
      // Tyr's account here is @tyr-<pid>-…: "tyr" is a name it does not answer to.
      expect(tyr.userId.startsWith("@tyr:")).toBe(false);
      const hint = await run("tyr: status", /does not answer to `tyr`/);
      expect(hint.content.body).toContain("`!tyr status`");
      expect(hint.content.body).toContain(`\`${tyr.userId}: status\``);
      const chat = await send("tyr: what do you think about the raid?");
      await run("!tyr status", /Tyr status/); // answered after the chat, so the chat was handled
      expect(mod.seen.get(mgmt)?.some((ev) => relatesTo(ev)["m.in_reply_to"]?.event_id === chat)).toBe(false);
    });

    it("an unknown list is answered and not logged as an error", async () => {
      await run(`!tyr unwatch nosuch${tag}`, /no watched list has the shortcode/);
      const lines = bot.logs.filter((l) => l.command === "unwatch");
      expect(lines.length).toBeGreaterThan(0);
      expect(lines.filter((l) => Number(l.level) >= 50)).toEqual([]);
    });

    it("the watch preview promises only what fits in the ACL, and the ACL then has exactly that", async () => {
      // Long server names fill the ACL's size budget with a few hundred rules.
      const long = (i: number) =>
        `s${i}-${"a".repeat(55)}.${"b".repeat(63)}.${"c".repeat(63)}.example`.toLowerCase();
      const total = 400;
      const list = await mod.createRoom({
        preset: "public_chat",
        creation_content: { type: "m.policy" },
        initial_state: Array.from({ length: total }, (_, i) => ({
          type: "m.policy.rule.server",
          state_key: `s${i}`,
          content: { entity: long(i), recommendation: "m.ban" },
        })),
      });
      const preview = await run(`!tyr watch ${list}`, /Watch .*\?/, 60_000);
      const body = String(preview.content.body);
      const m = /would deny ([\d,]+) more server name\(s\).*?(\d+) did not fit in the size limit/.exec(body);
      expect(m, body).not.toBeNull();
      const denied = Number(m![1]!.replace(/,/g, ""));
      expect(denied).toBeLessThan(total);
      expect(denied + Number(m![2])).toBe(total);
      await react(preview.event_id, mod);
      await mod.waitForNotice(mgmt, tyr.userId, /Now watching/);
      await eventually(
        async () =>
          (await mod.getState<{ deny?: string[] }>(roomA, "m.room.server_acl"))?.deny?.length === denied,
        60_000,
        `the ACL of roomA to deny ${denied} servers`,
      );
      await run(`!tyr unwatch ${list}`, /Stopped watching/);
    });
  });
});
