// Server ACL sync end to end: a list maintainer adds server rules, Tyr keeps m.room.server_acl of
// every protected room in line — coalesced, never denying its own server, restoring hand edits,
// reporting rooms where it lacks power — and moderators use `acl`, `acl sync` and `import`.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Synapse } from "../harness/synapse.ts";
import { TestUser, eventually, type SeenEvent } from "../harness/user.ts";
import { policyListCast, runBot, testConfig, watchAndProtect, type RunningBot } from "../harness/bot.ts";
import { compileGlob } from "../../src/banlists/glob.ts";

const synapse = Synapse.attach(inject("synapse"));
const enc = encodeURIComponent;

const user = (name: string) => TestUser.register(synapse, name);

interface Acl {
  allow?: string[];
  deny?: string[];
  allow_ip_literals?: boolean;
}

describe("server ACL sync", () => {
  let bot: RunningBot;
  let tyr: TestUser;
  let mod: TestUser;
  let maintainer: TestUser;
  let mgmt: string;
  let list: string;
  /** Protected rooms where Tyr has power 100. */
  let rooms: string[];
  /** Protected, but Tyr has the default power 0. */
  let weak: string;
  /** Protected, but listed in acl.excludedRooms. */
  let excluded: string;

  const acl = (room: string) => mod.getState<Acl>(room, "m.room.server_acl");
  const sameSet = (a: readonly string[] | undefined, b: readonly string[]) =>
    a !== undefined && a.length === b.length && [...a].sort().join("\n") === [...b].sort().join("\n");
  const aclDenies = (want: readonly string[]) =>
    eventually(
      async () => {
        const all = await Promise.all(rooms.map(acl));
        return all.every((c) => sameSet(c?.deny, want)) ? all : undefined;
      },
      30_000,
      `ACL denying ${want.length} entries in every protected room`,
    );
  /** m.room.server_acl events in a room's timeline (newest first). */
  const aclEvents = async (room: string) =>
    (
      await mod.api<{ chunk: SeenEvent[] }>(
        "GET",
        `/_matrix/client/v3/rooms/${enc(room)}/messages?dir=b&limit=1000&filter=${enc(JSON.stringify({ types: ["m.room.server_acl"] }))}`,
      )
    ).chunk;
  /** Tyr's notices in the management room since `since` (ms), oldest first. */
  const botNotices = async (since: number) =>
    (
      await mod.api<{ chunk: SeenEvent[] }>(
        "GET",
        `/_matrix/client/v3/rooms/${enc(mgmt)}/messages?dir=b&limit=500&filter=${enc(JSON.stringify({ types: ["m.room.message"], senders: [tyr.userId] }))}`,
      )
    ).chunk
      .filter((e) => e.origin_server_ts >= since)
      .map((e) => String(e.content.body))
      .reverse();
  const serverRule = (key: string, entity: string, recommendation = "m.ban") =>
    maintainer.setState(list, "m.policy.rule.server", key, { entity, recommendation, reason: "test" });
  const command = async (body: string, reply: RegExp, timeoutMs = 30_000) => {
    await mod.catchUp();
    await mod.sendText(mgmt, body);
    return mod.waitForNotice(mgmt, tyr.userId, reply, timeoutMs);
  };

  let denied: string[] = [];

  beforeAll(async () => {
    ({ tyr, mod, maintainer, mgmt, list } = await policyListCast(synapse, { listName: "bans" }));
    const protectedRoom = (power: boolean) =>
      mod.createRoom({
        preset: "public_chat",
        invite: [tyr.userId],
        // Room version 12: the creator (mod) has unlimited power and must not be listed.
        ...(power ? { power_level_content_override: { users: { [tyr.userId]: 100 } } } : {}),
      });
    rooms = [await protectedRoom(true), await protectedRoom(true), await protectedRoom(true)];
    weak = await protectedRoom(false);
    excluded = await protectedRoom(true);
    for (const r of [...rooms, weak, excluded, list]) await tyr.join(r);
    await watchAndProtect(tyr, { watchedLists: [list], protectedRooms: [...rooms, weak, excluded] });
    bot = await runBot(
      testConfig({
        url: synapse.url,
        accessToken: tyr.accessToken,
        managementRoom: mgmt,
        extra: { acl: { excludedRooms: [excluded] } },
      }),
    );
  });
  afterAll(async () => {
    await bot?.stop();
  });

  it("a server rule produces the right ACL in every protected room", async () => {
    // Nothing is denied yet: no ACL event for nothing.
    expect(await acl(rooms[0]!)).toBeUndefined();
    await mod.catchUp();
    await serverRule("s1", "evil.example");
    denied = ["evil.example"];
    const contents = await aclDenies(denied);
    for (const c of contents) {
      expect(c).toEqual({ allow: ["*"], deny: ["evil.example"], allow_ip_literals: false });
    }
    // Each room got exactly one event, sent by Tyr.
    for (const r of rooms) {
      const evs = await aclEvents(r);
      expect(evs).toHaveLength(1);
      expect(evs[0]!.sender).toBe(tyr.userId);
    }
    // The excluded room is left alone.
    expect(await acl(excluded)).toBeUndefined();
  });

  it("a room where Tyr lacks the power is reported once, with the level needed", async () => {
    const notice = await mod.waitForNotice(
      mgmt,
      tyr.userId,
      (b) => b.includes("cannot set the server ACL") && b.includes(weak),
    );
    expect(notice.content.body).toMatch(/needs power level 100 and Tyr has 0/);
    expect(await acl(weak)).toBeUndefined();
    // Another rule change: no second report for the same room.
    await serverRule("s2", "evil2.example");
    denied = [...denied, "evil2.example"];
    await aclDenies(denied);
    await new Promise((r) => setTimeout(r, 1500));
    const reports = (await botNotices(0)).filter(
      (b) => b.includes("cannot set the server ACL") && b.includes(weak),
    );
    expect(reports).toHaveLength(1);
    // Give Tyr the power: the ACL follows without being asked.
    await mod.setPowerLevel(weak, tyr.userId, 100);
    await eventually(
      async () => sameSet((await acl(weak))?.deny, denied),
      20_000,
      "ACL in the formerly weak room",
    );
  });

  it("a rule denying * or Tyr's own server never cuts it off, and the moderators are told", async () => {
    const started = Date.now() - 1000;
    await mod.catchUp();
    await Promise.all([
      serverRule("own1", "*"),
      serverRule("own2", "localhost"),
      serverRule("own3", "*host"),
      serverRule("own4", "LOCALHOST:8448"),
    ]);
    const notice = await mod.waitForNotice(mgmt, tyr.userId, /would deny Tyr's own server/);
    const body = String(notice.content.body);
    expect(body).toMatch(/4 would deny Tyr's own server/);
    for (const e of ["`*`", "`localhost`", "`*host`"]) expect(body).toContain(e);
    // A change that does reach the ACL, to be sure the own-server rules were considered.
    await serverRule("s3", "evil3.example");
    denied = [...denied, "evil3.example"];
    const contents = await aclDenies(denied);
    for (const c of contents) {
      expect(c!.allow).toEqual(["*"]);
      for (const d of c!.deny ?? []) expect(compileGlob(d).matches("localhost")).toBe(false);
    }
    // Tyr still acts in the rooms (its server is not cut off): it answers and sets state.
    await command("!tyr acl", /Server ACL/);
    for (const key of ["own1", "own2", "own3", "own4"])
      await maintainer.setState(list, "m.policy.rule.server", key, {});
    await mod.waitForNotice(mgmt, tyr.userId, /every server rule of the watched lists is in the ACL again/);
    // One report for the four rules, not one per rule.
    expect((await botNotices(started)).filter((b) => b.includes("could not be applied"))).toHaveLength(1);
  });

  it("a burst of 200 server rules produces at most 2 ACL events per room", async () => {
    const before = await Promise.all(rooms.map(async (r) => (await aclEvents(r)).length));
    const burst = Array.from({ length: 200 }, (_, i) => `burst-${String(i).padStart(3, "0")}.example`);
    const started = Date.now();
    // Ten writers in parallel, as a list maintainer's tool would publish a batch.
    const queue = [...burst.entries()];
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        for (let next = queue.shift(); next; next = queue.shift())
          await serverRule(`burst${next[0]}`, next[1]);
      }),
    );
    const published = Date.now() - started;
    denied = [...denied, ...burst];
    await aclDenies(denied);
    const applied = Date.now() - started;
    // Let anything still queued land before counting.
    await new Promise((r) => setTimeout(r, 3000));
    const after = await Promise.all(rooms.map(async (r) => (await aclEvents(r)).length));
    const added = after.map((n, i) => n - before[i]!);
    for (const n of added) {
      expect(n).toBeGreaterThanOrEqual(1);
      expect(n).toBeLessThanOrEqual(2);
    }
    process.stderr.write(
      `ACL burst: 200 rules published in ${published} ms, applied in ${applied} ms, ACL events per room: ${added.join(", ")}\n`,
    );
  });

  it("a hand-edited ACL is restored and the moderators are told; an excluded room is left alone", async () => {
    await mod.catchUp();
    await mod.setState(rooms[1]!, "m.room.server_acl", "", {
      allow: ["*"],
      deny: [],
      allow_ip_literals: true,
    });
    await mod.setState(excluded, "m.room.server_acl", "", {
      allow: ["*"],
      deny: ["mine.example"],
      allow_ip_literals: true,
    });
    await eventually(async () => sameSet((await acl(rooms[1]!))?.deny, denied), 20_000, "hand edit undone");
    const notice = await mod.waitForNotice(mgmt, tyr.userId, /changed by hand; Tyr restored/);
    expect(String(notice.content.body)).toContain(rooms[1]!);
    expect(String(notice.content.body)).toContain(mod.userId);
    expect((await acl(rooms[1]!))?.allow_ip_literals).toBe(false);
    await new Promise((r) => setTimeout(r, 2000));
    expect(await acl(excluded)).toEqual({ allow: ["*"], deny: ["mine.example"], allow_ip_literals: true });
  });

  it("`acl` shows the computed ACL and each protected room's state", async () => {
    const reply = await command("!tyr acl", /Server ACL/);
    const body = String(reply.content.body);
    expect(body).toContain(`${denied.length} server entries denied`);
    expect(body).toMatch(/[\d,]+ of [\d,]+ bytes used/);
    expect(body).toContain("IP literals: blocked");
    expect(body).toMatch(/Protected rooms \(5\)/);
    for (const r of rooms) expect(body).toMatch(new RegExp(`${r.replace(/[.$]/g, "\\$&")}\` — in sync`));
    expect(body).toMatch(new RegExp(`${excluded.replace(/[.$]/g, "\\$&")}\` — excluded`));
  });

  it("`acl sync` restores a room that differs, without sending twice", async () => {
    const before = (await aclEvents(rooms[2]!)).length;
    await mod.setState(rooms[2]!, "m.room.server_acl", "", {
      allow: ["*"],
      deny: ["x.example"],
      allow_ip_literals: false,
    });
    const reply = await command("!tyr acl sync", /Server ACL sync: \d+ room\(s\) updated/);
    expect(String(reply.content.body)).toMatch(/\d+ already in sync or excluded/);
    await eventually(async () => sameSet((await acl(rooms[2]!))?.deny, denied), 20_000, "room restored");
    await new Promise((r) => setTimeout(r, 2000));
    // The hand edit plus exactly one restoring event, whoever got there first (timer or command).
    expect((await aclEvents(rooms[2]!)).length).toBe(before + 2);
  });

  it("`import` turns a room's bans and ACL deny entries into rules on a list", async () => {
    const shortcode = `i${Date.now().toString(36)}`;
    await command(`!tyr list create ${shortcode} ${shortcode}-list`, /started watching/);
    const ownList = (
      await mod.api<{ room_id: string }>(
        "GET",
        `/_matrix/client/v3/directory/room/${enc(`#${shortcode}-list:localhost`)}`,
      )
    ).room_id;

    const old = await mod.createRoom({ preset: "public_chat", invite: [tyr.userId] });
    await tyr.join(old);
    const b1 = await user("oldspam1");
    const b2 = await user("oldspam2");
    for (const u of [b1, b2]) await u.join(old);
    await mod.api("POST", `/_matrix/client/v3/rooms/${enc(old)}/ban`, {
      user_id: b1.userId,
      reason: "spam in the old room",
    });
    await mod.api("POST", `/_matrix/client/v3/rooms/${enc(old)}/ban`, { user_id: b2.userId });
    await mod.setState(old, "m.room.server_acl", "", {
      allow: ["*"],
      deny: ["imported-1.example", "*.imported-2.example", "bad name.example"],
      allow_ip_literals: true,
    });

    const preview = await command(`!tyr import ${old} ${shortcode}`, /Import .* into/);
    const pb = String(preview.content.body);
    expect(pb).toContain("Found 2 banned user(s) and 2 denied server entries: 4 new rule(s) to write");
    expect(pb).toMatch(/1 entry skipped: `bad name.example` \(ACL: /);
    await mod.send(
      mgmt,
      { "m.relates_to": { rel_type: "m.annotation", event_id: preview.event_id, key: "✅" } },
      "m.reaction",
    );
    await mod.waitForNotice(mgmt, tyr.userId, /Imported 4 of 4 rule\(s\)/);

    await mod.join(ownList);
    const state = await mod.api<
      {
        type: string;
        state_key: string;
        content: { entity?: string; recommendation?: string; reason?: string };
      }[]
    >("GET", `/_matrix/client/v3/rooms/${enc(ownList)}/state`);
    const rules = state.filter((e) => e.type.startsWith("m.policy.rule.") && e.content.entity);
    expect(rules.map((r) => `${r.type} ${r.content.entity} ${r.content.recommendation}`).sort()).toEqual(
      [
        `m.policy.rule.server *.imported-2.example m.ban`,
        `m.policy.rule.server imported-1.example m.ban`,
        `m.policy.rule.user ${b1.userId} m.ban`,
        `m.policy.rule.user ${b2.userId} m.ban`,
      ].sort(),
    );
    expect(rules.find((r) => r.content.entity === b1.userId)?.content.reason).toBe("spam in the old room");
    // The list is watched: the imported servers reach the protected rooms' ACLs.
    denied = [...denied, "imported-1.example", "*.imported-2.example"];
    await aclDenies(denied);

    // A second import finds nothing new.
    await command(`!tyr import ${old} ${shortcode}`, /Nothing to import .* already on/);
  });

  it("`status` has a server ACL line", async () => {
    const reply = await command("!tyr status", /Server ACL/);
    expect(String(reply.content.body)).toMatch(
      /Server ACL: [\d,]+ servers denied · [\d,]+ of [\d,]+ bytes · rooms: /,
    );
  });
});
