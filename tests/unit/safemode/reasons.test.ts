import { describe, expect, it } from "vitest";
import { SAFE_MODE_COMMANDS, SafeModeReasons, allowedInSafeMode } from "../../../src/safemode/reasons.ts";

describe("SafeModeReasons", () => {
  it("is off with no reason, and lets every command run", () => {
    const s = new SafeModeReasons();
    expect(s.active).toBe(false);
    expect(s.allows("ban")).toBe(true);
  });

  it("records each failure once and tells listeners", () => {
    const s = new SafeModeReasons();
    const heard: string[] = [];
    s.onAdd((r) => heard.push(r.key));
    expect(s.add({ key: "join:!l:x", what: "cannot join the watched list !l:x", fix: "unwatch !l:x" })).toBe(
      true,
    );
    expect(s.add({ key: "join:!l:x", what: "again", fix: "again" })).toBe(false);
    expect(heard).toEqual(["join:!l:x"]);
    expect(s.list()).toHaveLength(1);
    expect(s.active).toBe(true);
  });

  it("allows only the repair commands, and a refusal names the failure and its fix", () => {
    const s = new SafeModeReasons();
    s.add({ key: "protections", what: "the protection settings are broken", fix: "protections reset" });
    for (const c of SAFE_MODE_COMMANDS) expect(s.allows(c)).toBe(true);
    expect(s.allows("ban")).toBe(false);
    expect(s.allows("protections enable")).toBe(false);
    const r = s.refusal("ban");
    expect(r).toContain(
      "ban is not available: Tyr is in safe mode because the protection settings are broken",
    );
    expect(r).toContain("fix it with: protections reset");
    expect(r).toContain("send restart");
  });
});

describe("allowedInSafeMode", () => {
  const cause = { by: "system", what: "test" } as const;
  it("lets Tyr talk in the management room and nothing else", () => {
    expect(allowedInSafeMode({ kind: "notify", text: "x", cause }, "!m:x")).toBe(true);
    const send = { kind: "send", eventType: "m.room.message", content: {}, cause } as const;
    expect(allowedInSafeMode({ ...send, room: "!m:x" }, "!m:x")).toBe(true);
    expect(allowedInSafeMode({ ...send, room: "!other:x" }, "!m:x")).toBe(false);
    expect(allowedInSafeMode({ kind: "redact", room: "!m:x", event: "$e", reason: "", cause }, "!m:x")).toBe(
      true,
    );
    expect(allowedInSafeMode({ kind: "redact", room: "!r:x", event: "$e", reason: "", cause }, "!m:x")).toBe(
      false,
    );
    expect(allowedInSafeMode({ kind: "ban", room: "!m:x", user: "@u:x", reason: "", cause }, "!m:x")).toBe(
      false,
    );
  });
});
