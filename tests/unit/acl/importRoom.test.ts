import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { importRoomRules, MAX_IMPORT_REASON_LENGTH } from "../../../src/acl/importRoom.ts";
import { ruleStateKey } from "../../../src/banlists/stateKey.ts";

const ROOM = "!community:example.org";
const member = (userId: string, membership: string, reason?: unknown) => ({
  type: "m.room.member",
  state_key: userId,
  content: reason === undefined ? { membership } : { membership, reason },
});
const acl = (deny: unknown, stateKey = "") => ({
  type: "m.room.server_acl",
  state_key: stateKey,
  content: { allow: ["*"], deny },
});

describe("ruleStateKey", () => {
  it("is short, never a user ID, and stable", () => {
    const k = ruleStateKey("user", "@spammer:evil.org", "ban");
    expect(k).toMatch(/^rule:[A-Za-z0-9_-]{43}$/);
    expect(ruleStateKey("user", "@Spammer:EVIL.org", "ban")).toBe(k);
    expect(ruleStateKey("user", "@spammer:evil.org", "takedown")).not.toBe(k);
    expect(ruleStateKey("server", "@spammer:evil.org", "ban")).not.toBe(k);
  });

  it("never starts with @ and stays within 255 bytes for any entity", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("user", "room", "server" as const),
        fc.string({ unit: "binary", maxLength: 10_000 }),
        fc.constantFrom("ban", "takedown", "exception" as const),
        (kind, entity, rec) => {
          const k = ruleStateKey(kind, entity, rec);
          expect(k.startsWith("@")).toBe(false);
          expect(Buffer.byteLength(k, "utf8")).toBeLessThanOrEqual(255);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("importRoomRules", () => {
  it("turns bans and ACL denies into rules", () => {
    const plan = importRoomRules(
      [
        { type: "m.room.create", state_key: "", content: {} },
        member("@spammer:evil.org", "ban", "spam"),
        member("@quiet:evil.org", "ban"),
        member("@friend:good.org", "join"),
        member("@left:good.org", "leave"),
        acl(["Evil.org:8448", "*.bad.net"]),
      ],
      { roomId: ROOM },
    );
    expect(plan.skipped).toEqual([]);
    expect(plan.rules).toEqual([
      {
        type: "m.policy.rule.server",
        stateKey: ruleStateKey("server", "*.bad.net", "ban"),
        content: {
          entity: "*.bad.net",
          recommendation: "m.ban",
          reason: `denied by the server ACL of ${ROOM}`,
        },
      },
      {
        type: "m.policy.rule.server",
        stateKey: ruleStateKey("server", "evil.org", "ban"),
        content: {
          entity: "evil.org",
          recommendation: "m.ban",
          reason: `denied by the server ACL of ${ROOM}`,
        },
      },
      {
        type: "m.policy.rule.user",
        stateKey: ruleStateKey("user", "@quiet:evil.org", "ban"),
        content: { entity: "@quiet:evil.org", recommendation: "m.ban", reason: `banned in ${ROOM}` },
      },
      {
        type: "m.policy.rule.user",
        stateKey: ruleStateKey("user", "@spammer:evil.org", "ban"),
        content: { entity: "@spammer:evil.org", recommendation: "m.ban", reason: "spam" },
      },
    ]);
  });

  it("state keys never start with @ and fit in 255 bytes", () => {
    const plan = importRoomRules(
      [member(`@${"x".repeat(200)}:evil.org`, "ban"), member("@a:b.c", "ban"), acl(["x.org"])],
      { roomId: ROOM },
    );
    expect(plan.rules).toHaveLength(3);
    for (const r of plan.rules) {
      expect(r.stateKey.startsWith("@")).toBe(false);
      expect(Buffer.byteLength(r.stateKey, "utf8")).toBeLessThanOrEqual(255);
    }
  });

  it("skips bad user IDs with a reason", () => {
    const plan = importRoomRules(
      [
        member("not-a-user", "ban"),
        member("@nolocal", "ban"),
        member(":x.org", "ban"),
        member("@a b:x.org", "ban"),
        member("@a\u0000:x.org", "ban"),
        member("@*:x.org", "ban"),
        member("@a?:x.org", "ban"),
        member(`@${"x".repeat(300)}:x.org`, "ban"),
        member("@a:bad_server", "ban"),
      ],
      { roomId: ROOM },
    );
    expect(plan.rules).toEqual([]);
    expect(plan.skipped).toHaveLength(9);
    expect(plan.skipped.every((s) => s.source === "ban" && s.reason.length > 0)).toBe(true);
  });

  it("skips bad, deny-all and own-server ACL entries", () => {
    const plan = importRoomRules([acl(["", "a b", 42, "*", "*.org", "ok.net", "TYR.example.org"])], {
      roomId: ROOM,
      ownServer: "tyr.example.org:8448",
    });
    expect(plan.rules.map((r) => r.content.entity)).toEqual(["ok.net"]);
    expect(plan.skipped.map((s) => s.entity)).toEqual(["", "a b", "42", "*", "*.org", "TYR.example.org"]);
  });

  it("ignores ACLs with a state key, malformed deny lists and malformed events", () => {
    const plan = importRoomRules(
      [
        acl(["x.org"], "nope"),
        acl("x.org"),
        null,
        42,
        { type: "m.room.member" },
        { type: "m.room.member", state_key: "@a:b.c", content: "ban" },
      ],
      { roomId: ROOM },
    );
    expect(plan).toEqual({ rules: [], skipped: [] });
  });

  it("de-duplicates, keeps the first reason, and cuts long reasons", () => {
    const plan = importRoomRules(
      [
        member("@a:x.org", "ban", "first"),
        member("@a:x.org", "ban", "second"),
        member("@b:x.org", "ban", "r".repeat(5000)),
        acl(["x.org", "X.org:1"]),
      ],
      { roomId: ROOM },
    );
    expect(plan.rules).toHaveLength(3);
    expect(plan.rules.find((r) => r.content.entity === "@a:x.org")!.content.reason).toBe("first");
    expect(plan.rules.find((r) => r.content.entity === "@b:x.org")!.content.reason).toHaveLength(
      MAX_IMPORT_REASON_LENGTH,
    );
  });

  it("cuts long reasons without splitting a surrogate pair", () => {
    const reason = "x".repeat(MAX_IMPORT_REASON_LENGTH - 1) + "\u{1F600}" + "y";
    const plan = importRoomRules([member("@a:x.org", "ban", reason)], { roomId: ROOM });
    const cut = plan.rules[0]!.content.reason;
    expect(cut).toBe("x".repeat(MAX_IMPORT_REASON_LENGTH - 1));
    expect(Buffer.from(cut, "utf8").toString("utf8")).toBe(cut); // no lone surrogate
  });

  it("uses a default reason when the ban has none or a non-string one", () => {
    const plan = importRoomRules([member("@a:x.org", "ban", "   "), member("@b:x.org", "ban", 5)], {
      roomId: ROOM,
    });
    expect(plan.rules.map((r) => r.content.reason)).toEqual([`banned in ${ROOM}`, `banned in ${ROOM}`]);
  });
});
