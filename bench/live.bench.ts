// Live benchmark (issue #16, "Measured at scale"): the real bot, started as `tyr run` starts it
// (startBot, through the test harness's runBot), against a real Synapse the bench starts with
// Synapse's DEFAULT rate limits. 100 protected rooms, one spammer in all of them; one new user
// rule in a watched list → the time until the spammer is banned in all 100 rooms, read from
// Synapse (the admin API's joined rooms of the spammer, polled every 100 ms).
//
// Twice: with the bot exempt from rate limits (what admins are told to do: Synapse's admin API
// `override_ratelimit` with 0 messages per second), and under the default limits. Bans are
// membership events, which Synapse sends through the same request limiter as messages
// (`rc_message`: 0.2/s, burst 10, in synapse/handlers/message.py `handle_new_client_event`), so
// under the default limits 100 bans cannot take less than (100 − 10) / 0.2 = 450 s.
// The setup users (moderator, spammer, and the bot while it joins) are exempt, so only the bans
// meet the limiter. Takes ~10 minutes (most of it the 450 s floor).
import { rmSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { DEV_DIR, Synapse } from "../tests/harness/synapse.ts";
import { TestUser } from "../tests/harness/user.ts";
import { runBot, testConfig } from "../tests/harness/bot.ts";
import { PROTECTED_ROOMS_KEY, WATCHED_LISTS_KEY } from "../src/policy/settings.ts";
import type { BenchResult } from "./types.ts";

const ROOMS = 100;
/** Synapse's default rc_message, the limiter bans go through. */
const RC_MESSAGE = { perSecond: 0.2, burst: 10 };
const enc = encodeURIComponent;

/** Runs `fn` over `items`, `width` at a time (setup only: keeps Synapse busy without flooding it). */
async function inBatches<T>(
  items: readonly T[],
  width: number,
  fn: (x: T) => Promise<unknown>,
): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(fn));
}

interface Outcome {
  /** From the rule sent to the first ban done. */
  firstBanS: number;
  /** Messages Tyr sent meanwhile (progress notices and their edits). */
  sends: number;
  seconds: number;
  rateLimited: number;
  requests: number;
}

export async function banAcross100Rooms(
  synapse: Synapse,
  admin: TestUser,
  exempt: boolean,
): Promise<Outcome> {
  const tag = exempt ? "exempt" : "limited";
  const user = async (name: string) => new TestUser(synapse.url, await synapse.register(`${name}-${tag}`));
  const [tyr, mod, spammer] = await Promise.all([user("tyr"), user("mod"), user("spammer")]);
  const override = (u: TestUser, method: "POST" | "DELETE") =>
    admin.api(
      method,
      `/_synapse/admin/v1/users/${enc(u.userId)}/override_ratelimit`,
      method === "POST" ? { messages_per_second: 0, burst_count: 0 } : undefined,
    );
  for (const u of [tyr, mod, spammer]) await override(u, "POST");

  const mgmt = await mod.createRoom({ invite: [tyr.userId] });
  const list = await mod.createRoom({ preset: "public_chat", creation_content: { type: "m.policy" } });
  const rooms: string[] = [];
  await inBatches(
    Array.from({ length: ROOMS }, (_, i) => i),
    10,
    async () =>
      rooms.push(
        await mod.createRoom({
          preset: "public_chat",
          invite: [tyr.userId],
          power_level_content_override: { users: { [tyr.userId]: 100 } },
        }),
      ),
  );
  await inBatches([mgmt, list, ...rooms], 10, (r) => tyr.join(r));
  await inBatches(rooms, 10, (r) => spammer.join(r));
  const accountData = (type: string, content: unknown) =>
    tyr.api("PUT", `/_matrix/client/v3/user/${enc(tyr.userId)}/account_data/${type}`, content);
  await accountData(WATCHED_LISTS_KEY, { references: [list] });
  await accountData(PROTECTED_ROOMS_KEY, { rooms });
  if (!exempt) await override(tyr, "DELETE");

  const joinedRooms = async () =>
    (
      await admin.api<{ total: number }>(
        "GET",
        `/_synapse/admin/v1/users/${enc(spammer.userId)}/joined_rooms`,
      )
    ).total;
  if ((await joinedRooms()) !== ROOMS) throw new Error("the spammer is not in every room");

  const bot = await runBot(
    testConfig({
      url: synapse.url,
      accessToken: tyr.accessToken,
      managementRoom: mgmt,
      extra: { logLevel: "warn" },
    }),
  );
  try {
    // Start-up reconciliation has nothing to do; let it finish before the clock starts.
    await new Promise((r) => setTimeout(r, 2_000));
    const stats = bot.bot.client.transport.stats;
    const before = { rateLimited: stats.rateLimited, requests: stats.requests };
    const banTimes: number[] = [];
    const sends: number[] = [];
    bot.bot.queue.observe((c, r) => {
      if (c.kind === "ban" && r.outcome === "done") banTimes.push(performance.now());
      if (c.kind === "send" || c.kind === "notify") sends.push(performance.now());
    });
    const t0 = performance.now();
    await mod.setState(list, "m.policy.rule.user", "bench-spammer", {
      entity: spammer.userId,
      recommendation: "m.ban",
      reason: "bench",
    });
    const deadline = t0 + (exempt ? 120_000 : 1_200_000);
    while ((await joinedRooms()) > 0) {
      if (performance.now() > deadline)
        throw new Error(`not banned everywhere after ${(deadline - t0) / 1000} s`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const seconds = (performance.now() - t0) / 1000;
    for (const r of [rooms[0]!, rooms[ROOMS - 1]!]) {
      const m = await mod.membership(r, spammer.userId);
      if (m !== "ban") throw new Error(`the spammer's membership in ${r} is ${m}, not ban`);
    }
    return {
      firstBanS: (banTimes[0]! - t0) / 1000,
      sends: sends.length,
      seconds,
      rateLimited: stats.rateLimited - before.rateLimited,
      requests: stats.requests - before.requests,
    };
  } finally {
    await bot.stop();
  }
}

export async function run(): Promise<BenchResult[]> {
  const dir = join(DEV_DIR, `bench-synapse-live-${process.pid}`);
  const synapse = await Synapse.create({ dir, rateLimits: "default" });
  try {
    const admin = new TestUser(synapse.url, await synapse.register("benchadmin", { admin: true }));
    const load0 = loadavg()[0]!;
    const exempt = await banAcross100Rooms(synapse, admin, true);
    const limited = await banAcross100Rooms(synapse, admin, false);
    const load = `load ${load0.toFixed(1)}→${loadavg()[0]!.toFixed(1)}`;
    const floorS = (ROOMS - RC_MESSAGE.burst) / RC_MESSAGE.perSecond;
    const ceiling = ROOMS / floorS;
    const actionsPerS = ROOMS / limited.seconds;
    return [
      {
        name: "live.ban_100_rooms_s",
        value: round(exempt.seconds, 2),
        unit: "s",
        note: `real Synapse (default limits, bot exempt via override_ratelimit): one new user rule → the spammer banned in all ${ROOMS} protected rooms (first ban after ${round(exempt.firstBanS, 2)} s); ${exempt.requests} requests by Tyr, ${exempt.rateLimited} answered 429, ${exempt.sends} progress messages/edits; ${load}`,
      },
      {
        name: "live.ban_100_rooms_default_limits_s",
        value: round(limited.seconds, 1),
        unit: "s",
        note: `same, bot NOT exempt: Synapse's default rc_message (${RC_MESSAGE.perSecond}/s, burst ${RC_MESSAGE.burst}) puts the floor at ${floorS} s; ${limited.requests} requests by Tyr, ${limited.rateLimited} answered 429, ${limited.sends} progress messages/edits (each takes a slot of the same limit)`,
      },
      {
        name: "live.default_limits_actions_per_s",
        value: round(actionsPerS, 3),
        unit: "/s",
        baseline: round(ceiling, 3),
        ratio: round(actionsPerS / ceiling, 2),
        note: `bans per second under the default limits against the limiter's ceiling for ${ROOMS} bans (${ROOMS} in ${floorS} s after the burst)`,
      },
    ];
  } finally {
    await synapse.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
