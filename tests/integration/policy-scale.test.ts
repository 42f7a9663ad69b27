// Big batches: a crash in the middle of 200 bans loses nothing and repeats nothing; under a
// homeserver rate limit that forces many 429s, 200 bans still complete with zero failures.
import { afterAll, describe, expect, inject, it } from "vitest";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEV_DIR, PROJECT_ROOT, Synapse } from "../harness/synapse.ts";
import { TestUser, eventually } from "../harness/user.ts";
import { runBot, testConfig, type RunningBot } from "../harness/bot.ts";

const enc = encodeURIComponent;

interface Setup {
  tyr: TestUser;
  mod: TestUser;
  mgmt: string;
  list: string;
  rooms: string[];
  spammers: TestUser[];
}

async function setup(s: Synapse, tag: string, spammerCount: number, roomCount: number): Promise<Setup> {
  const tyr = new TestUser(s.url, await s.register("tyr"));
  const mod = new TestUser(s.url, await s.register("mod"));
  const mgmt = await mod.createRoom({ invite: [tyr.userId] });
  const list = await mod.createRoom({ preset: "public_chat", creation_content: { type: "m.policy" } });
  const rooms: string[] = [];
  for (let i = 0; i < roomCount; i++) {
    rooms.push(
      await mod.createRoom({
        preset: "public_chat",
        invite: [tyr.userId],
        power_level_content_override: { users: { [tyr.userId]: 100 } },
      }),
    );
  }
  for (const r of [...rooms, list]) await tyr.join(r);
  const spammers = await Promise.all(
    Array.from(
      { length: spammerCount },
      async (_, i) => new TestUser(s.url, await s.register(`${tag}-${i}`)),
    ),
  );
  for (let i = 0; i < spammers.length; i += 10) {
    await Promise.all(
      spammers.slice(i, i + 10).map(async (sp) => {
        for (const r of rooms) await sp.join(r);
      }),
    );
  }
  await tyr.api(
    "PUT",
    `/_matrix/client/v3/user/${enc(tyr.userId)}/account_data/org.matrix.mjolnir.watched_lists`,
    { references: [list] },
  );
  await tyr.api(
    "PUT",
    `/_matrix/client/v3/user/${enc(tyr.userId)}/account_data/org.matrix.mjolnir.protected_rooms`,
    { rooms },
  );
  return { tyr, mod, mgmt, list, rooms, spammers };
}

async function banCount(mod: TestUser, rooms: string[]): Promise<number> {
  let n = 0;
  for (const r of rooms) {
    const members = await mod.api<{ chunk: { content: { membership: string } }[] }>(
      "GET",
      `/_matrix/client/v3/rooms/${enc(r)}/members?membership=ban`,
    );
    n += members.chunk.length;
  }
  return n;
}

/** Ban membership events per user in a room's timeline (a repeated ban shows up as two). */
async function banEvents(mod: TestUser, room: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  let from: string | undefined;
  for (;;) {
    const filter = enc(JSON.stringify({ types: ["m.room.member"] }));
    const page = await mod.api<{
      chunk: { state_key: string; content: { membership?: string } }[];
      end?: string;
    }>(
      "GET",
      `/_matrix/client/v3/rooms/${enc(room)}/messages?dir=b&limit=500&filter=${filter}${from ? `&from=${enc(from)}` : ""}`,
    );
    for (const ev of page.chunk)
      if (ev.content.membership === "ban") counts.set(ev.state_key, (counts.get(ev.state_key) ?? 0) + 1);
    if (!page.end || page.chunk.length === 0) return counts;
    from = page.end;
  }
}

describe("policy sync at scale", () => {
  const synapse = Synapse.attach(inject("synapse"));
  let bot: RunningBot | undefined;
  afterAll(async () => {
    await bot?.stop();
  });

  it("a crash in the middle of a 200-ban batch: after restart every ban is there and none was done twice", async () => {
    const s = await setup(synapse, "crash", 67, 3); // 201 bans
    const dataPath = mkdtempSync(join(tmpdir(), "tyr-crash-"));
    const cfg = join(dataPath, "config.yaml");
    writeFileSync(
      cfg,
      [
        `homeserverUrl: ${synapse.url}`,
        `accessToken: ${s.tyr.accessToken}`,
        `dataPath: ${join(dataPath, "data")}`,
        `managementRoom: "${s.mgmt}"`,
        "logFormat: json",
        "queue: { concurrency: 1 }",
      ].join("\n"),
    );
    const child = spawn(process.execPath, [join(PROJECT_ROOT, "src/cli.ts"), "run", "--config", cfg], {
      stdio: "ignore",
    });
    const exited = new Promise((r) => child.on("exit", r));
    await new Promise((r) => setTimeout(r, 3000)); // first sync
    await s.mod.setState(s.list, "m.policy.rule.user", "crash", {
      entity: "@crash-*:localhost",
      recommendation: "m.ban",
      reason: "crash test",
    });
    await eventually(async () => (await banCount(s.mod, s.rooms)) >= 30, 60_000, "the batch to be under way");
    child.kill("SIGKILL");
    await exited;
    const before = await banCount(s.mod, s.rooms);
    expect(before).toBeLessThan(201);

    bot = await runBot(
      testConfig({
        url: synapse.url,
        accessToken: s.tyr.accessToken,
        managementRoom: s.mgmt,
        dataPath: join(dataPath, "data"),
      }),
    );
    await eventually(async () => (await banCount(s.mod, s.rooms)) === 201, 90_000, "all 201 bans");
    for (const room of s.rooms) {
      const counts = await banEvents(s.mod, room);
      expect(counts.size).toBe(67);
      expect([...counts.values()].every((n) => n === 1)).toBe(true);
    }
    await bot.stop();
    bot = undefined;
    rmSync(dataPath, { recursive: true, force: true });
  });

  it("under a rate limit that forces many 429s, a 200-ban batch completes with zero failures", async () => {
    const limited = await Synapse.create({
      dir: join(DEV_DIR, `test-synapse-ratelimit-${process.pid}`),
      rateLimits: { perSecond: 5, burst: 10 },
    });
    try {
      const s = await setup(limited, "rl", 100, 2); // 200 bans
      bot = await runBot(
        testConfig({ url: limited.url, accessToken: s.tyr.accessToken, managementRoom: s.mgmt }),
      );
      await s.mod.setState(s.list, "m.policy.rule.user", "rl", {
        entity: "@rl-*:localhost",
        recommendation: "m.ban",
        reason: "rate limit test",
      });
      await eventually(async () => (await banCount(s.mod, s.rooms)) === 200, 180_000, "all 200 bans");
      await bot.bot.queue.idle();
      expect(bot.bot.queue.stats.failed).toBe(0);
      expect(bot.bot.client.transport.stats.rateLimited).toBeGreaterThan(20);
      const failedBans = bot.bot.actionLog
        .query({ limit: 1000 })
        .filter((r) => r.kind === "ban" && r.outcome !== "done");
      expect(failedBans).toEqual([]);
      // The moderators saw one progress message, edited, rather than hundreds of notices.
      await s.mod.sync(0);
      const notices = (s.mod.seen.get(s.mgmt) ?? []).filter(
        (e) => e.sender === s.tyr.userId && e.type === "m.room.message",
      );
      expect(notices.length).toBeLessThan(20);
    } finally {
      await bot?.stop();
      bot = undefined;
      await limited.stop();
      rmSync(limited.dir, { recursive: true, force: true });
    }
  }, 300_000);
});
