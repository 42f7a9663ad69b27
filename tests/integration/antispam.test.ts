// Tyr as the backend of the real synapse-http-antispam module (PyPI, pinned), loaded by a Synapse
// of its own (hs1) that federates with a second one (hs2). Invites, joins and messages that Tyr
// refuses never happen; the moderators see the refusals in `log` and `status`; a wrong secret gets
// 401; and with Tyr stopped the module fails the way the README says.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { DEV_DIR, freePort, type Synapse } from "../harness/synapse.ts";
import { federatedHomeserver } from "../harness/federation.ts";
import { TestUser, eventually } from "../harness/user.ts";
import { policyListCast, runBot, testConfig, watchAndProtect, type RunningBot } from "../harness/bot.ts";
import { HttpListener } from "../../src/http/server.ts";
import { none } from "../../src/http/auth.ts";
import type { AntispamFeature } from "../../src/antispam/feature.ts";

const enc = encodeURIComponent;
const root = join(DEV_DIR, `antispam-${process.pid}`);
const PREFIX = "/_tyr/antispam";
const CALLBACKS = [
  "user_may_invite",
  "federated_user_may_invite",
  "user_may_join_room",
  "check_event_for_spam",
  "user_may_create_room",
];

interface MatrixError {
  status: number;
  body: { errcode?: string; error?: string };
}

async function refusal(p: Promise<unknown>): Promise<MatrixError> {
  try {
    await p;
  } catch (e) {
    return e as MatrixError;
  }
  throw new Error("expected the homeserver to refuse");
}

describe("homeserver integration (synapse-http-antispam)", () => {
  let hs1: Synapse;
  let hs2: Synapse;
  let bot: RunningBot;
  let tyr: TestUser;
  let mod: TestUser;
  let maintainer: TestUser;
  let spammer: TestUser;
  let alice: TestUser;
  let carol: TestUser;
  let remote: TestUser;
  let mgmt: string;
  let list: string;
  let room: string;
  let lenientRoom: string;
  let spammerRoom: string;
  let tyrPort: number;
  const secret = randomBytes(24).toString("hex");

  const antispam = () => bot.bot.feature("antispam") as AntispamFeature;

  async function command(text: string, match: RegExp): Promise<string> {
    const id = await mod.sendText(mgmt, `!tyr ${text}`);
    const reply = await mod.waitForReply(mgmt, tyr.userId, id, `the reply to "${text}"`);
    const body = String(reply.content.body).replaceAll("`", "");
    expect(body).toMatch(match);
    return body;
  }

  /** Room IDs alice has a pending invite to, as her client would see them. */
  async function invitesOf(user: TestUser): Promise<string[]> {
    const body = await user.api<{ rooms?: { invite?: Record<string, unknown> } }>(
      "GET",
      "/_matrix/client/v3/sync?timeout=0",
    );
    return Object.keys(body.rooms?.invite ?? {});
  }

  beforeAll(async () => {
    rmSync(root, { recursive: true, force: true });
    mkdirSync(root, { recursive: true });
    tyrPort = await freePort();
    // Until Tyr runs, a stand-in answers "allow" on Tyr's port, so the cast can be set up (the
    // module fails closed for invites, joins and room creation when nobody answers).
    const standIn = new HttpListener({
      name: "stand-in",
      bind: "127.0.0.1",
      port: tyrPort,
      routes: [
        {
          feature: "stand-in",
          method: "POST",
          path: `${PREFIX}/`,
          prefix: true,
          auth: none,
          body: "json",
          handler: () => ({ status: 200, body: {} }),
        },
      ],
      log: pino({ level: "silent" }),
    });
    await standIn.start();
    [hs1, hs2] = await Promise.all([
      federatedHomeserver(root, "hs1.localhost", {
        antispam: { baseUrl: `http://127.0.0.1:${tyrPort}${PREFIX}`, secret, enabledCallbacks: CALLBACKS },
      }),
      federatedHomeserver(root, "hs2.localhost"),
    ]);
    ({ tyr, mod, maintainer, mgmt, list } = await policyListCast(hs1));
    const user = (hs: Synapse, name: string) => TestUser.register(hs, name);
    [spammer, alice, carol, remote] = await Promise.all([
      user(hs1, "spammer"),
      user(hs1, "alice"),
      user(hs1, "carol"),
      user(hs2, "remote"),
    ]);
    const publicRoom = () =>
      mod.createRoom({
        preset: "public_chat",
        invite: [tyr.userId],
        power_level_content_override: { users: { [tyr.userId]: 100 } },
      });
    [room, lenientRoom] = await Promise.all([publicRoom(), publicRoom()]);
    for (const r of [room, lenientRoom, list]) await tyr.join(r);
    await alice.join(room);
    await alice.join(lenientRoom);
    spammerRoom = await spammer.createRoom({ preset: "private_chat" });
    // The list bans the local spammer and the whole second homeserver.
    await maintainer.setState(list, "m.policy.rule.user", "spammer", {
      entity: spammer.userId,
      recommendation: "m.ban",
      reason: "spam wave",
    });
    await maintainer.setState(list, "m.policy.rule.server", "hs2", {
      entity: "hs2.localhost",
      recommendation: "m.ban",
      reason: "spam server",
    });
    await watchAndProtect(tyr, { watchedLists: [list], protectedRooms: [room, lenientRoom] });
    await standIn.stop();

    const secretFile = join(root, "antispam-secret");
    writeFileSync(secretFile, secret, { mode: 0o600 });
    bot = await runBot(
      testConfig({
        url: hs1.url,
        accessToken: tyr.accessToken,
        managementRoom: mgmt,
        extra: {
          encryption: { enabled: false },
          http: { port: tyrPort },
          antispam: { enabled: true, secretFile, whenNotReady: "deny", summaryIntervalSeconds: 10 },
        },
      }),
    );
    await eventually(async () => antispam().ready, 30_000, "Tyr's antispam backend ready");
    await mod.catchUp();
    await command("protections enable word-list", /word-list is now on/);
    await command("protections set word-list patterns cryptoscam", /patterns/);
    await command("protections set word-list enforceAtServer on", /enforceAtServer/);
    await command(`protections set word-list enforceAtServer off --room ${lenientRoom}`, /enforceAtServer/);
  }, 300_000);

  afterAll(async () => {
    await bot?.stop();
    await Promise.all([hs1?.stop(), hs2?.stop()]);
    rmSync(root, { recursive: true, force: true });
  });

  it("a list-banned user cannot invite a local user: the inviter gets Tyr's reason, the invitee sees nothing", async () => {
    const e = await refusal(spammer.invite(spammerRoom, carol.userId));
    expect(e.status).toBe(403);
    expect(e.body.errcode).toBe("M_FORBIDDEN");
    expect(e.body.error).toContain("spam wave");
    // Control: a clean user's later invite arrives; the refused one never does.
    const aliceRoom = await alice.createRoom();
    await alice.invite(aliceRoom, carol.userId);
    const invites = await eventually(
      async () => {
        const rooms = await invitesOf(carol);
        return rooms.includes(aliceRoom) ? rooms : undefined;
      },
      30_000,
      "alice's invite reaching carol",
    );
    expect(invites).not.toContain(spammerRoom);
  });

  it("a list-banned user cannot join a protected room, and is banned there for the record", async () => {
    const e = await refusal(spammer.join(room));
    expect(e.status).toBe(403);
    expect(e.body.errcode).toBe("M_FORBIDDEN");
    await eventually(
      async () => (await mod.membership(room, spammer.userId)) === "ban",
      30_000,
      "the ban for the record",
    );
    // Control: a clean user joins.
    await carol.join(room);
    expect(await mod.membership(room, carol.userId)).toBe("join");
  });

  it("a banned user cannot create rooms", async () => {
    const e = await refusal(spammer.createRoom());
    expect(e.status).toBe(403);
  });

  it("an invite from a user of a banned server is refused over federation", async () => {
    // Federation itself works: alice joins a room on hs2 (Tyr allows it: the room is not banned).
    const remoteRoom = await remote.createRoom({ preset: "public_chat" });
    await eventually(
      () =>
        alice
          .api("POST", `/_matrix/client/v3/join/${enc(remoteRoom)}?server_name=${enc(hs2.serverName)}`, {})
          .then(() => true),
      60_000,
      "alice joins a room on hs2",
    );
    const before = antispam().handler.stats.refusals.get("federated_user_may_invite") ?? 0;
    const e = await refusal(remote.invite(remoteRoom, carol.userId));
    expect(e.status).toBe(403);
    expect(antispam().handler.stats.refusals.get("federated_user_may_invite")).toBe(before + 1);
    expect(await invitesOf(carol)).not.toContain(remoteRoom);
  });

  it("a word-list hit never appears when enforceAtServer is on, and is delivered where it is off", async () => {
    const e = await refusal(alice.sendText(room, "get rich: cryptoscam inside"));
    expect(e.status).toBe(403);
    expect(e.body.errcode).toBe("M_FORBIDDEN");
    expect(e.body.error).toContain("word-list");
    const clean = await alice.sendText(room, "a clean message");
    const bodies = (
      await mod.api<{ chunk: { content: { body?: string } }[] }>(
        "GET",
        `/_matrix/client/v3/rooms/${enc(room)}/messages?dir=b&limit=50`,
      )
    ).chunk.map((ev) => ev.content.body);
    expect(bodies).toContain("a clean message");
    expect(bodies.some((b) => b?.includes("cryptoscam"))).toBe(false);
    expect(clean).toMatch(/^\$/);
    // The room override turns enforcement off: delivered (then redacted by the live protection).
    const delivered = await alice.sendText(lenientRoom, "get rich: cryptoscam inside");
    expect(delivered).toMatch(/^\$/);
  });

  it("refusals are in the action log and `log`; `status` shows the module's calls", async () => {
    await eventually(
      async () => bot.bot.actionLog.query({ limit: 100 }).filter((r) => r.kind === "refuse").length >= 4,
      10_000,
      "refusals in the log",
    );
    const kinds = bot.bot.actionLog.query({ limit: 100 }).filter((r) => r.kind === "refuse");
    expect(kinds.map((r) => r.reason).join("\n")).toMatch(/invites refused via the homeserver/);
    expect(kinds.map((r) => r.reason).join("\n")).toMatch(
      /messages refused via the homeserver: protection word-list/,
    );
    await command(`log ${spammer.userId}`, /refuse/);
    const status = await command("status", /Homeserver antispam/);
    expect(status).toMatch(/user_may_invite \d+/);
    expect(status).toMatch(/Antispam refusals: [1-9]/);
    expect(status).toMatch(/fail_open/);
    // One summary for all of them in the management room (rate-limited, not one per refusal).
    await mod.waitForNotice(mgmt, tyr.userId, /Homeserver antispam: refused \d+ requests/, 30_000);
  });

  it("a wrong secret gets 401 and is counted", async () => {
    const res = await fetch(`http://127.0.0.1:${tyrPort}${PREFIX}/user_may_invite`, {
      method: "POST",
      headers: { Authorization: "Bearer not-the-secret", "Content-Type": "application/json" },
      body: JSON.stringify({ inviter: alice.userId, invitee: carol.userId, room_id: room }),
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ errcode: "M_UNAUTHORIZED" });
    expect(antispam().handler.stats.authFailures).toBeGreaterThan(0);
  });

  it("with Tyr stopped the module fails as documented: messages open, invites closed", async () => {
    await bot.stop();
    // check_event_for_spam fails open by default: even a word-list hit is delivered.
    expect(await alice.sendText(room, "cryptoscam while Tyr is down")).toMatch(/^\$/);
    // Every other callback fails closed: invites are refused with M_UNKNOWN.
    const aliceRoom = await refusal(alice.createRoom());
    expect(aliceRoom.status).toBe(403);
    expect(aliceRoom.body.errcode).toBe("M_UNKNOWN");
    const e = await refusal(alice.invite(lenientRoom, carol.userId));
    expect(e.body.errcode).toBe("M_UNKNOWN");
  });
});
