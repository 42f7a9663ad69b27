// /metrics, /healthz and /readyz of a running Tyr against the real Synapse: the action counters
// move as a moderator kicks and a policy list bans, the sync metrics are there, and readiness
// follows the homeserver going away and coming back (on a Synapse of this file's own) and shows
// safe mode.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEV_DIR, Synapse, freePort } from "../harness/synapse.ts";
import { TestUser, eventually } from "../harness/user.ts";
import { policyListCast, runBot, testConfig, watchAndProtect, type RunningBot } from "../harness/bot.ts";
import { TYR_PROTECTIONS_KEY } from "../../src/protections/config.ts";

const synapse = Synapse.attach(inject("synapse"));
const TOKEN = "integration-metrics-token-0123456789";

/** One sample's value from the text format (0 when absent: a labelled counter not yet counted). */
function sample(text: string, name: string, labels = ""): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
}

/** The token in a 0600 file, as an admin would keep it. */
function tokenFile(): string {
  const f = join(mkdtempSync(join(tmpdir(), "tyr-metrics-")), "token");
  writeFileSync(f, `${TOKEN}\n`, { mode: 0o600 });
  return f;
}

async function metricsConfig(url: string, accessToken: string, managementRoom: string, bearer: boolean) {
  const port = await freePort();
  const loaded = testConfig({
    url,
    accessToken,
    managementRoom,
    extra: {
      http: { port },
      metrics: { enabled: true, ...(bearer ? { auth: "bearer", tokenFile: tokenFile() } : {}) },
    },
  });
  return { loaded, base: `http://127.0.0.1:${port}` };
}

describe("metrics: actions and sync against Synapse", () => {
  let bot: RunningBot;
  let base: string;
  let tyr: TestUser;
  let mod: TestUser;
  let maintainer: TestUser;
  let mgmt: string;
  let list: string;
  let room: string;

  const scrape = async () => {
    const res = await fetch(`${base}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    return res.text();
  };

  beforeAll(async () => {
    ({ tyr, mod, maintainer, mgmt, list } = await policyListCast(synapse, { listName: "metrics bans" }));
    room = await mod.createRoom({
      preset: "public_chat",
      invite: [tyr.userId],
      power_level_content_override: { users: { [tyr.userId]: 100 } },
    });
    await tyr.join(room);
    await tyr.join(list);
    await watchAndProtect(tyr, { watchedLists: [list], protectedRooms: [room] });
    const c = await metricsConfig(synapse.url, tyr.accessToken, mgmt, true);
    base = c.base;
    bot = await runBot(c.loaded);
    await mod.catchUp();
  });
  afterAll(async () => {
    await bot?.stop();
  });

  it("refuses /metrics without the token, and is ready once synced with its list loaded", async () => {
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    const ready = await eventually(
      async () => {
        const r = await fetch(`${base}/readyz`);
        return r.status === 200 ? r : undefined;
      },
      30_000,
      "/readyz 200",
    );
    expect(await ready.json()).toEqual({ status: "ready" });
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  it("shows sync, rooms and rules", async () => {
    await maintainer.setState(list, "m.policy.rule.server", "srv1", {
      entity: "evil.example",
      recommendation: "m.ban",
      reason: "spam server",
    });
    const text = await eventually(
      async () => {
        const t = await scrape();
        return sample(t, "tyr_policy_rules", `{list="${list}"}`) === 1 ? t : undefined;
      },
      30_000,
      "the rule counted",
    );
    expect(sample(text, "tyr_sync_batches_total")).toBeGreaterThan(0);
    expect(sample(text, "tyr_sync_last_success_timestamp_seconds")).toBeGreaterThan(Date.now() / 1000 - 120);
    expect(sample(text, "tyr_sync_consecutive_failures")).toBe(0);
    expect(text).toMatch(/^tyr_sync_lag_seconds \d/m);
    expect(sample(text, "tyr_protected_rooms")).toBe(1);
    expect(sample(text, "tyr_members_tracked")).toBeGreaterThanOrEqual(2);
    expect(sample(text, "tyr_events_total")).toBeGreaterThan(0);
    expect(sample(text, "tyr_homeserver_requests_total")).toBeGreaterThan(0);
    expect(sample(text, "tyr_process_resident_memory_bytes")).toBeGreaterThan(0);
  });

  it("counts a moderator's kick and a list's ban as they happen", async () => {
    const kickee = new TestUser(synapse.url, await synapse.register("kickee"));
    const spammer = new TestUser(synapse.url, await synapse.register("listed"));
    await kickee.join(room);
    await spammer.join(room);
    const kick = '{kind="kick",outcome="done",cause="moderator"}';
    const ban = '{kind="ban",outcome="done",cause="policy"}';
    const before = await scrape();

    await mod.sendText(mgmt, `!tyr kick ${kickee.userId} testing metrics`);
    await eventually(async () => (await mod.membership(room, kickee.userId)) === "leave", 30_000, "kicked");
    await eventually(
      async () =>
        sample(await scrape(), "tyr_actions_total", kick) === sample(before, "tyr_actions_total", kick) + 1,
      10_000,
      "the kick counted",
    );

    await maintainer.setState(list, "m.policy.rule.user", "u1", {
      entity: spammer.userId,
      recommendation: "m.ban",
      reason: "spam",
    });
    await eventually(async () => (await mod.membership(room, spammer.userId)) === "ban", 30_000, "banned");
    const after = await eventually(
      async () => {
        const t = await scrape();
        return sample(t, "tyr_actions_total", ban) === sample(before, "tyr_actions_total", ban) + 1
          ? t
          : undefined;
      },
      10_000,
      "the ban counted",
    );
    // the matcher decided the new rule against the members, and some of those were timed
    expect(sample(after, "tyr_matcher_decisions_total")).toBeGreaterThan(
      sample(before, "tyr_matcher_decisions_total"),
    );
    expect(sample(after, "tyr_queue_depth")).toBeGreaterThanOrEqual(0);
  });

  it("counts the ban command: the rule written by the moderator, the ban done by the policy", async () => {
    const troll = new TestUser(synapse.url, await synapse.register("troll"));
    await troll.join(room);
    const shortcode = `m${Date.now().toString(36)}`;
    await mod.sendText(mgmt, `!tyr list create ${shortcode} ${shortcode}-list`);
    await mod.waitForNotice(mgmt, tyr.userId, /Created .* started watching/);
    const rule = '{kind="setState",outcome="done",cause="moderator"}';
    const ban = '{kind="ban",outcome="done",cause="policy"}';
    const before = await scrape();
    await mod.sendText(mgmt, `!tyr ban ${shortcode} ${troll.userId} trolling`);
    await mod.waitForNotice(mgmt, tyr.userId, /Added ban rule/);
    await eventually(async () => (await mod.membership(room, troll.userId)) === "ban", 30_000, "banned");
    await eventually(
      async () => {
        const t = await scrape();
        return (
          sample(t, "tyr_actions_total", rule) === sample(before, "tyr_actions_total", rule) + 1 &&
          sample(t, "tyr_actions_total", ban) === sample(before, "tyr_actions_total", ban) + 1
        );
      },
      10_000,
      "the rule and the ban counted",
    );
  });

  it("reports the size of a protected room's server ACL", async () => {
    // the server rule of the second test made Tyr write an ACL into the room
    const acl = await eventually(
      async () => mod.getState<{ deny?: string[] }>(room, "m.room.server_acl", ""),
      30_000,
      "an ACL in the room",
    );
    expect(acl.deny).toContain("evil.example");
    const bytes = await eventually(
      async () => sample(await scrape(), "tyr_acl_size_bytes", `{room="${room}"}`),
      10_000,
      "the ACL size",
    );
    expect(bytes).toBe(Buffer.byteLength(JSON.stringify(acl)));
  });
});

describe("metrics: readiness follows the homeserver", () => {
  let own: Synapse;
  let bot: RunningBot | undefined;

  beforeAll(async () => {
    own = await Synapse.create({ dir: join(DEV_DIR, `test-synapse-metrics-${process.pid}`) });
  });
  afterAll(async () => {
    await bot?.stop();
    await own.stop();
    rmSync(own.dir, { recursive: true, force: true });
  });

  it("is not ready while Synapse is down, alive throughout, and ready again after it returns", async () => {
    const b = await own.register("tyr");
    const mod = new TestUser(own.url, await own.register("mod"));
    const mgmt = await mod.createRoom({ invite: [b.userId] });
    const c = await metricsConfig(own.url, b.accessToken, mgmt, false);
    bot = await runBot(c.loaded);
    const readyz = async () => {
      const r = await fetch(`${c.base}/readyz`);
      return { status: r.status, body: (await r.json()) as { notReady?: string[] } };
    };
    await eventually(async () => (await readyz()).status === 200, 30_000, "ready");

    await own.stop();
    const down = await eventually(
      async () => {
        const r = await readyz();
        return r.status === 503 ? r : undefined;
      },
      60_000,
      "not ready while Synapse is down",
    );
    expect(down.body.notReady?.join(" ")).toMatch(/^sync: /);
    expect((await fetch(`${c.base}/healthz`)).status).toBe(200);
    const text = await (await fetch(`${c.base}/metrics`)).text();
    expect(sample(text, "tyr_sync_consecutive_failures")).toBeGreaterThan(0);
    expect(sample(text, "tyr_sync_failures_total")).toBeGreaterThan(0);

    await own.start();
    await eventually(
      async () => (await readyz()).status === 200,
      60_000,
      "ready again after Synapse returned",
    );
  });
});

describe("metrics: safe mode", () => {
  let bot: RunningBot | undefined;
  afterAll(async () => {
    await bot?.stop();
  });

  it("is not ready in safe mode, says why in /readyz, and counts the reasons", async () => {
    // Broken protection settings: the lists load and sync is fine, yet Tyr moderates nothing.
    const { tyr, mod, mgmt, list } = await policyListCast(synapse, { listName: "safe-mode list" });
    await tyr.join(mgmt);
    await tyr.join(list);
    await watchAndProtect(tyr, { watchedLists: [list], protectedRooms: [] });
    await tyr.api(
      "PUT",
      `/_matrix/client/v3/user/${encodeURIComponent(tyr.userId)}/account_data/${TYR_PROTECTIONS_KEY}`,
      { protections: { "media-filter": { settings: { blocked: ["bogus"] } } } },
    );
    const c = await metricsConfig(synapse.url, tyr.accessToken, mgmt, false);
    bot = await runBot(c.loaded);
    await mod.waitForNotice(mgmt, tyr.userId, /Tyr is in safe mode/);
    const r = await fetch(`${c.base}/readyz`);
    expect(r.status).toBe(503);
    const body = (await r.json()) as { status: string; notReady: string[] };
    expect(body.status).toBe("not ready");
    expect(body.notReady).toEqual([expect.stringMatching(/^safe mode: the protection settings .*; fix: /)]);
    const text = await (await fetch(`${c.base}/metrics`)).text();
    expect(sample(text, "tyr_safe_mode_reasons")).toBe(1);
  });
});
