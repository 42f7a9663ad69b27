import { describe, expect, it } from "vitest";
import { parseMediaTarget, quarantinePreview } from "../../../src/commands/mediaPlan.ts";
import { quarantinedCount, quarantinePath } from "../../../src/matrix/mediaAdmin.ts";
import { refusal } from "../../../src/consequences/guard.ts";
import { toRecord } from "../../../src/store/actionLog.ts";
import type { Consequence } from "../../../src/consequences/types.ts";

describe("media quarantine targets", () => {
  it("reads an mxc URI, a user and a room; refuses anything else with a reason", () => {
    expect(parseMediaTarget("mxc://example.org/abc_DEF-1")).toEqual({
      scope: "media",
      id: "mxc://example.org/abc_DEF-1",
    });
    expect(parseMediaTarget("@s:example.org")).toEqual({ scope: "user", id: "@s:example.org" });
    expect(parseMediaTarget("!r:example.org")).toEqual({ scope: "room", id: "!r:example.org" });
    for (const bad of [
      "mxc://example.org",
      "mxc://example.org/a/b",
      "mxc:///abc",
      "mxc://ex/a b",
      "mxc://ex/../x",
    ])
      expect(parseMediaTarget(bad)).toEqual({ error: expect.stringMatching(/not an mxc URI of the form/) });
    expect(parseMediaTarget("spam")).toEqual({
      error: expect.stringMatching(/not an mxc URI, a user ID or a room/),
    });
    expect(parseMediaTarget("@nope")).toHaveProperty("error");
  });

  it("names Synapse's endpoints, escaping each part", () => {
    expect(quarantinePath({ scope: "media", id: "mxc://example.org:8448/abc" })).toBe(
      "/_synapse/admin/v1/media/quarantine/example.org%3A8448/abc",
    );
    expect(quarantinePath({ scope: "user", id: "@s:ex" })).toBe(
      "/_synapse/admin/v1/user/%40s%3Aex/media/quarantine",
    );
    expect(quarantinePath({ scope: "room", id: "!r:ex" })).toBe(
      "/_synapse/admin/v1/room/!r%3Aex/media/quarantine",
    );
  });

  it("counts what the server says it quarantined", () => {
    expect(quarantinedCount({ scope: "user", id: "@s:ex" }, { num_quarantined: 3 })).toBe(3);
    expect(quarantinedCount({ scope: "user", id: "@s:ex" }, {})).toBe(0);
    expect(quarantinedCount({ scope: "media", id: "mxc://ex/a" }, {})).toBe(1);
  });

  it("the preview says how many files and what quarantine means", () => {
    const p = quarantinePreview(
      { scope: "room", id: "!r:ex" },
      { local: 2, remote: 5 },
      { server: "ex", reason: "spam" },
    );
    expect(p.text).toMatch(
      /every file the room `!r:ex` refers to \(2 uploaded here, 5 from other servers\)\?/,
    );
    expect(p.text).toMatch(/no longer served by ex/);
    expect(p.text).toMatch(/Reason .*spam/);
  });

  it("never quarantines Tyr's, a moderator's or a remote account's uploads; logs the target", () => {
    const ctx = { botUserId: "@tyr:ex", ownServer: "ex", moderators: new Set(["@mod:ex"]) };
    const c = (scope: "media" | "user" | "room", id: string): Consequence => ({
      kind: "quarantineMedia",
      target: { scope, id },
      reason: "",
      cause: { by: "moderator", user: "@mod:ex", command: "media quarantine" },
    });
    expect(refusal(c("user", "@tyr:ex"), ctx)).toMatch(/Tyr's own media/);
    expect(refusal(c("user", "@mod:ex"), ctx)).toMatch(/management room/);
    expect(refusal(c("user", "@x:other"), ctx)).toMatch(/not an account of Tyr's own homeserver/);
    expect(refusal(c("user", "@x:ex"), ctx)).toBeUndefined();
    expect(refusal(c("media", "mxc://other/a"), ctx)).toBeUndefined();
    expect(toRecord(c("room", "!r:ex"), "done", "4")).toMatchObject({
      room: "!r:ex",
      target: "!r:ex",
      detail: "4",
    });
    expect(toRecord(c("media", "mxc://ex/a"), "done")).toMatchObject({ target: "mxc://ex/a" });
  });
});
