// Media quarantine against a real Synapse: an upload, everything a local account uploaded, or
// every file a room refers to is quarantined through Tyr, after which the server no longer serves
// it (the download answers 404) while other media still downloads. The wide forms wait for ✅;
// Tyr refuses moderators' media and says clearly when it is not a server admin.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Synapse } from "../harness/synapse.ts";
import { TestUser } from "../harness/user.ts";
import { runBot, testConfig, type RunningBot } from "../harness/bot.ts";

const synapse = Synapse.attach(inject("synapse"));

const user = (name: string, admin = false) => TestUser.register(synapse, name, { admin });

/** Uploads a small file as `u`; returns its mxc URI. */
async function upload(u: TestUser, body: string): Promise<string> {
  const res = await fetch(`${synapse.url}/_matrix/media/v3/upload?filename=f.txt`, {
    method: "POST",
    headers: { Authorization: `Bearer ${u.accessToken}`, "Content-Type": "text/plain" },
    body,
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { content_uri: string }).content_uri;
}

/** The HTTP status of downloading `mxc` as `u` (authenticated media). */
async function download(u: TestUser, mxc: string): Promise<number> {
  const path = mxc.slice("mxc://".length);
  const res = await fetch(`${synapse.url}/_matrix/client/v1/media/download/${path}`, {
    headers: { Authorization: `Bearer ${u.accessToken}` },
  });
  await res.arrayBuffer();
  return res.status;
}

describe("media quarantine", () => {
  let tyr: TestUser;
  let mod: TestUser;
  let mgmt: string;
  let bot: RunningBot | undefined;

  const command = async (text: string, answer: RegExp) => {
    await mod.sendText(mgmt, text);
    return mod.waitForNotice(mgmt, tyr.userId, answer);
  };
  beforeAll(async () => {
    [tyr, mod] = await Promise.all([user("tyr-media", true), user("mod-media")]);
    mgmt = await mod.createRoom({ invite: [tyr.userId] });
    bot = await runBot(testConfig({ url: synapse.url, accessToken: tyr.accessToken, managementRoom: mgmt }));
  });
  afterAll(async () => {
    await bot?.stop();
  });

  it("quarantines one upload at once: it no longer downloads, other media still does", async () => {
    const uploader = await user("media-one");
    const [bad, good] = [await upload(uploader, "bad"), await upload(uploader, "good")];
    expect(await download(mod, bad)).toBe(200);
    await mod.catchUp();
    await command(`!tyr media quarantine ${bad} abuse`, /^Quarantined `mxc:.*no longer serves it/);
    expect(await download(mod, bad)).toBe(404);
    expect(await download(uploader, bad)).toBe(404);
    expect(await download(mod, good)).toBe(200);
    const logged = bot!.bot.actionLog.query({ about: bad }).find((r) => r.kind === "quarantineMedia");
    expect(logged).toMatchObject({ outcome: "done", actor: mod.userId, reason: "abuse", target: bad });
  });

  it("a local account's uploads: preview with the count, nothing before ✅, then all of them", async () => {
    const uploader = await user("media-all");
    const files = [await upload(uploader, "one"), await upload(uploader, "two")];
    await mod.catchUp();
    const preview = await command(
      `!tyr media quarantine ${uploader.userId}`,
      /Quarantine every file .* uploaded to .*\(2 now\)\?/s,
    );
    for (const f of files) expect(await download(mod, f)).toBe(200); // nothing before the ✅
    await mod.react(mgmt, preview.event_id, "✅");
    await mod.waitForNotice(mgmt, tyr.userId, /^Quarantined 2 files of `@/);
    for (const f of files) expect(await download(mod, f)).toBe(404);
  });

  it("a room's media: every file its messages refer to", async () => {
    const poster = await user("media-room");
    const room = await poster.createRoom({ preset: "public_chat" });
    const image = await upload(poster, "picture");
    const elsewhere = await upload(poster, "not in the room");
    await poster.send(room, { msgtype: "m.image", body: "look", url: image });
    await mod.catchUp();
    await command(`!tyr media quarantine ${room} --yes`, /^Quarantined 1 file of `!/);
    expect(await download(mod, image)).toBe(404);
    expect(await download(mod, elsewhere)).toBe(200);
  });

  it("refuses a moderator's media, a remote account and bad input, with a clear answer", async () => {
    await mod.catchUp();
    await command(`!tyr media quarantine ${mod.userId} --yes`, /Not quarantining .*management room/);
    await command(
      `!tyr media quarantine @x:elsewhere.example --yes`,
      /Not quarantining .*not an account of Tyr's own/,
    );
    await command(`!tyr media quarantine mxc://bad`, /not an mxc URI of the form/);
    await command(`!tyr media quarantine spam`, /not an mxc URI, a user ID or a room/);
  });

  it("says clearly when Tyr is not a server admin", async () => {
    const plain = await user("tyr-plain-media");
    const mgmt2 = await mod.createRoom({ invite: [plain.userId] });
    const other = await runBot(
      testConfig({ url: synapse.url, accessToken: plain.accessToken, managementRoom: mgmt2 }),
    );
    try {
      const uploader = await user("media-kept");
      const file = await upload(uploader, "kept");
      await mod.sendText(mgmt2, `!tyr media quarantine ${file}`);
      await mod.waitForNotice(mgmt2, plain.userId, /Not quarantining .*is not a server admin/);
      expect(await download(mod, file)).toBe(200);
    } finally {
      await other.stop();
    }
  });
});
