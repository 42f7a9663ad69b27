// Server ACLs across real federation: two Synapse homeservers on loopback, federating over TLS with
// self-signed certificates. A user of the second server talks in a room protected by Tyr on the
// first; once a watched list denies the second server, its messages stop reaching the room — and
// flow again when the rule is lifted.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { DEV_DIR, type Synapse } from "../harness/synapse.ts";
import { federatedHomeserver } from "../harness/federation.ts";
import { TestUser, eventually, type SeenEvent } from "../harness/user.ts";
import { policyListCast, runBot, testConfig, watchAndProtect, type RunningBot } from "../harness/bot.ts";

const enc = encodeURIComponent;
const root = join(DEV_DIR, `federation-${process.pid}`);

const homeserver = (host: string) => federatedHomeserver(root, host);

describe("server ACL over federation", () => {
  let hs1: Synapse;
  let hs2: Synapse;
  let bot: RunningBot;
  let tyr: TestUser;
  let mod: TestUser;
  let maintainer: TestUser;
  let remote: TestUser;
  let room: string;
  let list: string;
  let mgmt: string;

  /** Message bodies in `room` as hs1 sees them. */
  const bodiesOnHs1 = async () =>
    (
      await mod.api<{ chunk: SeenEvent[] }>(
        "GET",
        `/_matrix/client/v3/rooms/${enc(room)}/messages?dir=b&limit=100&filter=${enc(JSON.stringify({ types: ["m.room.message"] }))}`,
      )
    ).chunk.map((e) => String(e.content.body));

  beforeAll(async () => {
    rmSync(root, { recursive: true, force: true });
    [hs1, hs2] = await Promise.all([homeserver("hs1.localhost"), homeserver("hs2.localhost")]);
    ({ tyr, mod, maintainer, mgmt, list } = await policyListCast(hs1));
    remote = new TestUser(hs2.url, await hs2.register("remote"));

    room = await mod.createRoom({
      preset: "public_chat",
      invite: [tyr.userId],
      power_level_content_override: { users: { [tyr.userId]: 100 } },
    });
    await tyr.join(room);
    await tyr.join(list);
    await watchAndProtect(tyr, { watchedLists: [list], protectedRooms: [room] });
    bot = await runBot(testConfig({ url: hs1.url, accessToken: tyr.accessToken, managementRoom: mgmt }));
  }, 240_000);

  afterAll(async () => {
    await bot?.stop();
    await Promise.all([hs1?.stop(), hs2?.stop()]);
    rmSync(root, { recursive: true, force: true });
  });

  it("a denied server's user no longer reaches the protected room; lifting the rule lets it back", async () => {
    // Federation works: the remote user joins over TLS and is heard.
    const hs1Name = hs1.serverName;
    const hs2Host = hs2.serverName.replace(/:\d+$/, "");
    await eventually(
      () =>
        remote
          .api("POST", `/_matrix/client/v3/join/${enc(room)}?server_name=${enc(hs1Name)}`, {})
          .then(() => true),
      60_000,
      "remote user joins over federation",
    );
    const t0 = Date.now();
    await remote.sendText(room, "hello before the ACL");
    await eventually(
      async () => (await bodiesOnHs1()).includes("hello before the ACL"),
      30_000,
      "message before the ACL",
    );
    const deliveryMs = Date.now() - t0;

    // The list denies the remote server: Tyr writes the ACL.
    await maintainer.setState(list, "m.policy.rule.server", "hs2", {
      entity: hs2Host,
      recommendation: "m.ban",
      reason: "test",
    });
    const acl = await eventually(
      async () => {
        const c = await mod.getState<{ deny?: string[]; allow?: string[] }>(room, "m.room.server_acl");
        return c?.deny?.includes(hs2Host) ? c : undefined;
      },
      30_000,
      "ACL denying hs2",
    );
    expect(acl.allow).toEqual(["*"]);
    // The receiving server (hs1) enforces its room's ACL on every event hs2 sends it.
    await remote.sendText(room, "hello after the ACL");
    // Wait far longer than delivery took before the ACL.
    await new Promise((r) => setTimeout(r, Math.max(8_000, deliveryMs * 10)));
    const seen = await bodiesOnHs1();
    expect(seen).toContain("hello before the ACL");
    expect(seen).not.toContain("hello after the ACL");
    // ...because hs1 refused it for the ACL (hs2 logs the refusal of its transaction).
    expect(readFileSync(join(hs2.dir, "homeserver.log"), "utf8")).toContain("Server is banned from room");
    // hs1's own users are not affected.
    await mod.sendText(room, "local still fine");
    await eventually(async () => (await bodiesOnHs1()).includes("local still fine"), 10_000, "local message");

    // Lift the rule: the ACL follows and the remote server is heard again.
    await maintainer.setState(list, "m.policy.rule.server", "hs2", {});
    await eventually(
      async () => (await mod.getState<{ deny?: string[] }>(room, "m.room.server_acl"))?.deny?.length === 0,
      30_000,
      "ACL lifted",
    );
    await remote.sendText(room, "hello once allowed again");
    await eventually(
      async () => (await bodiesOnHs1()).includes("hello once allowed again"),
      60_000,
      "message after lifting",
    );
  });

  it("with acl.banMembersOfDeniedServers, members of a denied server are banned too (and unbanned when lifted)", async () => {
    const dataPath = bot.dataPath; // same device, same crypto store
    await bot.stop();
    bot = await runBot(
      testConfig({
        url: hs1.url,
        accessToken: tyr.accessToken,
        managementRoom: mgmt,
        dataPath,
        extra: { acl: { banMembersOfDeniedServers: true } },
      }),
    );
    const hs2Host = hs2.serverName.replace(/:\d+$/, "");
    expect(await mod.membership(room, remote.userId)).toBe("join");
    await maintainer.setState(list, "m.policy.rule.server", "hs2", {
      entity: hs2Host,
      recommendation: "m.ban",
      reason: "test",
    });
    await eventually(
      async () => (await mod.membership(room, remote.userId)) === "ban",
      30_000,
      "remote member banned",
    );
    await eventually(
      async () => (await mod.getState<{ deny?: string[] }>(room, "m.room.server_acl"))?.deny?.[0] === hs2Host,
      30_000,
      "ACL denying hs2",
    );
    expect(await mod.membership(room, mod.userId)).toBe("join");
    await maintainer.setState(list, "m.policy.rule.server", "hs2", {});
    await eventually(
      async () => (await mod.membership(room, remote.userId)) === "leave",
      30_000,
      "remote member unbanned",
    );
    await eventually(
      async () =>
        !((await mod.getState<{ deny?: string[] }>(room, "m.room.server_acl"))?.deny ?? []).includes(hs2Host),
      60_000,
      "ACL no longer denying hs2",
    );
  });

  it("a rule naming the server with its port (any case) bans its members and denies its host in the ACL", async () => {
    // Issue #12: `hs2.localhost:<port>` is what hs2's user IDs carry; the ACL ignores ports, and so
    // must the member bans. (The bot still runs with acl.banMembersOfDeniedServers from above.)
    const hs2Host = hs2.serverName.replace(/:\d+$/, "");
    expect(remote.userId.endsWith(`:${hs2.serverName}`)).toBe(true);
    await eventually(
      () =>
        remote
          .api("POST", `/_matrix/client/v3/join/${enc(room)}?server_name=${enc(hs1.serverName)}`, {})
          .then(() => true),
      60_000,
      "remote user joins again",
    );
    await eventually(async () => (await mod.membership(room, remote.userId)) === "join", 30_000, "rejoined");
    await maintainer.setState(list, "m.room.rule.server", "hs2-port", {
      entity: hs2.serverName.toUpperCase(),
      recommendation: "m.ban",
      reason: "test: rule with a port",
    });
    await eventually(
      async () => (await mod.membership(room, remote.userId)) === "ban",
      30_000,
      "member of the port-named server banned",
    );
    const acl = await eventually(
      async () => {
        const c = await mod.getState<{ deny?: string[] }>(room, "m.room.server_acl");
        return c?.deny?.includes(hs2Host) ? c : undefined;
      },
      30_000,
      "ACL denying the host of the port-named server",
    );
    expect(acl.deny).toEqual([hs2Host]);
    expect(await mod.membership(room, mod.userId)).toBe("join");
    await maintainer.setState(list, "m.room.rule.server", "hs2-port", {});
    await eventually(
      async () => (await mod.membership(room, remote.userId)) === "leave",
      30_000,
      "member unbanned when the rule goes",
    );
  });
});
