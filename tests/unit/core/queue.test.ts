import { describe, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { ConsequenceQueue, type Executor } from "../../../src/consequences/queue.ts";
import { refusal } from "../../../src/consequences/guard.ts";
import type { Consequence } from "../../../src/consequences/types.ts";
import { ActionLog } from "../../../src/store/actionLog.ts";
import { TransportClosedError } from "../../../src/matrix/http.ts";

const log = pino({ level: "silent" });
const mod = { by: "moderator", user: "@mod:x", command: "ban" } as const;
const ban = (user: string, room = "!r:x"): Consequence => ({
  kind: "ban",
  room,
  user,
  reason: "spam",
  cause: mod,
});

function setup(
  exec: Executor["execute"],
  opts: Partial<ConstructorParameters<typeof ConsequenceQueue>[1]> = {},
) {
  const actionLog = new ActionLog(mkdtempSync(join(tmpdir(), "tyr-q-")));
  const q = new ConsequenceQueue(
    { execute: exec },
    { concurrency: 2, maxRetries: 3, dryRun: false, log, actionLog, retryBaseMs: 1, ...opts },
  );
  return { q, actionLog };
}

describe("consequence queue", () => {
  it("runs each effect once even when submitted twice", async () => {
    const seen: string[] = [];
    const { q } = setup(async (c) => {
      seen.push(c.kind === "ban" ? c.user : "");
      await new Promise((r) => setTimeout(r, 5));
    });
    const [a, b] = await Promise.all([q.submit(ban("@a:x")), q.submit(ban("@a:x"))]);
    expect(a.outcome).toBe("done");
    expect(b).toBe(a);
    expect(seen).toEqual(["@a:x"]);
  });

  it("never runs more than `concurrency` effects at once", async () => {
    let running = 0;
    let peak = 0;
    const { q } = setup(async () => {
      peak = Math.max(peak, ++running);
      await new Promise((r) => setTimeout(r, 2));
      running--;
    });
    await q.submitAll(Array.from({ length: 20 }, (_, i) => ban(`@u${i}:x`)));
    expect(peak).toBe(2);
  });

  it("retries transient errors and gives up on permanent ones", async () => {
    let calls = 0;
    const { q, actionLog } = setup(async (c) => {
      calls++;
      if (c.kind === "ban" && c.user === "@flaky:x" && calls < 3)
        throw Object.assign(new Error("fetch failed"), { cause: { code: "ECONNREFUSED" } });
      if (c.kind === "ban" && c.user === "@forbidden:x")
        throw { errcode: "M_FORBIDDEN", error: "no power", statusCode: 403 };
    });
    expect((await q.submit(ban("@flaky:x"))).outcome).toBe("done");
    expect(calls).toBe(3);
    const r = await q.submit(ban("@forbidden:x"));
    expect(r).toMatchObject({ outcome: "failed", error: "M_FORBIDDEN: no power" });
    expect(calls).toBe(4);
    expect(actionLog.query().map((a) => [a.target, a.outcome])).toEqual([
      ["@forbidden:x", "failed"],
      ["@flaky:x", "done"],
    ]);
  });

  it("gives up at once on a request abandoned because Tyr is stopping (no retry can help)", async () => {
    let calls = 0;
    const { q } = setup(
      async () => {
        calls++;
        throw new TransportClosedError();
      },
      { retryBaseMs: 60_000 }, // a retry would hold the test (and a stopping bot) for minutes
    );
    const r = await q.submit(ban("@late:x"));
    expect(r).toMatchObject({ outcome: "failed" });
    expect(calls).toBe(1);
  });

  it("a job waiting to retry gives up when the queue is closed, instead of sleeping on", async () => {
    let calls = 0;
    const { q } = setup(
      async () => {
        calls++;
        throw Object.assign(new Error("fetch failed"), { cause: { code: "ECONNREFUSED" } });
      },
      { retryBaseMs: 60_000 },
    );
    const result = q.submit(ban("@late:x"));
    while (q.stats.retries === 0) await new Promise((r) => setTimeout(r, 1));
    q.close();
    expect(await result).toMatchObject({ outcome: "failed" });
    expect(calls).toBe(1);
  });

  it("reports progress for batches", async () => {
    const { q } = setup(async () => {});
    const seen: number[] = [];
    await q.submitAll([ban("@a:x"), ban("@b:x"), ban("@c:x")], (done) => seen.push(done));
    expect(seen).toEqual([1, 2, 3]);
  });

  it("does not execute in dry-run, but records what it would have done", async () => {
    let calls = 0;
    const { q, actionLog } = setup(async () => void calls++, { dryRun: true });
    expect((await q.submit(ban("@a:x"))).outcome).toBe("dry-run");
    expect(calls).toBe(0);
    expect(actionLog.query()[0]).toMatchObject({
      kind: "ban",
      target: "@a:x",
      outcome: "dry-run",
      actor: "@mod:x",
    });
  });

  it("logs every effect made for a report with the report's key, a rule write too", async () => {
    const { q, actionLog } = setup(async () => "$ok");
    const cause = { ...mod, report: "event-12" };
    const rule: Consequence = {
      kind: "setState",
      room: "!list:x",
      eventType: "m.policy.rule.user",
      stateKey: "rule:abc",
      content: { entity: "@spam:x", recommendation: "m.ban" },
      target: "@spam:x",
      reason: "reported abuse",
      cause,
    };
    await q.submit(rule);
    await q.submit({ ...rule, stateKey: "rule:other", cause: mod }); // not for a report: not logged
    await q.submit({ ...ban("@other:x"), cause: { ...mod, report: "event-1" } });
    expect(actionLog.query({ about: "event-12" })).toEqual([
      expect.objectContaining({ kind: "setState", target: "@spam:x", report: "event-12", actor: "@mod:x" }),
    ]);
    expect(actionLog.size).toBe(2);
  });

  it("coalesces ACL updates for the same room into the newest content", async () => {
    const sent: number[] = [];
    const { q } = setup(
      async (c) => {
        if (c.kind === "setAcl") sent.push(c.content.deny.length);
        await new Promise((r) => setTimeout(r, 5));
      },
      { concurrency: 1 },
    );
    const acl = (n: number): Consequence => ({
      kind: "setAcl",
      room: "!r:x",
      content: {
        allow: ["*"],
        deny: Array.from({ length: n }, (_, i) => `s${i}.org`),
        allow_ip_literals: false,
      },
      cause: { by: "system", what: "acl" },
    });
    // the first occupies the worker; the next four pile up and merge into one pending job
    const all = [q.submit(acl(1)), q.submit(acl(2)), q.submit(acl(3)), q.submit(acl(4)), q.submit(acl(5))];
    await Promise.all(all);
    expect(sent).toEqual([1, 5]);
  });

  it("refuses what the guard refuses, without calling the homeserver", async () => {
    let calls = 0;
    const { q } = setup(async () => void calls++, {
      guard: (c) => refusal(c, { botUserId: "@tyr:x", ownServer: "x", moderators: new Set(["@mod:x"]) }),
    });
    expect((await q.submit(ban("@tyr:x"))).outcome).toBe("skipped");
    expect((await q.submit(ban("@mod:x"))).outcome).toBe("skipped");
    expect((await q.submit(ban("@spammer:x"))).outcome).toBe("done");
    expect(calls).toBe(1);
  });
});

describe("guard", () => {
  const ctx = {
    botUserId: "@tyr:example.org",
    ownServer: "example.org:8448",
    moderators: new Set(["@mod:example.org"]),
  };
  const acl = (deny: string[], allow = ["*"]): Consequence => ({
    kind: "setAcl",
    room: "!r",
    content: { allow, deny, allow_ip_literals: false },
    cause: { by: "system", what: "t" },
  });
  it.each([
    [["evil.org"], ["*"], undefined],
    [["*"], ["*"], "refusing a server ACL that denies Tyr's own server (*)"],
    [["*.evil.org", "example.org.evil.net"], ["*"], undefined],
    [["*.org"], ["*"], "refusing a server ACL that denies Tyr's own server (*.org)"],
    [["EXAMPLE.ORG"], ["*"], "refusing a server ACL that denies Tyr's own server (EXAMPLE.ORG)"],
    [["exa?ple.*"], ["*"], "refusing a server ACL that denies Tyr's own server (exa?ple.*)"],
    [[], ["other.org"], "refusing a server ACL that does not allow Tyr's own server"],
  ])("ACL deny %j allow %j", (deny, allow, expected) => {
    expect(refusal(acl(deny, allow), ctx)).toBe(expected);
  });
  it("protects the bot and moderators from bans, kicks and mutes", () => {
    for (const kind of ["ban", "kick", "mute"] as const) {
      expect(
        refusal({ kind, room: "!r", user: "@tyr:example.org", reason: "", cause: mod } as Consequence, ctx),
      ).toMatch(/Tyr itself/);
      expect(
        refusal({ kind, room: "!r", user: "@mod:example.org", reason: "", cause: mod } as Consequence, ctx),
      ).toMatch(/management room/);
    }
  });
  it("deactivates only other accounts of Tyr's own server", () => {
    const d = (user: string): Consequence => ({
      kind: "deactivate",
      user,
      erase: false,
      reason: "",
      cause: mod,
    });
    expect(refusal(d("@spam:example.org"), ctx)).toBeUndefined();
    expect(refusal(d("@spam:EXAMPLE.org"), ctx)).toBeUndefined();
    expect(refusal(d("@tyr:example.org"), ctx)).toMatch(/Tyr itself/);
    expect(refusal(d("@mod:example.org"), ctx)).toMatch(/management room/);
    expect(refusal(d("@spam:evil.org"), ctx)).toMatch(/not an account of Tyr's own homeserver/);
    expect(refusal(d("@spam:example.org.evil.org"), ctx)).toMatch(/not an account/);
  });
});
