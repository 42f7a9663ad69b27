import { describe, expect, it } from "vitest";
import {
  membershipBody,
  parseRedactStatus,
  redactEventsHonoured,
  redactionPath,
} from "../../../src/matrix/userRedaction.ts";

const on = { redactEventsFlag: true, bulkRedaction: true };

describe("redaction on ban (MSC4293) and its fallbacks", () => {
  it("puts the flag under its stable and unstable names only when asked and allowed", () => {
    expect(membershipBody("@s:x", "spam", true, on)).toEqual({
      user_id: "@s:x",
      reason: "spam",
      redact_events: true,
      "org.matrix.msc4293.redact_events": true,
    });
    expect(membershipBody("@s:x", "spam", false, on)).toEqual({ user_id: "@s:x", reason: "spam" });
    expect(membershipBody("@s:x", "spam", true, { ...on, redactEventsFlag: false })).toEqual({
      user_id: "@s:x",
      reason: "spam",
    });
  });

  it("reads from the membership event whether the server kept (honoured) the flag", () => {
    expect(redactEventsHonoured({ membership: "ban", "org.matrix.msc4293.redact_events": true })).toBe(true);
    expect(redactEventsHonoured({ membership: "leave", redact_events: true })).toBe(true);
    expect(redactEventsHonoured({ membership: "ban", reason: "spam" })).toBe(false);
    expect(redactEventsHonoured({ membership: "join", redact_events: true })).toBe(false);
    expect(redactEventsHonoured({ membership: "ban", redact_events: "yes" })).toBe(false);
    expect(redactEventsHonoured(undefined)).toBe(false);
  });

  it("chooses the server's redaction, then bulk, then one by one", () => {
    expect(redactionPath(true, true)).toBe("membership-flag");
    expect(redactionPath(true, false)).toBe("membership-flag");
    expect(redactionPath(false, true)).toBe("bulk");
    expect(redactionPath(false, false)).toBe("per-event");
  });

  it("reads the bulk task's status", () => {
    expect(parseRedactStatus({ status: "complete", failed_redactions: {} })).toEqual({
      state: "done",
      failed: 0,
    });
    expect(parseRedactStatus({ status: "complete", failed_redactions: { $a: "x" } })).toMatchObject({
      failed: 1,
    });
    expect(parseRedactStatus({ status: "scheduled" }).state).toBe("running");
    expect(parseRedactStatus({ status: "failed", error: "boom" })).toMatchObject({
      state: "failed",
      error: "boom",
    });
    expect(parseRedactStatus(null).state).toBe("failed");
  });
});
