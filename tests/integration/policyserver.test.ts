// Tyr as the MSC4284 policy server of a room, with two real federating Synapses. Tyr's account is
// on hs1, so the room's m.room.policy names hs1's server name (`via` must be in the room); hs2
// sends its sign requests to that name, where a reverse proxy (as an admin runs nginx in front of
// Synapse) passes /_matrix/policy/ to Tyr and everything else to hs1. hs1 never asks itself
// (Synapse skips a policy server that is its own name), so the test's users are on hs2.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { DEV_DIR, freePort, type Synapse } from "../harness/synapse.ts";
import { federatedHomeserver } from "../harness/federation.ts";
import { startFederationProxy, type FederationProxy } from "../harness/federationProxy.ts";
import { selfSignedCert } from "../harness/tls.ts";
import { TestUser, eventually, type SeenEvent } from "../harness/user.ts";
import { policyListCast, runBot, testConfig, watchAndProtect, type RunningBot } from "../harness/bot.ts";
import type { PolicyServerFeature } from "../../src/policyserver/feature.ts";
import type { PolicyFeature } from "../../src/policy/feature.ts";

const enc = encodeURIComponent;
const root = join(DEV_DIR, `policyserver-${process.pid}`);

async function refused(p: Promise<unknown>): Promise<{ status: number; body: { errcode?: string } }> {
  try {
    await p;
  } catch (e) {
    return e as { status: number; body: { errcode?: string } };
  }
  throw new Error("expected the homeserver to refuse the event");
}

describe("policy server (MSC4284) over federation", () => {
  let hs1: Synapse;
  let hs2: Synapse;
  let proxy: FederationProxy;
  let bot: RunningBot;
  let tyr: TestUser;
  let mod: TestUser;
  let maintainer: TestUser;
  let remote: TestUser;
  let banned: TestUser;
  let mgmt: string;
  let list: string;
  let room: string;

  const feature = () => bot.bot.feature("policyserver") as PolicyServerFeature;

  const bodies = async (u: TestUser) =>
    (
      await u.api<{ chunk: SeenEvent[] }>(
        "GET",
        `/_matrix/client/v3/rooms/${enc(room)}/messages?dir=b&limit=100&filter=${enc(JSON.stringify({ types: ["m.room.message"] }))}`,
      )
    ).chunk.map((e) => String(e.content.body));

  /** The reply to a command (matched by in_reply_to), its body without backticks checked against `answer`. */
  const command = async (text: string, answer: RegExp) => {
    const id = await mod.sendText(mgmt, `!tyr ${text}`);
    const reply = await mod.waitForReply(mgmt, tyr.userId, id, `the reply to "${text}"`);
    expect(String(reply.content.body).replaceAll("`", "")).toMatch(answer);
    return reply;
  };
  const confirm = (preview: { event_id: string }) =>
    mod.send(
      mgmt,
      { "m.relates_to": { rel_type: "m.annotation", event_id: preview.event_id, key: "✅" } },
      "m.reaction",
    );

  beforeAll(async () => {
    rmSync(root, { recursive: true, force: true });
    mkdirSync(root, { recursive: true });
    const [proxyPort, fed1, tyrPort] = [await freePort(), await freePort(), await freePort()];
    const { cert, key } = selfSignedCert(join(root, "certs"), "hs1.localhost");
    proxy = await startFederationProxy({ port: proxyPort, cert, key, homeserverPort: fed1, tyrPort });
    [hs1, hs2] = await Promise.all([
      // hs1's server name points at the proxy; its own federation listener is behind it.
      federatedHomeserver(root, "hs1.localhost", {
        serverName: `hs1.localhost:${proxyPort}`,
        federation: { port: fed1, tlsCertPath: cert, tlsKeyPath: key },
      }),
      federatedHomeserver(root, "hs2.localhost"),
    ]);
    ({ tyr, mod, maintainer, mgmt, list } = await policyListCast(hs1));
    [remote, banned] = await Promise.all([
      hs2.register("remote").then((c) => new TestUser(hs2.url, c)),
      hs2.register("banned").then((c) => new TestUser(hs2.url, c)),
    ]);
    // Tyr may send state (m.room.policy) but not ban: a refused event is the policy server's
    // doing, not a ban by Tyr's policy sync.
    room = await mod.createRoom({
      preset: "public_chat",
      invite: [tyr.userId],
      power_level_content_override: { users: { [tyr.userId]: 50 }, ban: 100, kick: 100 },
    });
    await tyr.join(room);
    await tyr.join(list);
    for (const u of [remote, banned])
      await eventually(
        () =>
          u
            .api("POST", `/_matrix/client/v3/join/${enc(room)}?server_name=${enc(hs1.serverName)}`, {})
            .then(() => true),
        60_000,
        `${u.userId} joins over federation`,
      );
    await watchAndProtect(tyr, { watchedLists: [list], protectedRooms: [room] });
    bot = await runBot(
      testConfig({
        url: hs1.url,
        accessToken: tyr.accessToken,
        managementRoom: mgmt,
        dataPath: join(root, "tyr-data"),
        extra: {
          encryption: { enabled: false },
          http: { port: tyrPort },
          policyServer: { enabled: true, testOnlyInsecureKeyFetch: true, summaryIntervalSeconds: 10 },
        },
      }),
    );
    await eventually(async () => feature().ready, 30_000, "the policy server is ready");
    await mod.catchUp();
    await command("protections enable word-list", /word-list is now on/);
    await command("protections set word-list patterns cryptoscam", /patterns/);
    await command("protections set word-list enforceAtServer on", /enforceAtServer/);
  }, 300_000);

  afterAll(async () => {
    if (process.env.TYR_DEBUG_LOGS)
      for (const l of bot?.logs ?? [])
        if (/policy|warn|error/i.test(JSON.stringify(l))) console.log(JSON.stringify(l));
    await bot?.stop();
    await Promise.all([hs1?.stop(), hs2?.stop(), proxy?.stop()]);
    rmSync(root, { recursive: true, force: true });
  });

  it("enable sets m.room.policy with Tyr's key after a preview and ✅", async () => {
    const preview = await command(`policyserver enable ${room}`, /Make Tyr the policy server/);
    const state = () =>
      mod.api<Record<string, unknown>>("GET", `/_matrix/client/v3/rooms/${enc(room)}/state/m.room.policy/`);
    await expect(state()).rejects.toMatchObject({ status: 404 }); // nothing before the ✅
    await confirm(preview);
    await mod.waitForNotice(mgmt, tyr.userId, /now names Tyr/);
    expect(await state()).toEqual({
      via: hs1.serverName,
      public_keys: { ed25519: feature().key.publicKeyBase64 },
    });
    // hs2 has the state too before the next test relies on it.
    await eventually(
      () =>
        remote
          .api<Record<string, unknown>>("GET", `/_matrix/client/v3/rooms/${enc(room)}/state/m.room.policy/`)
          .then((s) => s["via"] === hs1.serverName),
      30_000,
      "hs2 sees m.room.policy",
    );
  });

  it("a remote word-list hit never appears on either server; a clean message appears on both", async () => {
    const before = proxy.policyRequests();
    // hs2 refuses its own user's event and relays Tyr's answer.
    const e = await refused(remote.sendText(room, "buy cryptoscam now"));
    expect(e.body.errcode).toBe("M_FORBIDDEN");
    expect(proxy.policyRequests()).toBeGreaterThan(before); // hs2 asked Tyr through the proxy
    // hs2 only accepts it with a policy signature that verifies against the key in m.room.policy
    // (Synapse checks it over the redacted event): this is Tyr's signing checked by Synapse itself.
    await remote.sendText(room, "a clean remote message");
    for (const u of [mod, remote])
      await eventually(
        async () => (await bodies(u)).includes("a clean remote message"),
        30_000,
        "clean message",
      );
    expect(await bodies(mod)).not.toContain("buy cryptoscam now");
    expect(await bodies(remote)).not.toContain("buy cryptoscam now");
    const status = await command("policyserver status", /sign requests in the last hour/);
    expect(String(status.content.body)).toMatch(/names Tyr/);
    expect(String(status.content.body)).toMatch(/hs2\.localhost:\d+ \d+ \(1 refused\)/);
  });

  it("a user the watched list bans cannot get any event in", async () => {
    await banned.sendText(room, "before the ban");
    await eventually(async () => (await bodies(mod)).includes("before the ban"), 30_000, "before the ban");
    await maintainer.setState(list, "m.policy.rule.user", "banned", {
      entity: banned.userId,
      recommendation: "m.ban",
      reason: "spam wave",
    });
    const policy = bot.bot.feature("policy") as PolicyFeature;
    await eventually(
      async () => policy.matcher.decideUser(banned.userId).action !== "none",
      30_000,
      "Tyr has the rule",
    );
    const e = await refused(banned.sendText(room, "after the ban"));
    expect(e.body.errcode).toBe("M_FORBIDDEN");
    // Tyr cannot ban in this room: the user is still joined, only their events are refused.
    expect(await mod.membership(room, banned.userId)).toBe("join");
    expect(await bodies(mod)).not.toContain("after the ban");
  });

  it("refusals are in the action log and `log`, and summarised once in the management room", async () => {
    const refusals = () =>
      bot.bot.actionLog.query({ limit: 100 }).filter((r) => r.kind === "refuse" && r.room === room);
    await eventually(async () => refusals().length >= 2, 10_000, "refusals in the action log");
    const reasons = refusals()
      .map((r) => r.reason)
      .join("\n");
    expect(reasons).toMatch(
      /m\.room\.message refused by the policy server \(asked by hs2\.localhost:\d+\): word-list/,
    );
    expect(reasons).toMatch(/is banned by/);
    await command(`log ${remote.userId}`, /refuse/);
    await mod.waitForNotice(mgmt, tyr.userId, /Policy server: refused to sign \d+ events?/, 30_000);
  });

  it("disable removes the policy server: the same message goes through", async () => {
    const preview = await command(`policyserver disable ${room}`, /Remove the policy server/);
    await confirm(preview);
    await mod.waitForNotice(mgmt, tyr.userId, /has no policy server any more/);
    const sent = await eventually(
      () => remote.sendText(room, "buy cryptoscam now").catch(() => undefined),
      30_000,
      "the message goes through once the policy server is removed",
    );
    // It reaches hs1 (where Tyr's ordinary word-list protection may then redact it: that is the
    // live pipeline, not the policy server).
    await eventually(
      () => mod.api("GET", `/_matrix/client/v3/rooms/${enc(room)}/event/${enc(sent)}`).then(() => true),
      30_000,
      "delivered to hs1",
    );
  });
});
