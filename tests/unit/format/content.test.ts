import { describe, expect, it } from "vitest";
import {
  contentBudget,
  contentBytes,
  DEFAULT_CONTENT_BUDGET,
  editContent,
  MAX_EVENT_BYTES,
  normaliseReactionKey,
  notice,
  plainReply,
  reactionContent,
  REACTION_DONE,
  threadReply,
} from "../../../src/format/content.ts";
import { fmt, text } from "../../../src/format/fragment.ts";

describe("notice", () => {
  it("builds an m.notice with HTML and no mentions by default", () => {
    expect(notice(fmt`Hello ${"<you>"}`)).toEqual({
      msgtype: "m.notice",
      body: "Hello <you>",
      format: "org.matrix.custom.html",
      formatted_body: "Hello &lt;you&gt;",
      "m.mentions": {},
    });
  });

  it("mentions only on purpose, and relates when asked", () => {
    const c = notice(text("hi"), { mentions: ["@mod:example.org"], relatesTo: threadReply("$cmd") });
    expect(c["m.mentions"]).toEqual({ user_ids: ["@mod:example.org"] });
    expect(c["m.relates_to"]).toEqual({
      rel_type: "m.thread",
      event_id: "$cmd",
      is_falling_back: true,
      "m.in_reply_to": { event_id: "$cmd" },
    });
  });

  it("joins an existing thread when the command was inside one", () => {
    expect(threadReply("$cmd", "$root")).toEqual({
      rel_type: "m.thread",
      event_id: "$root",
      is_falling_back: true,
      "m.in_reply_to": { event_id: "$cmd" },
    });
    expect(plainReply("$cmd")).toEqual({ "m.in_reply_to": { event_id: "$cmd" } });
  });
});

describe("edits and reactions", () => {
  it("edit content carries m.new_content and an m.replace relation", () => {
    const original = notice(text("banning: 10/100"), { relatesTo: threadReply("$cmd") });
    const e = editContent("$progress", notice(text("banning: 50/100"), { relatesTo: threadReply("$cmd") }));
    expect(e).toEqual({
      msgtype: "m.notice",
      body: "* banning: 50/100",
      format: "org.matrix.custom.html",
      formatted_body: "* banning: 50/100",
      "m.mentions": {},
      "m.new_content": {
        msgtype: "m.notice",
        body: "banning: 50/100",
        format: "org.matrix.custom.html",
        formatted_body: "banning: 50/100",
        "m.mentions": {},
      },
      "m.relates_to": { rel_type: "m.replace", event_id: "$progress" },
    });
    expect(original["m.relates_to"]).toBeDefined();
  });

  it("an edit whose fallback would not fit drops the fallback", () => {
    const e = editContent("$p", text("x".repeat(15_000)));
    expect(e.body).toBe("* (edited)");
    expect(e["m.new_content"].body).toHaveLength(15_000);
    expect(contentBytes(e)).toBeLessThanOrEqual(DEFAULT_CONTENT_BUDGET);
  });

  it("an edit that is too large even without fallback is truncated to fit", () => {
    const e = editContent("$p", text("<é>".repeat(30_000)), 20_000);
    expect(contentBytes(e)).toBeLessThanOrEqual(20_000);
    expect(e["m.new_content"].body.endsWith("…[truncated]")).toBe(true);
    expect(e["m.new_content"].formatted_body.endsWith("…[truncated]")).toBe(true);
    expect(e["m.new_content"].formatted_body).not.toMatch(/&[a-z]*…/);
  });

  it("reactions", () => {
    expect(reactionContent("$cmd", REACTION_DONE)).toEqual({
      "m.relates_to": { rel_type: "m.annotation", event_id: "$cmd", key: "✅" },
    });
    expect(normaliseReactionKey("✅\uFE0F")).toBe("✅");
    expect(normaliseReactionKey("✅")).toBe(REACTION_DONE);
  });
});

describe("size budget", () => {
  it("leaves room for the envelope, and for encryption by default", () => {
    expect(contentBudget({ encrypted: false })).toBe(MAX_EVENT_BYTES - 4096);
    // base64 inside Megolm: 4/3 growth of the plaintext must still fit the event.
    expect(Math.ceil(((DEFAULT_CONTENT_BUDGET + 1024) * 4) / 3) + 1024 + 4096).toBeLessThanOrEqual(
      MAX_EVENT_BYTES,
    );
    expect(DEFAULT_CONTENT_BUDGET).toBeGreaterThan(40_000);
  });

  it("counts UTF-8 bytes of the serialised content", () => {
    expect(contentBytes({ a: "é" })).toBe(10); // {"a":"é"} with é = 2 bytes
    expect(contentBytes({ a: "\n" })).toBe(10); // escaped as \n
  });
});
