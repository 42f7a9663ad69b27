import { describe, expect, it } from "vitest";
import {
  aclKey,
  decideRoom,
  describeLeftOut,
  describeStatus,
  leftOutByList,
  leftOutSignature,
  type AclAttempt,
  type RoomAclFacts,
} from "../../../src/acl/roomSync.ts";
import { buildAcl } from "../../../src/acl/build.ts";
import type { ServerAclContent } from "../../../src/consequences/types.ts";
import { bans, serverRule } from "./helpers.ts";

const desired: ServerAclContent = { allow: ["*"], deny: ["evil.org", "*.bad.net"], allow_ip_literals: false };
const key = aclKey(desired);
const opts = { force: false, now: 10_000, sentGraceMs: 5_000 };

function facts(over: Partial<RoomAclFacts> = {}): RoomAclFacts {
  return {
    excluded: false,
    joined: true,
    level: { has: 100, needed: 100 },
    current: undefined,
    attempt: undefined,
    ...over,
  };
}

function attempt(state: AclAttempt["state"], over: Partial<AclAttempt> = {}): AclAttempt {
  return { key, state, at: 9_000, ...over };
}

describe("aclKey", () => {
  it("ignores order and duplicates but not meaning", () => {
    expect(aclKey({ allow: ["*"], deny: ["b", "a", "a"], allow_ip_literals: false })).toBe(
      aclKey({ allow: ["*"], deny: ["a", "b"], allow_ip_literals: false }),
    );
    expect(aclKey({ allow: ["*"], deny: ["a"], allow_ip_literals: true })).not.toBe(
      aclKey({ allow: ["*"], deny: ["a"], allow_ip_literals: false }),
    );
    expect(aclKey({ allow: ["*"], deny: ["a"], allow_ip_literals: false })).not.toBe(
      aclKey({ allow: ["a"], deny: ["*"], allow_ip_literals: false }),
    );
  });
});

describe("decideRoom", () => {
  it("sends to a room without an ACL when something is denied", () => {
    expect(decideRoom(facts(), desired, key, opts)).toEqual({ status: { kind: "pending" }, send: true });
  });

  it("sends nothing to a room without an ACL when nothing is denied", () => {
    const empty: ServerAclContent = { allow: ["*"], deny: [], allow_ip_literals: false };
    expect(decideRoom(facts(), empty, aclKey(empty), opts)).toEqual({
      status: { kind: "in-sync" },
      send: false,
    });
  });

  it("lifts denies when the rules are gone from a room that has an ACL", () => {
    const empty: ServerAclContent = { allow: ["*"], deny: [], allow_ip_literals: false };
    const d = decideRoom(facts({ current: desired }), empty, aclKey(empty), opts);
    expect(d.send).toBe(true);
  });

  it("skips a room whose ACL already means the same, in any order", () => {
    const current = { deny: ["*.bad.net", "evil.org"], allow_ip_literals: false, allow: ["*"] };
    expect(decideRoom(facts({ current }), desired, key, opts)).toEqual({
      status: { kind: "in-sync" },
      send: false,
    });
  });

  it("treats a missing allow_ip_literals as true (different)", () => {
    const current = { allow: ["*"], deny: ["evil.org", "*.bad.net"] };
    expect(decideRoom(facts({ current }), desired, key, opts).send).toBe(true);
  });

  it("replaces a malformed ACL", () => {
    expect(decideRoom(facts({ current: { allow: "*", deny: [] } }), desired, key, opts).send).toBe(true);
  });

  it("never touches excluded or unjoined rooms", () => {
    expect(decideRoom(facts({ excluded: true, current: { deny: ["x"] } }), desired, key, opts)).toEqual({
      status: { kind: "excluded" },
      send: false,
    });
    expect(decideRoom(facts({ joined: false }), desired, key, opts)).toEqual({
      status: { kind: "not-joined" },
      send: false,
    });
  });

  it("reports missing power with the level needed, instead of sending", () => {
    const d = decideRoom(facts({ level: { has: 50, needed: 100 } }), desired, key, opts);
    expect(d).toEqual({ status: { kind: "no-permission", has: 50, needed: 100 }, send: false });
    expect(describeStatus(d.status)).toContain("needs power level 100, Tyr has 50");
  });

  it("does not report missing power for a room that is already in sync", () => {
    const d = decideRoom(facts({ level: { has: 0, needed: 100 }, current: desired }), desired, key, opts);
    expect(d.status.kind).toBe("in-sync");
  });

  it("does not send the same content twice while it is in flight or not yet seen", () => {
    expect(decideRoom(facts({ attempt: attempt("in-flight") }), desired, key, opts)).toEqual({
      status: { kind: "pending" },
      send: false,
    });
    expect(decideRoom(facts({ attempt: attempt("sent") }), desired, key, opts).send).toBe(false);
    // ... even when forced: a second identical event would be pure noise.
    expect(
      decideRoom(facts({ attempt: attempt("in-flight") }), desired, key, { ...opts, force: true }).send,
    ).toBe(false);
  });

  it("sends again when a sent event never showed up", () => {
    const old = attempt("sent", { at: opts.now - opts.sentGraceMs - 1 });
    expect(decideRoom(facts({ attempt: old }), desired, key, opts).send).toBe(true);
  });

  it("sends newer content even while older content is in flight", () => {
    const older = attempt("in-flight", { key: "something else" });
    expect(decideRoom(facts({ attempt: older }), desired, key, opts).send).toBe(true);
  });

  it("does not retry a failure or a dry run by itself, but does when forced", () => {
    const failed = attempt("failed", { error: "M_FORBIDDEN: nope" });
    expect(decideRoom(facts({ attempt: failed }), desired, key, opts)).toEqual({
      status: { kind: "failed", error: "M_FORBIDDEN: nope" },
      send: false,
    });
    expect(decideRoom(facts({ attempt: failed }), desired, key, { ...opts, force: true }).send).toBe(true);
    const dry = attempt("dry-run");
    expect(decideRoom(facts({ attempt: dry }), desired, key, opts).status.kind).toBe("dry-run");
    expect(decideRoom(facts({ attempt: dry }), desired, key, { ...opts, force: true }).send).toBe(true);
  });
});

describe("left-out report", () => {
  it("groups what was left out per list, with own-server entities named", () => {
    const plan = buildAcl({
      lists: [
        {
          id: "!a",
          rules: [
            ...bans("!a", "*", "localhost", "evil.org", "bad name"),
            serverRule("!a", undefined, "ban", "aGFzaA=="),
          ],
        },
        { id: "!b", rules: bans("!b", "1.2.3.4", "fine.org") },
        { id: "!c", rules: bans("!c", "ok.org") },
      ],
      ownServer: "localhost:8448",
    });
    const groups = leftOutByList(plan);
    expect(groups).toEqual([
      { list: "!a", ownServer: ["*", "localhost"], invalid: 1, hashed: 1, ipLiteral: 0, leftOutForSize: 0 },
      { list: "!b", ownServer: [], invalid: 0, hashed: 0, ipLiteral: 1, leftOutForSize: 0 },
    ]);
    expect(describeLeftOut(groups[0]!)).toBe(
      "4 left out: 2 would deny Tyr's own server (`*`, `localhost`), 1 invalid server name(s), 1 hashed rule(s) (an ACL needs the server name)",
    );
    expect(leftOutSignature(groups)).not.toBe("");
  });

  it("is not worth a report for IP literals alone, and is stable across rule order", () => {
    const onlyIp = buildAcl({ lists: [{ id: "!b", rules: bans("!b", "1.2.3.4") }], ownServer: "localhost" });
    expect(leftOutSignature(leftOutByList(onlyIp))).toBe("");
    const a = buildAcl({
      lists: [{ id: "!a", rules: bans("!a", "*", "localhost", "x y") }],
      ownServer: "localhost",
    });
    const b = buildAcl({
      lists: [{ id: "!a", rules: bans("!a", "x y", "localhost", "*") }],
      ownServer: "localhost",
    });
    expect(leftOutSignature(leftOutByList(a))).toBe(leftOutSignature(leftOutByList(b)));
  });

  it("counts entries cut for size per list", () => {
    const many = Array.from({ length: 400 }, (_, i) => `server-${String(i).padStart(4, "0")}.example.org`);
    const plan = buildAcl({
      lists: [
        { id: "!a", rules: bans("!a", ...many.slice(0, 200)) },
        { id: "!b", rules: bans("!b", ...many.slice(200)) },
      ],
      ownServer: "localhost",
      options: { budgetBytes: 8_000 },
    });
    const groups = leftOutByList(plan);
    expect(groups.map((g) => g.list)).toEqual(["!b"]);
    expect(groups[0]!.leftOutForSize).toBe(plan.leftOutForSize);
    expect(groups[0]!.leftOutForSize).toBeGreaterThan(0);
    expect(describeLeftOut(groups[0]!)).toContain("did not fit in the size limit");
  });
});
