// The room security audit: each setting from the "Room Security" guide gets the right verdict.
import { describe, expect, it } from "vitest";
import { auditRoom, renderAudit, type AuditFacts, type Finding } from "../../../src/commands/audit.ts";
import { RoomState } from "../../../src/matrix/roomState.ts";

const BOT = "@tyr:example.org";
const MOD = "@mod:example.org";
const CREATOR = "@owner:example.org";

function room(state: Record<string, Record<string, unknown>>, version = "10"): RoomState {
  const s = new RoomState("!r:example.org");
  const put = (type: string, content: Record<string, unknown>, stateKey = "") =>
    s.set({ type, stateKey, sender: CREATOR, eventId: `$${type}`, content, ts: 0 });
  put("m.room.create", { room_version: version });
  for (const [type, content] of Object.entries(state)) put(type, content);
  return s;
}

const securePl = {
  users: { [BOT]: 100, [MOD]: 50, [CREATOR]: 100 },
  users_default: 0,
  ban: 50,
  kick: 50,
  redact: 50,
  events: { "m.room.server_acl": 100, "m.room.power_levels": 100 },
};

function facts(s: RoomState, over: Partial<AuditFacts> = {}): AuditFacts {
  return { state: s, published: false, botUserId: BOT, moderators: [MOD], ...over };
}

function finding(findings: Finding[], topic: string): Finding {
  const f = findings.find((x) => x.topic === topic);
  if (!f) throw new Error(`no finding ${topic}`);
  return f;
}

describe("auditRoom", () => {
  it("room version 12: says who holds creator power, and nothing of the kind before v12", () => {
    const v12 = room({ "m.room.power_levels": securePl }, "12");
    v12.set({
      type: "m.room.create",
      stateKey: "",
      sender: CREATOR,
      eventId: "$create",
      content: { room_version: "12", additional_creators: [MOD, "@other:elsewhere.org"] },
      ts: 0,
    });
    const f = finding(auditRoom(facts(v12)).findings, "Creator power");
    expect(f.value).toBe(`${CREATOR}, ${MOD}, @other:elsewhere.org`);
    expect(f.verdict).toBe("info");
    expect(f.says).toMatch(
      /unlimited power \(room version 12\): nobody, Tyr included, can ban, kick or demote any of them/,
    );
    expect(f.says).toMatch(/Not a moderator through Tyr: @owner:example.org, @other:elsewhere.org/);
    const v10 = room({ "m.room.power_levels": securePl }, "10");
    expect(auditRoom(facts(v10)).findings.map((x) => x.topic)).not.toContain("Creator power");
  });

  it("finds every weakness of a deliberately insecure room", () => {
    const s = room({
      "m.room.join_rules": { join_rule: "public" },
      "m.room.history_visibility": { history_visibility: "world_readable" },
      "m.room.guest_access": { guest_access: "can_join" },
      "m.room.power_levels": securePl,
    });
    const r = auditRoom(facts(s, { published: true }));
    const f = r.findings;
    expect(finding(f, "Join rule")).toMatchObject({ value: "public", verdict: "warning" });
    expect(finding(f, "Public room directory")).toMatchObject({ value: "listed", verdict: "warning" });
    expect(finding(f, "Guest access")).toMatchObject({ value: "can_join", verdict: "warning" });
    expect(finding(f, "History visibility")).toMatchObject({ value: "world_readable", verdict: "risk" });
    expect(finding(f, "Encryption")).toMatchObject({ value: "off", verdict: "warning" });
    expect(finding(f, "Server ACL")).toMatchObject({ value: "none", verdict: "warning" });
    // six room settings, plus two powers only Tyr holds (ACL, power levels)
    expect(r.weaknesses).toBe(8);
    // Tyr (100) and the moderator (50) can ban/kick/redact; only Tyr can change the ACL.
    expect(finding(f, "Ban").verdict).toBe("good");
    expect(finding(f, "Change the server ACL")).toMatchObject({ verdict: "warning" });
    expect(finding(f, "Change the server ACL").says).toMatch(/Only Tyr/);
  });

  it("approves a private, encrypted room with a sound ACL", () => {
    const s = room({
      "m.room.join_rules": { join_rule: "invite" },
      "m.room.history_visibility": { history_visibility: "joined" },
      "m.room.guest_access": { guest_access: "forbidden" },
      "m.room.encryption": { algorithm: "m.megolm.v1.aes-sha2" },
      "m.room.server_acl": { allow: ["*"], deny: ["evil.org"], allow_ip_literals: false },
      "m.room.power_levels": { ...securePl, events: { "m.room.server_acl": 50, "m.room.power_levels": 50 } },
    });
    const r = auditRoom(facts(s));
    expect(r.weaknesses).toBe(0);
    expect(r.findings.every((x) => x.verdict === "good")).toBe(true);
    expect(finding(r.findings, "Server ACL").value).toBe("all servers allowed; 1 server pattern denied");
  });

  it("uses the spec defaults when events are missing", () => {
    const s = room({ "m.room.power_levels": securePl });
    const f = auditRoom(facts(s)).findings;
    expect(finding(f, "Join rule")).toMatchObject({ value: "invite", verdict: "good" });
    expect(finding(f, "History visibility")).toMatchObject({ value: "shared", verdict: "info" });
    expect(finding(f, "Guest access")).toMatchObject({ value: "forbidden", verdict: "good" });
  });

  it("shared history in a public room is a weakness; encryption there is of limited use", () => {
    const s = room({
      "m.room.join_rules": { join_rule: "public" },
      "m.room.history_visibility": { history_visibility: "shared" },
      "m.room.encryption": { algorithm: "m.megolm.v1.aes-sha2" },
      "m.room.power_levels": securePl,
    });
    const f = auditRoom(facts(s)).findings;
    expect(finding(f, "History visibility").verdict).toBe("warning");
    expect(finding(f, "Encryption").verdict).toBe("info");
  });

  it("flags an ACL that allows nobody, and one that lets IP literals in", () => {
    const f1 = auditRoom(
      facts(room({ "m.room.server_acl": { deny: ["evil.org"] }, "m.room.power_levels": securePl })),
    ).findings;
    expect(finding(f1, "Server ACL").verdict).toBe("risk");
    expect(finding(f1, "Server ACL: IP addresses").verdict).toBe("warning");
    const f2 = auditRoom(
      facts(
        room({
          "m.room.server_acl": { allow: ["good.org"], deny: [], allow_ip_literals: false },
          "m.room.power_levels": securePl,
        }),
      ),
    ).findings;
    expect(finding(f2, "Server ACL")).toMatchObject({
      verdict: "info",
      value: "only good.org; 0 server patterns denied",
    });
    expect(f2.some((x) => x.topic === "Server ACL: IP addresses")).toBe(false);
  });

  it("says when Tyr lacks power, when no moderator has it, and when every member has it", () => {
    const s = room({
      "m.room.power_levels": {
        users: { [BOT]: 40, [CREATOR]: 100 },
        users_default: 0,
        ban: 50,
        kick: 0,
        redact: 50,
        events: { "m.room.server_acl": 100 },
      },
    });
    const f = auditRoom(facts(s)).findings;
    expect(finding(f, "Ban")).toMatchObject({ verdict: "risk" });
    expect(finding(f, "Ban").says).toMatch(/Tyr cannot ban/);
    expect(finding(f, "Ban").value).toBe("needs 50; Tyr has 40 (not enough); 0 of 1 moderator can");
    expect(finding(f, "Kick").verdict).toBe("risk");
    expect(finding(f, "Kick").says).toMatch(/Every member can kick/);
  });

  it("knows that room-version-12 creators have unlimited power", () => {
    const s = new RoomState("!r:example.org");
    s.set({
      type: "m.room.create",
      stateKey: "",
      sender: BOT,
      eventId: "$c",
      content: { room_version: "12" },
      ts: 0,
    });
    s.set({
      type: "m.room.power_levels",
      stateKey: "",
      sender: BOT,
      eventId: "$p",
      content: { users: { [MOD]: 50 } },
      ts: 0,
    });
    const f = auditRoom(facts(s)).findings;
    expect(finding(f, "Ban").value).toMatch(/Tyr has unlimited/);
    expect(finding(f, "Ban").verdict).toBe("good");
  });
});

describe("renderAudit", () => {
  it("counts weaknesses and escapes everything that came from the room", () => {
    const s = room({
      "m.room.join_rules": { join_rule: "<script>alert(1)</script>" },
      "m.room.power_levels": securePl,
    });
    const out = renderAudit(auditRoom(facts(s)), "#<b>room</b>:example.org");
    expect(out.html).not.toContain("<script>");
    expect(out.html).not.toContain("<b>room");
    expect(out.html).toContain("&lt;script&gt;");
    expect(out.text).toMatch(/Security audit of/);
    expect(out.text).toMatch(/weakness/);
  });
});
