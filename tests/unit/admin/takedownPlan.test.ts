import { describe, expect, it } from "vitest";
import type { Rule } from "../../../src/banlists/rule.ts";
import { localMembers, takedownPreview, takedownStatus } from "../../../src/commands/takedownPlan.ts";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { planRoomTakedowns, planRoomUnblocks, takedownRefusal } from "../../../src/policy/roomTakedowns.ts";
import { ActionLog, toRecord } from "../../../src/store/actionLog.ts";
import type { Cause } from "../../../src/consequences/types.ts";
import { parseDeleteStatuses, parseRoomDetails, takedownRequestBody } from "../../../src/matrix/roomAdmin.ts";

/** Plain text without the backticks around code. */
const plain = (f: { text: string }) => f.text.replaceAll("`", "");

const guard = {
  managementRoomId: "!mgmt:example.org",
  protectedRooms: new Set(["!lobby:example.org"]),
  watchedLists: ["!list:example.org"],
};

describe("takedownRefusal", () => {
  it("never takes down the management room, even with --force", () => {
    expect(takedownRefusal("!mgmt:example.org", guard, false)).toMatch(/management room/);
    expect(takedownRefusal("!mgmt:example.org", guard, true)).toMatch(/management room/);
  });
  it("refuses protected rooms and watched lists unless forced", () => {
    expect(takedownRefusal("!lobby:example.org", guard, false)).toMatch(/protects .*--force/);
    expect(takedownRefusal("!list:example.org", guard, false)).toMatch(/policy list .*--force/);
    expect(takedownRefusal("!lobby:example.org", guard, true)).toBeUndefined();
    expect(takedownRefusal("!list:example.org", guard, true)).toBeUndefined();
  });
  it("lets any other room through", () => {
    expect(takedownRefusal("!spam:evil.org", guard, false)).toBeUndefined();
  });
});

describe("takedown preview and status", () => {
  it("keeps only members of the local server (port and case as written)", () => {
    expect(
      localMembers(["@a:example.org", "@b:evil.org", "@c:Example.org", "@d:example.org:8448"], "example.org"),
    ).toEqual(["@a:example.org", "@c:Example.org"]);
  });

  it("shows name, member counts and the local members", () => {
    const details = parseRoomDetails("!spam:evil.org", {
      name: "Free stuff",
      joined_members: 12,
      joined_local_members: 2,
    });
    const p = takedownPreview("!spam:evil.org", details, ["@a:example.org", "@b:example.org"], {
      purge: false,
      reason: "spam",
      server: "example.org",
    });
    expect(plain(p)).toMatch(/Take down !spam:evil.org\?/);
    expect(plain(p)).toMatch(/“Free stuff”, !spam:evil.org: 12 members, 2 of them on example.org/);
    expect(plain(p)).toMatch(/Local members to be removed: @a:example.org, @b:example.org/);
    expect(plain(p)).toMatch(/add --purge/);
    expect(plain(p)).toMatch(/Reason .*spam/);
    expect(p.html).toContain("<code>@a:example.org</code>");
  });

  it("says when the room is unknown, and warns about purging", () => {
    const p = takedownPreview("!x:evil.org", undefined, [], { purge: true, server: "example.org" });
    expect(plain(p)).toMatch(/and purge it\?/);
    expect(plain(p)).toMatch(/does not know !x:evil.org; it will only be blocked/);
    expect(plain(p)).toMatch(/cannot be undone/);
    expect(plain(p)).not.toMatch(/Local members/);
  });

  it("caps the member list", () => {
    const many = Array.from({ length: 25 }, (_, i) => `@u${i}:example.org`);
    const p = takedownPreview("!r:e", undefined, many, { purge: false, server: "example.org" });
    expect(plain(p)).toMatch(/@u19:example.org and 5 more/);
    expect(plain(p)).not.toMatch(/@u20:/);
  });

  it("reads block and deletion progress", () => {
    const deletions = parseDeleteStatuses({
      results: [
        {
          delete_id: "abc",
          status: "complete",
          shutdown_room: { kicked_users: ["@a:example.org"], failed_to_kick_users: [] },
        },
        { status: "purging" }, // no id: ignored
        { delete_id: "def", status: "failed", error: "boom" },
      ],
    });
    expect(deletions.map((d) => d.deleteId)).toEqual(["abc", "def"]);
    const s = takedownStatus("!r:e", { block: true, by: "@tyr:e" }, deletions);
    expect(plain(s)).toMatch(/is blocked on this server \(by @tyr:e\)/);
    expect(plain(s)).toMatch(/Deletion abc: complete, 1 local member removed/);
    expect(plain(s)).toMatch(/Deletion def: failed \(boom\), 0 local members removed/);
    expect(plain(takedownStatus("!r:e", { block: false }, []))).toMatch(/not blocked.*\n*.*No deletion/s);
  });

  it("tolerates malformed admin API answers", () => {
    expect(parseDeleteStatuses(null)).toEqual([]);
    expect(parseDeleteStatuses({ results: "x" })).toEqual([]);
    expect(parseRoomDetails("!r:e", null)).toEqual({
      roomId: "!r:e",
      joinedMembers: 0,
      joinedLocalMembers: 0,
    });
  });

  it("always asks Synapse to block", () => {
    expect(takedownRequestBody(false, "")).toEqual({ block: true, purge: false });
    expect(takedownRequestBody(true, "spam")).toEqual({ block: true, purge: true, message: "spam" });
  });
});

describe("planRoomTakedowns", () => {
  const rule = (entity: string, recommendation: "ban" | "takedown" | "exception" = "ban"): Rule => ({
    list: "!list2:example.org",
    kind: "room",
    entity,
    recommendation,
    eventType: "m.policy.rule.room",
    stateKey: entity,
  });

  it("takes down literal room IDs once, never aliases, globs or exceptions", () => {
    const p = planRoomTakedowns(
      [
        rule("!spam:evil.org"),
        rule("!spam:evil.org", "takedown"),
        rule("!csam:evil.org", "takedown"),
        rule("#alias:evil.org"),
        rule("!*:evil.org"),
        rule("!ok:evil.org", "exception"),
        rule("!done:evil.org"),
      ],
      guard,
      (room) => room === "!done:evil.org",
    );
    expect(p.takedowns.map((t) => t.room)).toEqual(["!spam:evil.org", "!csam:evil.org"]);
    expect(p.refused).toEqual([]);
  });

  it("refuses protected rooms, watched lists and the management room", () => {
    const p = planRoomTakedowns(
      [rule("!lobby:example.org"), rule("!list:example.org"), rule("!mgmt:example.org")],
      guard,
      () => false,
    );
    expect(p.takedowns).toEqual([]);
    expect(p.refused.map((r) => r.why)).toEqual([
      expect.stringMatching(/protects/),
      expect.stringMatching(/policy list/),
      expect.stringMatching(/management room/),
    ]);
  });

  it("unblocks rooms a rule took down once no rule (or only an alias, glob or exception) bans them", () => {
    const takenDown = ["!spam:evil.org", "!gone:evil.org", "!alias:evil.org", "!excepted:evil.org"];
    const rules = [
      rule("!spam:evil.org"),
      rule("#alias:evil.org"),
      rule("!*:evil.org"),
      rule("!excepted:evil.org", "exception"),
    ];
    expect(planRoomUnblocks(takenDown, rules)).toEqual([
      "!gone:evil.org",
      "!alias:evil.org",
      "!excepted:evil.org",
    ]);
    expect(planRoomUnblocks([], rules)).toEqual([]);
  });
});

describe("the takedown record in the action log", () => {
  const byRule: Cause = {
    by: "policy",
    rule: {
      list: "!l",
      kind: "room",
      entity: "!a:x",
      recommendation: "ban",
      eventType: "m.policy.rule.room",
      stateKey: "a",
    },
  };
  const byMod: Cause = { by: "moderator", user: "@mod:x", command: "room takedown" };
  const down = (room: string, cause: Cause) => ({
    kind: "takedownRoom" as const,
    room,
    purge: false,
    reason: "r",
    cause,
  });
  const up = (room: string) => ({ kind: "unblockRoom" as const, room, reason: "r", cause: byMod });

  it("knows which takedowns are in force and who made them, across a restart", () => {
    const dir = mkdtempSync(join(tmpdir(), "tyr-takedown-"));
    const log = new ActionLog(dir);
    log.append(toRecord(down("!a:x", byRule), "done"));
    log.append(toRecord(down("!b:x", byMod), "done"));
    log.append(toRecord(down("!c:x", byRule), "failed"));
    log.append(toRecord(down("!d:x", byRule), "done"));
    log.append(toRecord(up("!d:x"), "done"));
    // A moderator taking down a room a rule took down makes it theirs.
    log.append(toRecord(down("!e:x", byRule), "done"));
    log.append(toRecord(down("!e:x", byMod), "done"));
    for (const l of [log, new ActionLog(dir)]) {
      expect([...l.policyTakenDownRooms()]).toEqual(["!a:x"]);
      expect(l.takedownOf("!b:x")?.actor).toBe("@mod:x");
      expect(l.takedownOf("!c:x")).toBeUndefined();
      expect(l.takedownOf("!d:x")).toBeUndefined();
      expect(l.takedownOf("!e:x")?.ruleKey).toBeUndefined();
    }
  });

  it("keeps takedowns in force when the log is compacted", () => {
    const log = new ActionLog(mkdtempSync(join(tmpdir(), "tyr-takedown-")), { maxRecords: 10 });
    log.append(toRecord(down("!a:x", byRule), "done"));
    for (let i = 0; i < 30; i++) log.append(toRecord(up(`!z${i}:x`), "failed"));
    expect([...log.policyTakenDownRooms()]).toEqual(["!a:x"]);
    expect(log.size).toBeLessThan(30);
  });
});
