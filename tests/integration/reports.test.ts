// Abuse reports against a real Synapse: a member reports a message with the client API, and Tyr
// (a server admin) relays it into the management room once — not the backlog from before it
// started, not again after a restart — and deactivates a reported local account on request. A Tyr
// that is not a server admin says so instead.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Synapse } from "../harness/synapse.ts";
import { TestUser, eventually } from "../harness/user.ts";
import { runBot, testConfig, watchAndProtect, type RunningBot } from "../harness/bot.ts";
import { REPORTS_CURSOR_FILE } from "../../src/reports/feature.ts";

const synapse = Synapse.attach(inject("synapse"));
const enc = encodeURIComponent;

const user = (name: string, admin = false) => TestUser.register(synapse, name, { admin });

describe("abuse reports", () => {
  let tyr: TestUser;
  let mod: TestUser;
  let reporter: TestUser;
  let spammer: TestUser;
  let mgmt: string;
  let room: string;
  let bot: RunningBot | undefined;
  let dataPath: string;

  const report = (eventId: string, reason: string) =>
    reporter.api("POST", `/_matrix/client/v3/rooms/${enc(room)}/report/${enc(eventId)}`, {
      reason,
      score: -100,
    });
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
    await eventually(async () => existsSync(join(dataPath, REPORTS_CURSOR_FILE)), 15_000, "the first poll");
  };
  const relays = async (match: RegExp) => {
    await mod.sync(0);
    return (mod.seen.get(mgmt) ?? []).filter(
      (e) => e.sender === tyr.userId && match.test(String(e.content.body ?? "")),
    );
  };

  beforeAll(async () => {
    [tyr, mod, reporter, spammer] = await Promise.all([
      user("tyr-reports", true),
      user("mod-reports"),
      user("reporter"),
      user("spammer-reports"),
    ]);
    mgmt = await mod.createRoom({ invite: [tyr.userId] });
    room = await mod.createRoom({
      preset: "public_chat",
      invite: [tyr.userId],
      power_level_content_override: { users: { [tyr.userId]: 100 } },
    });
    for (const u of [tyr, reporter, spammer]) await u.join(room);
    await watchAndProtect(tyr, { watchedLists: [], protectedRooms: [room] });
  });
  afterAll(async () => {
    await bot?.stop();
  });

  it("relays a new report with the message and the commands to act, once, across a restart", async () => {
    const old = await spammer.sendText(room, "an old message");
    await report(old, "backlog report");
    await start();
    await mod.catchUp();

    const spam = await spammer.sendText(room, "buy cheap followers at evil.example");
    await report(spam, "spam <b>links</b>");
    const notice = await mod.waitForNotice(mgmt, tyr.userId, /Report event-\d+ by/);
    const body = String(notice.content.body);
    expect(body).toContain(reporter.userId);
    expect(body).toContain(`${spammer.userId}\`'s message`);
    expect(body).toContain("(protected)");
    expect(body).toContain("Reason: spam <b>links</b>");
    expect(body).toContain("buy cheap followers at evil.example");
    expect(body).toMatch(/!tyr redact https:\/\/matrix\.to\/#\//);
    expect(String(notice.content.formatted_body)).not.toContain("<b>links</b>");
    const id = /Report (event-\d+)/.exec(body)?.[1];

    await bot!.stop();
    await start();
    const later = await spammer.sendText(room, "more spam");
    await report(later, "again");
    await mod.waitForNotice(mgmt, tyr.userId, /Reason: again/);
    expect(await relays(new RegExp(`Report ${id} by`))).toHaveLength(1);
    expect(await relays(/backlog report/)).toHaveLength(0);
    expect(bot!.bot.feature("reports")).toBeDefined();
  });

  it("deactivates a local spam account after ✅, never a moderator or another server's user", async () => {
    const victim = await user("deactivate-me");
    await victim.join(room);
    await mod.catchUp();
    await mod.sendText(mgmt, `!tyr deactivate ${victim.userId} spam account`);
    const preview = await mod.waitForNotice(mgmt, tyr.userId, /Deactivate .* cannot be undone/s);
    await mod.send(
      mgmt,
      { "m.relates_to": { rel_type: "m.annotation", event_id: preview.event_id, key: "✅" } },
      "m.reaction",
    );
    await mod.waitForNotice(mgmt, tyr.userId, /Deactivated .*logged out everywhere/);
    const whoami = await fetch(`${synapse.url}/_matrix/client/v3/account/whoami`, {
      headers: { authorization: `Bearer ${victim.accessToken}` },
    });
    expect(whoami.status).toBe(401);
    expect(await mod.membership(room, victim.userId)).toBe("leave");

    await mod.sendText(mgmt, `!tyr deactivate ${mod.userId} --yes`);
    await mod.waitForNotice(mgmt, tyr.userId, /Not deactivating: .*management room/);
    await mod.sendText(mgmt, "!tyr deactivate @someone:other.example --yes");
    await mod.waitForNotice(mgmt, tyr.userId, /not an account of .*ban <list>/);
    const moderatorWhoami = await fetch(`${synapse.url}/_matrix/client/v3/account/whoami`, {
      headers: { authorization: `Bearer ${mod.accessToken}` },
    });
    expect(moderatorWhoami.status).toBe(200);
  });

  it("tells the moderators once when Tyr is not a server admin", async () => {
    const plain = await user("tyr-not-admin");
    const mgmt2 = await mod.createRoom({ invite: [plain.userId] });
    const other = await runBot(
      testConfig({
        url: synapse.url,
        accessToken: plain.accessToken,
        managementRoom: mgmt2,
        extra: { reports: { enabled: true, pollSeconds: 1 } },
      }),
    );
    try {
      await mod.waitForNotice(mgmt2, plain.userId, /cannot relay abuse reports: .* is not a server admin/);
      await new Promise((r) => setTimeout(r, 3_000)); // three more polls
      await mod.sync(0);
      const told = (mod.seen.get(mgmt2) ?? []).filter((e) =>
        /cannot relay abuse reports/.test(String(e.content.body)),
      );
      expect(told).toHaveLength(1);
      // Admin commands fail with the reason, and nothing happens.
      const bystander = await user("not-deactivated");
      await mod.sendText(mgmt2, `!tyr deactivate ${bystander.userId} --yes`);
      await mod.waitForNotice(mgmt2, plain.userId, /deactivate failed: .*is not a server admin/);
    } finally {
      await other.stop();
    }
  });
});
